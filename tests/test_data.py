import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain.config import TrainingConfig
from mltrain.data import synth
from mltrain.data.store import DataStore
from mltrain.errors import DataError
from mltrain.kinds import KINDS
from mltrain.kinds.volatility_model import panel
from mltrain.paths import Home

from .conftest import QUICK, run_cli

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-1d"


def candles(n: int = 400, start: str = "2023-01-01", seed: int = 1) -> pd.DataFrame:
    frame, _ = synth.generate(n, seed, start=start)
    return frame


def write_generic(path: Path, frame: pd.DataFrame, date_format=None, columns=None) -> Path:
    out = frame.reset_index()
    if date_format == "ms":
        out["date"] = out["date"].astype("int64") // 10**6
    out = out.rename(columns={"date": "Timestamp", "open": "OPEN", "close": "Close"})
    out[columns or list(out.columns)[::-1]].to_csv(path, index=False)
    return path


def test_embedded_data_matches_shared_and_drops_partial_candle():
    store = DataStore(Home(Path("/nonexistent-home")))
    assert {"BTC", "ETH", "SOL"} <= set(store.embedded_symbols()) and len(store.embedded_symbols()) == 21
    btc = store.load("BTC").frame
    assert str(btc.index[-1].date()) == "2026-01-05"
    if SHARED.is_dir():
        raw = pd.read_csv(SHARED / "BTCUSDT_1d.csv", index_col="timestamp", parse_dates=True).iloc[:-1]
        assert np.allclose(raw["close"].to_numpy(), btc["close"].to_numpy())


def test_todays_unfinished_candle_is_dropped_and_a_future_one_refused(tmp_path: Path):
    today = pd.Timestamp("2026-03-10")  # an injected clock: no failure at UTC midnight
    frame = candles(30, start=str((today - pd.Timedelta(days=29)).date()))
    assert frame.index[-1] == today
    data = run_cli(
        ["data", "import", write_generic(tmp_path / "live.csv", frame), "--symbol", "LIVE", "--json"],
        today=today,
    ).json["data"]
    assert data["rows"] == 29 and data["last"] == str((today - pd.Timedelta(days=1)).date())
    assert any("has not closed yet" in note for note in data["notes"])
    later = DataStore(Home(tmp_path / "h"), today=today - pd.Timedelta(days=2))
    with pytest.raises(DataError, match="is after today"):
        later.import_file(tmp_path / "live.csv", "LIVE")


def test_generic_csv_any_order_any_case_unix_ms(tmp_path: Path):
    frame = candles(50)
    path = write_generic(tmp_path / "g.csv", frame, date_format="ms")
    data = run_cli(["data", "import", path, "--symbol", "TST", "--json"]).json["data"]
    assert data["format"] == "generic" and data["rows"] == 50 and data["first"] == "2023-01-01"
    show = run_cli(["data", "show", "TST", "--json"]).json["data"]
    assert show["last"] == "2023-02-19" and show["last_candle"]["date"] == "2023-02-19"
    assert abs(show["last_candle"]["close"] - frame["close"].iloc[-1]) < 1e-6


def test_binance_kline_ms_and_us(tmp_path: Path):
    frame = candles(30, start="2025-01-01")
    for unit, scale in (("ms", 10**3), ("us", 10**6)):
        rows = []
        for day, r in frame.iterrows():
            t = int(day.timestamp()) * scale
            rows.append(f"{t},{r.open},{r.high},{r.low},{r.close},{r.volume},{t + 86399 * scale},1,2,3,4,0")
        path = tmp_path / f"BTCUSDT-1d-{unit}.csv"
        path.write_text("\n".join(rows) + "\n")
        data = run_cli(["data", "import", path, "--symbol", "BIN", "--json"]).json["data"]
        assert data["format"] == "binance" and data["first"] == "2025-01-01" and data["last"] == "2025-01-30"


def test_yahoo_classic_and_new_export(tmp_path: Path):
    frame = candles(20)
    classic = tmp_path / "classic.csv"
    out = frame.reset_index().rename(columns=str.title)
    out["Adj Close"] = out["Close"]
    out[["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(classic, index=False)
    assert run_cli(["data", "import", classic, "--symbol", "YA", "--json"]).json["data"]["format"] == "yahoo"
    new = tmp_path / "new.csv"
    lines = [
        "Price,Close,High,Low,Open,Volume",
        "Ticker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD",
        "Date,,,,,",
    ]
    lines += [f"{d.date()},{r.close},{r.high},{r.low},{r.open},{r.volume}" for d, r in frame.iterrows()]
    new.write_text("\n".join(lines) + "\n")
    data = run_cli(["data", "import", new, "--symbol", "YB", "--json"]).json["data"]
    assert data["format"] == "yahoo" and data["rows"] == 20
    store = DataStore(Home(Path(run_cli(["info", "--json"]).json["data"]["home"])))
    assert np.allclose(store.load("YB").frame["open"], frame["open"])


def test_cryptodatadownload_newest_first_seconds_and_ms(tmp_path: Path):
    frame = candles(25)
    for scale in (1, 1000):
        lines = [
            "https://www.CryptoDataDownload.com",
            "Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount",
        ]
        for d, r in frame.iloc[::-1].iterrows():
            lines.append(
                f"{int(d.timestamp()) * scale},{d.date()} 00:00:00,BTC/USDT,{r.open},{r.high},{r.low},"
                f"{r.close},{r.volume},{r.volume * r.close},100"
            )
        path = tmp_path / f"cdd{scale}.csv"
        path.write_text("\n".join(lines) + "\n")
        data = run_cli(["data", "import", path, "--symbol", "CDD", "--json"]).json["data"]
        assert data["format"] == "cryptodatadownload" and data["first"] == "2023-01-01" and data["rows"] == 25


@pytest.mark.slow  # trains a network
def test_coingecko_close_only_still_trains(tmp_path: Path):
    frame = candles(700, start="2022-01-01")
    lines = ["snapped_at,price,market_cap,total_volume"]
    lines += [f"{d.date()} 00:00:00 UTC,{r.close},{r.close * 1e6},{r.volume}" for d, r in frame.iterrows()]
    path = tmp_path / "cg.csv"
    path.write_text(
        "\n".join(lines + ["2023-12-01 14:23:05 UTC,1,1,1"]) + "\n"
    )  # the export's live price row
    data = run_cli(["data", "import", path, "--symbol", "CG", "--json"]).json["data"]
    assert data["format"] == "coingecko" and data["ohlc"] is False
    # 00:00 UTC snapshots are the previous day's closes; the mid-day live row is no close at all
    assert data["first"] == "2021-12-31" and data["last"] == str(
        (frame.index[-1] - pd.Timedelta(days=1)).date()
    )
    last = run_cli(["data", "show", "CG", "--json"]).json["data"]["last_candle"]
    assert last["close"] == pytest.approx(frame["close"].iloc[-1], rel=1e-9)
    doc = run_cli(
        [
            "train",
            "cg_vol",
            "--model-type",
            "volatility",
            "--symbols",
            "CG",
            "--min-r2",
            "0",
            *QUICK,
            "--json",
        ],
        expect=(0, 3),
    ).json
    meta = run_cli(["models", "show", "cg_vol", "--json"]).json["data"]
    assert doc["data"]["version"] == 1 and meta["data_windows"]["CG"]["estimator"] == "close_to_close"


def test_ccxt_json_and_parquet(tmp_path: Path):
    frame = candles(15)
    rows = [
        [int(d.timestamp() * 1000), r.open, r.high, r.low, r.close, r.volume] for d, r in frame.iterrows()
    ]
    path = tmp_path / "ccxt.json"
    path.write_text(json.dumps(rows))
    assert run_cli(["data", "import", path, "--symbol", "CX", "--json"]).json["data"]["format"] == "ccxt"
    pq = tmp_path / "p.parquet"
    frame.reset_index().to_parquet(pq)
    data = run_cli(["data", "import", pq, "--symbol", "PQ", "--json"]).json["data"]
    assert data["format"] == "parquet" and data["rows"] == 15


def test_hourly_bars_are_aggregated_to_utc_days(tmp_path: Path):
    hours = pd.date_range("2024-03-01", periods=48, freq="h", tz="UTC")
    price = np.linspace(100, 147, 48)
    df = pd.DataFrame(
        {
            "timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price + 0.5,
            "volume": 1.0,
        }
    )
    path = tmp_path / "h.csv"
    df.to_csv(path, index=False)
    data = run_cli(["data", "import", path, "--symbol", "HR", "--json"]).json["data"]
    assert data["rows"] == 2 and data["aggregated"]
    day = run_cli(["data", "show", "HR", "--json"]).json["data"]["candles"][0]
    assert day["open"] == 100 and day["high"] == price[23] + 1 and day["low"] == 99 and day["volume"] == 24


@pytest.mark.parametrize(
    "body,match",
    [
        (
            "date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\nnot-a-date,1,2,0.5,1.5\n",
            "row 3.*cannot parse date",
        ),
        (
            "timestamp,open,high,low,close\n1704067200,1,2,0.5,1.5\n1704153600000,1,2,0.5,1.5\n",
            "unit changes",
        ),
        ("date,open,high,low,close\n2024-01-01,1,2,0.5,-1\n", "row 2.*close is -1"),
        ("date,open,high,low,close\n2024-01-01,1,2,0.5,\n", "row 2.*close is missing"),
        (
            "date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,0.5,1,5\n",
            "line 3: 6 fields.*header has 5",
        ),
        (
            "date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,0.5,1.5x\n",
            "row 3.*close is '1.5x' \\(not a number\\)",
        ),
        ("date,open,high,low,close\n2024-01-01,1,0.4,0.5,0.45\n", "row 2.*do not bracket"),
        ("date,open,high,low,close\n2024-01-01,1,1.2,0.5,1.5\n", "row 2.*do not bracket"),
        (
            "date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-01,1,2,0.5,1.6\n",
            "conflicting candles for 2024-01-01; keep",
        ),
        ("date,open,high,low\n2024-01-01,1,2,0.5\n", "no 'close' column"),
    ],
)
def test_validation_errors_name_row_and_change_nothing(tmp_path: Path, body: str, match: str):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    result = run_cli(["data", "import", path, "--symbol", "BAD"], expect=2)
    import re

    assert re.search(match, result.stderr), result.stderr
    assert str(path) in result.stderr and "Traceback" not in result.stderr
    assert "BAD" not in [r["symbol"] for r in run_cli(["data", "list", "--json"]).json["data"]]


def test_failed_import_keeps_previous_series(tmp_path: Path):
    good = write_generic(tmp_path / "good.csv", candles(40))
    run_cli(["data", "import", good, "--symbol", "KEEP"])
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close\n2024-01-01,1,2,0.5,-3\n")
    run_cli(["data", "import", bad, "--symbol", "KEEP"], expect=2)
    assert run_cli(["data", "show", "KEEP", "--json"]).json["data"]["rows"] == 40


def test_duplicates_unsorted_and_merge(tmp_path: Path):
    more = candles(40)
    frame = more.iloc[:30]
    out = frame.reset_index()
    shuffled = pd.concat([out.iloc[::-1], out.iloc[:3]])  # reversed and 3 identical duplicates
    path = tmp_path / "dup.csv"
    shuffled.to_csv(path, index=False)
    data = run_cli(["data", "import", path, "--symbol", "DUP", "--json"]).json["data"]
    assert data["rows"] == 30 and any("3 identical duplicate" in n for n in data["notes"])
    path2 = tmp_path / "more.csv"
    more.reset_index().iloc[25:].to_csv(path2, index=False)
    merged = run_cli(["data", "import", path2, "--symbol", "DUP", "--merge", "--json"]).json["data"]
    assert merged["rows"] == 40
    conflicting = tmp_path / "conflict.csv"
    changed = more.reset_index().iloc[25:].copy()
    changed["close"] *= 1.01
    changed["high"] *= 1.02
    changed.to_csv(conflicting, index=False)
    assert (
        "differs" in run_cli(["data", "import", conflicting, "--symbol", "DUP", "--merge"], expect=2).stderr
    )


def test_gaps_short_filled_long_named_and_missing_days_listed(tmp_path: Path):
    frame = candles(800, start="2022-01-01")
    with_short = frame.drop(frame.index[[500, 501]])
    with_long = frame.drop(frame.index[700:710])
    write_generic(tmp_path / "s.csv", with_short)
    write_generic(tmp_path / "l.csv", with_long)
    run_cli(["data", "import", tmp_path / "s.csv", "--symbol", "GS"])
    run_cli(["data", "import", tmp_path / "l.csv", "--symbol", "GL"])
    rows = {r["symbol"]: r for r in run_cli(["data", "list", "--json"]).json["data"]}
    assert rows["GS"]["missing_days"] == 2 and rows["GL"]["missing_days"] == 10
    store = DataStore(Home(Path(run_cli(["info", "--json"]).json["data"]["home"])))
    config = TrainingConfig(**{**KINDS["volatility"].defaults, "days": 200})
    assert panel(store.load("GS"), config).window.filled_days == 2
    with pytest.raises(DataError, match="10 missing days from"):
        panel(store.load("GL"), config)


def test_too_little_history_names_symbol_and_days():
    result = run_cli(
        ["train", "volatility_forecaster", "--symbols", "SHIB", "--days", "1825", "--yes"], expect=2
    )
    assert "SHIB" in result.stderr and "1825 required" in result.stderr


def test_synth_generates_known_regimes(home: Path):
    data = run_cli(["data", "synth", "--symbol", "SYN", "--days", "600", "--seed", "7", "--json"]).json[
        "data"
    ]
    assert data["rows"] == 600 and data["first"] == "2018-01-01"
    today = pd.Timestamp("2026-03-10")
    long = run_cli(["data", "synth", "--symbol", "SYNL", "--days", "5000", "--json"], today=today).json[
        "data"
    ]
    assert pd.Timestamp(long["last"]) == today - pd.Timedelta(days=1)  # never a candle dated today or later
    truth = pd.read_csv(data["true_regimes"])
    assert set(truth["regime"]) <= set(synth.REGIMES) and len(truth) == 600
    frame, states = synth.generate(600, 7)
    again, states2 = synth.generate(600, 7)
    assert np.array_equal(states, states2) and frame.equals(again)
    probs = synth.forward_filter(frame["close"].to_numpy())
    assert (probs.argmax(axis=1) == states).mean() > 0.4  # the causal optimum is far better than chance


# ---------------------------------------------------------------- merge, replace and the store's files


def embedded_btc() -> pd.DataFrame:
    return DataStore(Home(Path("/nonexistent-home"))).load("BTC").frame


def test_merge_extends_the_embedded_series_and_replace_says_what_it_discards(tmp_path: Path, home: Path):
    btc = embedded_btc()
    last = btc.index[-1]
    new = candles(4, start=str((last + pd.Timedelta(days=1)).date()))
    both = pd.concat([btc.iloc[-1:], new])  # one overlapping day that agrees with the embedded close
    path = write_generic(tmp_path / "btc_new.csv", both)
    data = run_cli(["data", "import", path, "--symbol", "BTC", "--merge", "--json"]).json["data"]
    assert data["rows"] == len(btc) + 4 and data["first"] == str(btc.index[0].date())
    assert data["previous_rows"] == len(btc) and data["added_rows"] == 4 and data["discarded_rows"] == 0
    stored = DataStore(Home(home)).load("BTC").frame
    assert np.allclose(stored["close"].iloc[: len(btc)], btc["close"]) and stored.index[-1] == new.index[-1]
    disagree = both.copy()
    disagree.iloc[0, disagree.columns.get_loc("close")] *= 1.001
    disagree.iloc[0, disagree.columns.get_loc("high")] *= 1.002
    err = run_cli(
        ["data", "import", write_generic(tmp_path / "d.csv", disagree), "--symbol", "BTC", "--merge"],
        expect=2,
    ).stderr
    assert f"close on {last.date()}" in err and "differs" in err
    replaced = run_cli(["data", "import", path, "--symbol", "BTC", "--replace", "--json"]).json["data"]
    assert replaced["rows"] == 5 and replaced["discarded_rows"] == len(btc) + 4 - 5
    assert any("discarded" in note for note in replaced["notes"])


@pytest.mark.parametrize("name", ["/abs/outside.csv", "../outside.csv", "sub/x.csv", "..", ".hidden.csv"])
def test_tampered_metadata_file_name_is_refused_and_nothing_outside_is_deleted(
    tmp_path: Path, home: Path, name: str
):
    good = write_generic(tmp_path / "good.csv", candles(40))
    run_cli(["data", "import", good, "--symbol", "TST"])
    outside = tmp_path / "outside.csv"
    outside.write_text("precious\n")
    meta_path = home / "data" / "TST.json"
    meta = json.loads(meta_path.read_text())
    meta["file"] = str(outside) if name.startswith("/abs") else name
    meta_path.write_text(json.dumps(meta))
    err = run_cli(["data", "import", good, "--symbol", "TST"], expect=2).stderr
    assert str(meta_path) in err and "not a plain file name" in err
    assert str(meta_path) in run_cli(["data", "show", "TST"], expect=2).stderr
    assert outside.read_text() == "precious\n" and json.loads(meta_path.read_text())["file"] == meta["file"]


def test_store_writes_refuse_a_symlinked_lock(tmp_path: Path, home: Path):
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    (home / "data").mkdir(parents=True)
    (home / "data" / ".TST.lock").symlink_to(target)
    result = run_cli(
        ["data", "import", write_generic(tmp_path / "g.csv", candles(20)), "--symbol", "TST"], expect=1
    )
    assert "symbolic link" in result.stderr and target.read_text() == "keep me\n"
    assert not (home / "data" / "TST.json").exists()


def test_a_symlink_planted_at_the_new_csv_name_is_replaced_not_written_through(tmp_path: Path, home: Path):
    frame = candles(20)
    store = DataStore(Home(home))
    store.save("TST", frame, {"symbol": "TST"})
    name = json.loads((home / "data" / "TST.json").read_text())["file"]
    (home / "data" / name).unlink()
    (home / "data" / "TST.json").unlink()
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    (home / "data" / name).symlink_to(target)
    store.save("TST", frame, {"symbol": "TST"})
    assert target.read_text() == "keep me\n" and not (home / "data" / name).is_symlink()
    assert len(store.load("TST").frame) == 20


def test_a_very_wide_row_is_refused_before_parsing_with_its_line(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_text("date,close\n2024-01-01,1\n" + "2024-01-02," * 100_000 + "\n")
    assert path.stat().st_size > 1_000_000
    err = run_cli(["data", "import", path, "--symbol", "WIDE"], expect=2).stderr
    assert "line 3: 100001 fields where the header has 2" in err
    header = tmp_path / "wideheader.csv"
    header.write_text(",".join(f"c{i}" for i in range(10_000)) + "\n")
    assert (
        "the header has 10000 fields"
        in run_cli(["data", "import", header, "--symbol", "WIDE"], expect=2).stderr
    )
    kline = tmp_path / "kline.csv"
    kline.write_text("1704067200000,1,2,0.5,1.5,10,1704153599999,1,2,3,4,0\n" + "1," * 5000 + "\n")
    err = run_cli(["data", "import", kline, "--symbol", "WIDE", "--format", "binance"], expect=2).stderr
    assert "line 2: 5001 fields where the header has 12" in err


@pytest.mark.parametrize(
    "column,text",
    [
        ("close", "inf"),
        ("close", "-inf"),
        ("close", "nan"),
        ("high", "inf"),
        ("open", "Infinity"),
        ("volume", "inf"),
    ],
)
def test_non_finite_values_are_refused_with_row_and_date(tmp_path: Path, column: str, text: str):
    values = {"open": "1", "high": "2", "low": "0.5", "close": "1.5", "volume": "10", column: text}
    path = tmp_path / "nf.csv"
    path.write_text(
        "date,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,"
        + ",".join(values[c] for c in ("open", "high", "low", "close", "volume"))
        + "\n"
    )
    err = run_cli(["data", "import", path, "--symbol", "NF"], expect=2).stderr
    assert f"row 3 (2024-01-02): {column} is" in err and "finite" in err, err
    assert "NF" not in [r["symbol"] for r in run_cli(["data", "list", "--json"]).json["data"]]


# ---------------------------------------------------------------- one writer per symbol

WORKER = Path(__file__).with_name("store_worker.py")


def start_workers(home: Path, symbol: str, ready: Path, jobs: list[tuple[bool, list[Path]]]) -> list:
    import os
    import subprocess
    import sys

    import mltrain

    env = {**os.environ, "PYTHONPATH": str(Path(mltrain.__file__).parents[1])}
    ready.mkdir()
    return [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                str(home),
                symbol,
                str(ready),
                f"w{i}",
                str(len(jobs)),
                "wait" if wait else "nowait",
                *map(str, files),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i, (wait, files) in enumerate(jobs)
    ]


def finish(procs: list) -> list[list[dict]]:
    """Each worker's results, one list per worker."""
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        out.append([json.loads(line) for line in stdout.splitlines()])
    return out


def test_concurrent_disjoint_merges_lose_nothing(tmp_path: Path, home: Path):
    """Two processes race 20 merges each of disjoint ranges; every range ends up stored."""
    rounds = 20
    frame = candles(10 * 2 * rounds + 10, start="2020-01-01")
    write_generic(tmp_path / "base.csv", frame.iloc[:10])
    run_cli(["data", "import", tmp_path / "base.csv", "--symbol", "RACE"])
    files: dict[int, list[Path]] = {0: [], 1: []}
    for r in range(rounds):
        for w in (0, 1):
            start = 10 + (2 * r + w) * 10
            files[w].append(write_generic(tmp_path / f"w{w}r{r}.csv", frame.iloc[start : start + 10]))
    procs = start_workers(home, "RACE", tmp_path / "ready", [(True, files[0]), (True, files[1])])
    store = DataStore(Home(home))
    while any(p.poll() is None for p in procs):  # a reader during the race never sees a missing series
        assert len(store.load("RACE").frame) >= 10
    results = [r for worker in finish(procs) for r in worker]
    assert len(results) == 2 * rounds and all("ok" in r for r in results), results
    stored = store.load("RACE").frame
    assert len(stored) == len(frame) and stored.index.equals(frame.index)
    assert np.allclose(stored["close"], frame["close"])
    assert sorted(p.name for p in (home / "data").glob("RACE-*.csv")) == [store.load("RACE").meta["file"]]


def test_concurrent_merges_of_one_file_succeed_or_are_refused_cleanly(tmp_path: Path, home: Path):
    frame = candles(60)
    path = write_generic(tmp_path / "same.csv", frame)
    procs = start_workers(home, "SAME", tmp_path / "ready", [(i % 2 == 0, [path] * 3) for i in range(5)])
    per_worker = finish(procs)
    results = [r for worker in per_worker for r in worker]
    assert len(results) == 15 and not any("missing" in r.get("error", "") for r in results), results
    assert all(
        "ok" in r
        or (r["type"] == "LockBusyError" and "being written by pid" in r["error"] and "--wait" in r["error"])
        for r in results
    ), results
    assert all(r == {"ok": 60} for worker in per_worker[::2] for r in worker)  # those that waited all merged
    assert len(DataStore(Home(home)).load("SAME").frame) == 60


def test_a_busy_symbol_is_refused_naming_the_holder_and_wait_waits(tmp_path: Path, home: Path):
    import threading

    from mltrain.data.lock import symbol_lock
    from mltrain.errors import LockBusyError

    path = write_generic(tmp_path / "g.csv", candles(30))
    store = DataStore(Home(home))
    holding, release, waiting = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("BUSY", "data update"):
            holding.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    err = run_cli(["data", "import", path, "--symbol", "BUSY"], expect=2).stderr
    assert "BUSY in the data store is being written by pid" in err and "(data update since" in err
    assert "--wait" in err and not (home / "data" / "BUSY.json").exists()
    with pytest.raises(LockBusyError):
        store.save("BUSY", candles(5), {"symbol": "BUSY"})
    done: list[dict] = []

    def write_waiting() -> None:
        with symbol_lock(store.root, "BUSY", "data import", wait=True, on_wait=lambda msg: waiting.set()):
            done.append(store.import_file(path, "BUSY"))

    writer = threading.Thread(target=write_waiting)
    writer.start()
    waiting.wait()  # the writer saw the lock taken and is now blocked on it
    assert not done
    release.set()
    holder.join()
    writer.join()
    assert done[0]["rows"] == 30 and store.load("BUSY").frame.shape[0] == 30


def test_synth_save_writes_series_and_regimes_under_the_symbols_lock(tmp_path: Path, home: Path):
    import threading

    from mltrain.errors import LockBusyError

    store = DataStore(Home(home))
    frame, states = synth.generate(300, 1)
    regimes = "date,regime\n" + "".join(
        f"{d.date()},{synth.REGIMES[s]}\n" for d, s in zip(frame.index, states)
    )
    meta = {"symbol": "SYN", "source": "synthetic seed=1", "has_ohlc": True}
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("SYN", "data import --merge"):
            holding.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    try:
        with pytest.raises(LockBusyError, match="SYN in the data store is being written"):
            store.save_synthetic("SYN", frame, regimes, meta)
        assert not (home / "data" / "SYN.regimes.csv").exists() and not (home / "data" / "SYN.json").exists()
    finally:
        release.set()
        holder.join()
    store.save_synthetic("SYN", frame, regimes, meta)
    assert len(store.load("SYN").frame) == 300 and (home / "data" / "SYN.regimes.csv").read_text() == regimes


def test_a_day_with_a_high_10x_its_low_is_listed_and_warned_about(tmp_path: Path):
    """A flash-crash wick (LINKUSDT printed a 38519x high/low on 2020-03-12) is kept as given but named by
    data show, data list and a volatility run whose days hold it."""
    from mltrain.kinds.volatility_train import extreme_day_warnings

    frame = candles(400, start="2023-01-01")
    day = frame.index[300]
    frame.loc[day, "low"] = frame.loc[day, "high"] / 40  # the low a fortieth of the high
    write_generic(tmp_path / "w.csv", frame)
    run_cli(["data", "import", tmp_path / "w.csv", "--symbol", "WICK"])
    shown = run_cli(["data", "show", "WICK", "--json"]).json["data"]
    assert shown["extreme_ranges"] == [{"date": str(day.date()), "high_low": 40.0}]
    assert (
        f"extreme days (high at least 10x the low): {day.date()} (40x)"
        in run_cli(["data", "show", "WICK"]).stdout
    )
    rows = {r["symbol"]: r for r in run_cli(["data", "list", "--json"]).json["data"]}
    assert len(rows["WICK"]["extreme_ranges"]) == 1 and rows["BTC"]["extreme_ranges"] == []
    store = DataStore(Home(Path(run_cli(["info", "--json"]).json["data"]["home"])))
    frames = {"WICK": store.load("WICK").frame}
    inside = {"WICK": {"first": "2023-06-01", "last": "2023-12-01"}}
    assert extreme_day_warnings(frames, inside)[0].startswith(f"WICK: this run's days include {day.date()}")
    # a target window reaching the day counts (it lies within the horizon after the last sample)
    before = {"WICK": {"first": "2023-01-01", "last": str((day - pd.Timedelta(days=3)).date())}}
    assert extreme_day_warnings(frames, before)
    assert extreme_day_warnings(frames, {"WICK": {"first": "2023-01-01", "last": "2023-06-01"}}) == []
    # a sample's inputs reach 21 days back: a window starting 10 days after the wick still reads it
    after = str((day + pd.Timedelta(days=10)).date())
    assert extreme_day_warnings(frames, {"WICK": {"first": after, "last": "2024-01-31"}})
    note = KINDS["volatility"].span_note(
        store, TrainingConfig(**{**KINDS["volatility"].defaults, "days": 200, "symbols": ["WICK"]})
    )
    assert f"WICK {day.date()} (40x)" in note


def test_the_fast_candle_csv_is_pandas_to_csv_byte_for_byte(tmp_path: Path):
    """Fingerprints and stored files come from store.candles_csv; versions recorded the pandas text's hash, so
    the two must never differ: every embedded series, odd values, and frames it hands back to pandas."""
    from mltrain.data.store import CSV_FLOAT, candles_csv

    def same(frame: pd.DataFrame, label=None) -> None:
        assert candles_csv(frame, label) == frame.to_csv(index_label=label, float_format=CSV_FLOAT)

    store = DataStore(Home(tmp_path / "h"))
    for symbol in store.symbols():
        frame = store.load(symbol).frame
        same(frame)
        same(frame, "date")
    odd = candles(40)
    odd.iloc[3, 1], odd.iloc[4, 2], odd.iloc[5, 2] = np.nan, np.inf, -np.inf
    odd.iloc[6, 0], odd.iloc[7, 0], odd.iloc[8, 0] = -0.0, 1e-300, 123456789012.5
    same(odd)
    same(odd.rename_axis(None))
    same(odd.iloc[:0])
    same(odd.set_axis(odd.index + pd.Timedelta(hours=1)))  # not daily: pandas writes the times
    same(odd.assign(n=1))  # an integer column
    same(odd.set_axis([f"a,{i}" for i in range(odd.shape[1])], axis=1))  # names pandas quotes
    same(odd.set_axis(["open"] * odd.shape[1], axis=1))  # one name twice
