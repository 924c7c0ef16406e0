import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain.kinds import KINDS
from mltrain.config import TrainingConfig
from mltrain.data import synth
from mltrain.data.store import DataStore
from mltrain.errors import DataError
from mltrain.paths import Home
from mltrain.kinds.volatility import volatility_data

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
    data = run_cli(["data", "import", write_generic(tmp_path / "live.csv", frame), "--symbol", "LIVE",
                    "--json"], today=today).json["data"]
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
    assert show["last"]["date"] == "2023-02-19" and abs(show["last"]["close"] - frame["close"].iloc[-1]) < 1e-6


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
    lines = ["Price,Close,High,Low,Open,Volume", "Ticker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD", "Date,,,,,"]
    lines += [f"{d.date()},{r.close},{r.high},{r.low},{r.open},{r.volume}" for d, r in frame.iterrows()]
    new.write_text("\n".join(lines) + "\n")
    data = run_cli(["data", "import", new, "--symbol", "YB", "--json"]).json["data"]
    assert data["format"] == "yahoo" and data["rows"] == 20
    store = DataStore(Home(Path(run_cli(["info", "--json"]).json["data"]["home"])))
    assert np.allclose(store.load("YB").frame["open"], frame["open"])


def test_cryptodatadownload_newest_first_seconds_and_ms(tmp_path: Path):
    frame = candles(25)
    for scale in (1, 1000):
        lines = ["https://www.CryptoDataDownload.com",
                 "Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount"]
        for d, r in frame.iloc[::-1].iterrows():
            lines.append(f"{int(d.timestamp()) * scale},{d.date()} 00:00:00,BTC/USDT,{r.open},{r.high},{r.low},"
                         f"{r.close},{r.volume},{r.volume * r.close},100")
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
    path.write_text("\n".join(lines + ["2023-12-01 14:23:05 UTC,1,1,1"]) + "\n")  # the export's live price row
    data = run_cli(["data", "import", path, "--symbol", "CG", "--json"]).json["data"]
    assert data["format"] == "coingecko" and data["ohlc"] is False
    # 00:00 UTC snapshots are the previous day's closes; the mid-day live row is no close at all
    assert data["first"] == "2021-12-31" and data["last"] == str((frame.index[-1] - pd.Timedelta(days=1)).date())
    last = run_cli(["data", "show", "CG", "--json"]).json["data"]["last"]
    assert last["close"] == pytest.approx(frame["close"].iloc[-1], rel=1e-9)
    doc = run_cli(["train", "cg_vol", "--model-type", "volatility", "--symbols", "CG", "--min-r2", "0", *QUICK,
                   "--json"], expect=(0, 3)).json
    meta = run_cli(["models", "show", "cg_vol", "--json"]).json["data"]
    assert doc["data"]["version"] == 1 and meta["data_windows"]["CG"]["estimator"] == "close_to_close"


def test_ccxt_json_and_parquet(tmp_path: Path):
    frame = candles(15)
    rows = [[int(d.timestamp() * 1000), r.open, r.high, r.low, r.close, r.volume] for d, r in frame.iterrows()]
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
    df = pd.DataFrame({"timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": price, "high": price + 1,
                       "low": price - 1, "close": price + 0.5, "volume": 1.0})
    path = tmp_path / "h.csv"
    df.to_csv(path, index=False)
    data = run_cli(["data", "import", path, "--symbol", "HR", "--json"]).json["data"]
    assert data["rows"] == 2 and data["aggregated"]
    day = run_cli(["data", "show", "HR", "--json"]).json["data"]["candles"][0]
    assert day["open"] == 100 and day["high"] == price[23] + 1 and day["low"] == 99 and day["volume"] == 24


@pytest.mark.parametrize("body,match", [
    ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\nnot-a-date,1,2,0.5,1.5\n", "row 3.*cannot parse date"),
    ("timestamp,open,high,low,close\n1704067200,1,2,0.5,1.5\n1704153600000,1,2,0.5,1.5\n", "unit changes"),
    ("date,open,high,low,close\n2024-01-01,1,2,0.5,-1\n", "row 2.*close is -1"),
    ("date,open,high,low,close\n2024-01-01,1,2,0.5,\n", "row 2.*close is missing"),
    ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,0.5,1,5\n", "line 3: 6 fields.*header has 5"),
    ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,0.5,1.5x\n", "row 3.*close is '1.5x' \\(not a number\\)"),
    ("date,open,high,low,close\n2024-01-01,1,0.4,0.5,0.45\n", "row 2.*do not bracket"),
    ("date,open,high,low,close\n2024-01-01,1,1.2,0.5,1.5\n", "row 2.*do not bracket"),
    ("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-01,1,2,0.5,1.6\n", "conflicting candles"),
    ("date,open,high,low\n2024-01-01,1,2,0.5\n", "no 'close' column"),
])
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
    assert "differs" in run_cli(["data", "import", conflicting, "--symbol", "DUP", "--merge"], expect=2).stderr


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
    assert volatility_data(store.load("GS"), config).window.filled_days == 2
    with pytest.raises(DataError, match="10 missing days from"):
        volatility_data(store.load("GL"), config)


def test_too_little_history_names_symbol_and_days():
    result = run_cli(["train", "volatility_forecaster", "--symbols", "SHIB", "--days", "1825", "--yes"], expect=2)
    assert "SHIB" in result.stderr and "1825 required" in result.stderr


def test_synth_generates_known_regimes(home: Path):
    data = run_cli(["data", "synth", "--symbol", "SYN", "--days", "600", "--seed", "7", "--json"]).json["data"]
    assert data["rows"] == 600 and data["first"] == "2018-01-01"
    today = pd.Timestamp("2026-03-10")
    long = run_cli(["data", "synth", "--symbol", "SYNL", "--days", "5000", "--json"], today=today).json["data"]
    assert pd.Timestamp(long["last"]) == today - pd.Timedelta(days=1)  # never a candle dated today or later
    truth = pd.read_csv(data["true_regimes"])
    assert set(truth["regime"]) <= set(synth.REGIMES) and len(truth) == 600
    frame, states = synth.generate(600, 7)
    again, states2 = synth.generate(600, 7)
    assert np.array_equal(states, states2) and frame.equals(again)
    probs = synth.forward_filter(frame["close"].to_numpy())
    assert (probs.argmax(axis=1) == states).mean() > 0.4  # the causal optimum is far better than chance
