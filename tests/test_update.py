"""`data update` against a fake Binance on 127.0.0.1: first download, incremental, pages, overlap, faults."""

from __future__ import annotations

import itertools
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain.data import synth
from mltrain.data.store import DataStore
from mltrain.errors import DataError, ExitCode, FetchError, LockBusyError, UsageError
from mltrain.paths import Home

from .fake_exchange import DAY_MS, FakeExchange

pytest.importorskip("ccxt", reason="data update needs the optional ccxt package (mltrain[fetch])")

from mltrain.data.update import default_symbols, update_symbols

EMBEDDED = DataStore(Home(Path("/nonexistent-home")))
TODAY = pd.Timestamp("2026-01-10")  # the fake clock's UTC day: its candle is still forming


def clock_at(day: pd.Timestamp):
    return lambda: datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def extended(symbol: str, through: pd.Timestamp, seed: int = 3) -> pd.DataFrame:
    """The embedded series plus synthetic days through `through` (inclusive); the same days for any `through`."""
    frame = EMBEDDED.load(symbol).frame
    extra, _ = synth.generate(
        30,
        seed,
        start=str((frame.index[-1] + pd.Timedelta(days=1)).date()),
        start_price=float(frame["close"].iloc[-1]),
    )
    return pd.concat([frame, extra.loc[:through]])


def new_market(days: int = 400) -> pd.DataFrame:
    """A market that is not embedded, ending today; a longer one starts earlier with the same recent days."""
    frame, _ = synth.generate(500, 11, start=str((TODAY - pd.Timedelta(days=499)).date()))
    return frame.iloc[-days:]


@pytest.fixture
def fx():
    with FakeExchange(
        {
            "BTCUSDT": extended("BTC", TODAY),
            "ETHUSDT": extended("ETH", TODAY, seed=4),
            "NEWUSDT": new_market(),
        }
    ) as server:
        yield server


@pytest.fixture
def store(home: Path) -> DataStore:
    return DataStore(Home(home))


def update(store: DataStore, fx: FakeExchange, symbols, sleeps: list | None = None, today=TODAY, **kw):
    kw.setdefault("backoff", (0.001, 0.002, 0.004))
    return update_symbols(
        store,
        symbols,
        api_url=fx.url,
        clock=clock_at(today),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        **kw,
    )


def snapshot(home: Path) -> dict[str, bytes]:
    """The store's visible files (lock files aside): what a failed update must leave as it was."""
    folder = home / "data"
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def ms(day: str) -> str:
    return str(int(pd.Timestamp(day).timestamp() * 1000))


def test_first_download_into_an_empty_home_is_the_servers_series_minus_the_forming_day(fx, store):
    served = new_market()
    events: list[dict] = []
    [result] = update(store, fx, ["NEW"], on_progress=events.append)
    stored = store.load("NEW")
    assert result["status"] == "updated" and result["rows"] == len(served) - 1
    assert result["last"] == str((TODAY - pd.Timedelta(days=1)).date())
    assert stored.frame.index.equals(served.index[:-1])
    assert np.allclose(
        stored.frame[["open", "high", "low", "close"]], served[["open", "high", "low", "close"]][:-1]
    )
    assert stored.meta["exchange"] == "binance" and stored.meta["market"] == "NEW/USDT"
    assert [e["event"] for e in events] == ["request", "start", "page", "done"]  # markets first, then NEW
    assert default_symbols(store) == ["NEW"]
    assert {path for path, _ in fx.requests} == {"/api/v3/exchangeInfo", "/api/v3/klines"}


def test_incremental_update_fetches_only_the_new_days(fx, store):
    btc = EMBEDDED.load("BTC").frame
    [first] = update(store, fx, ["BTC"])
    assert first["new_rows"] == 4 and first["rows"] == len(btc) + 4 and first["last"] == "2026-01-09"
    assert fx.klines_requests()[-1]["startTime"] == ms("2026-01-05")  # from the newest embedded candle
    later = TODAY + pd.Timedelta(days=3)
    fx.serve("BTCUSDT", extended("BTC", later))
    [second] = update(store, fx, ["BTC"], today=later)
    assert second["new_rows"] == 3 and second["last"] == "2026-01-12" and second["requests"] == 1
    assert fx.klines_requests()[-1]["startTime"] == ms("2026-01-09")
    stored = store.load("BTC").frame
    assert np.allclose(stored["close"], extended("BTC", later)["close"].iloc[:-1])
    [again] = update(store, fx, ["BTC"], today=later)
    assert again["status"] == "up to date" and again["new_rows"] == 0


def test_pages_through_the_exchange_limit(fx, store):
    [result] = update(store, fx, ["NEW"], page_limit=120)
    starts = [int(r["startTime"]) for r in fx.klines_requests()]
    assert len(starts) == 4 and all(b - a == 120 * DAY_MS for a, b in itertools.pairwise(starts[1:]))
    assert all(r["limit"] == "120" for r in fx.klines_requests())
    assert result["rows"] == 399 and store.load("NEW").frame.index.is_unique


def test_an_overlap_that_disagrees_changes_nothing_unless_replace(fx, store, home):
    served = extended("BTC", TODAY)
    served.loc[pd.Timestamp("2026-01-05"), "close"] *= 1.01
    served.loc[pd.Timestamp("2026-01-05"), "high"] *= 1.02
    fx.serve("BTCUSDT", served)
    with pytest.raises(
        DataError, match="close on 2026-01-05 .* differs from the stored BTC series.*--replace"
    ) as err:
        update(store, fx, ["BTC"])
    assert err.value.exit_code == ExitCode.USAGE and snapshot(home) == {}
    [result] = update(store, fx, ["BTC"], replace=True)
    assert result["replaced_rows"] == 1 and result["new_rows"] == 4
    assert store.load("BTC").frame.loc["2026-01-05", "close"] == pytest.approx(
        served.loc["2026-01-05", "close"]
    )


def test_a_429_is_retried_with_backoff_then_succeeds(fx, store):
    fx.faults = ["429", "429"]
    sleeps: list[float] = []
    [result] = update(store, fx, ["BTC"], sleeps=sleeps, backoff=(0.001, 0.002, 0.003))
    assert result["new_rows"] == 4 and sleeps == [0.001, 0.002] and result["requests"] == 3


@pytest.mark.parametrize(
    "fault,match",
    [
        ("500", r"binance: fetching BTC/USDT daily candles failed after 4 tries: ExchangeNotAvailable.*500"),
        ("429", r"failed after 4 tries: DDoSProtection.*429"),
        ("garbage", r"binance BTC/USDT: the answer is not JSON"),
    ],
)
def test_a_fault_that_does_not_clear_is_exit_1_and_changes_nothing(fx, store, home, fault, match):
    update(store, fx, ["ETH"])
    before = snapshot(home)
    fx.always = fault
    sleeps: list[float] = []
    with pytest.raises(FetchError, match=match) as err:
        update(store, fx, ["BTC"], sleeps=sleeps)
    assert err.value.exit_code == ExitCode.FAILURE and snapshot(home) == before
    assert len(sleeps) == (0 if fault == "garbage" else 3)


def test_a_connection_cut_mid_page_is_retried_and_one_that_persists_changes_nothing(fx, store, home):
    fx.faults = ["ok", "cut"]  # the second page is cut once: the retry gets it whole
    [result] = update(store, fx, ["NEW"], page_limit=200)
    assert result["rows"] == 399
    fx.serve("NEWUSDT", new_market(420))  # more history is served before the stored start ...
    before = snapshot(home)
    fx.faults, fx.always = ["ok"], "cut"  # ... and every page after the first is cut
    with pytest.raises(FetchError, match=r"failed after 4 tries: NetworkError"):
        update(store, fx, ["NEW"], page_limit=200, since="2024-11-17")
    assert snapshot(home) == before


def test_unknown_exchange_or_market_is_exit_2_with_a_suggestion_before_any_download(fx, store):
    with pytest.raises(UsageError, match=r"unknown exchange 'binanse'. Did you mean 'binance'\?") as err:
        update(store, fx, ["BTC"], exchange="binanse")
    assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(UsageError, match=r"binance has no market BTX/USDT. Did you mean 'BTC/USDT'\?"):
        update(store, fx, ["BTC", "BTX"])
    with pytest.raises(UsageError, match=r"no market BTC/USDX"):
        update(store, fx, ["BTC"], quote="usdx")
    assert fx.klines_requests() == []
    with pytest.raises(UsageError, match="--since '2024-13-01' is not a date"):
        update(store, fx, ["NEW"], since="2024-13-01")
    with pytest.raises(UsageError, match="--since 2026-01-08 would leave a gap after the stored BTC series"):
        update(store, fx, ["BTC"], since="2026-01-08")
    with pytest.raises(UsageError, match="--api-url 'ftp://x' must be an http"):
        update_symbols(store, ["BTC"], api_url="ftp://x", clock=clock_at(TODAY))
    assert default_symbols(store) == ["BTC", "ETH", "SOL"]  # nothing fetched yet


def test_a_future_dated_candle_is_refused(fx, store, home):
    fx.serve("BTCUSDT", extended("BTC", TODAY + pd.Timedelta(days=2)))
    with pytest.raises(FetchError, match=r"candle dated 2026-01-11, after today \(2026-01-10, UTC\)"):
        update(store, fx, ["BTC"])
    assert snapshot(home) == {}


def test_a_failure_names_the_symbols_already_updated(fx, store, home):
    fx.faults, fx.always = ["ok"], "500"
    with pytest.raises(FetchError, match=r"ETH/USDT.*\(already updated: BTC\)"):
        update(store, fx, ["BTC", "ETH"])
    assert set(snapshot(home)) == {"BTC.json", store.load("BTC").meta["file"]}


def test_a_symbol_being_written_is_refused_or_waited_for(fx, store):
    import threading

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("BTC", "data import --merge"):
            holding.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    try:
        with pytest.raises(
            LockBusyError, match=r"BTC in the data store is being written by pid \d+ \(data import"
        ):
            update(store, fx, ["BTC"])
    finally:
        release.set()
        holder.join()
    assert update(store, fx, ["BTC"], wait=True)[0]["new_rows"] == 4


def test_without_ccxt_the_error_names_the_extra(fx, store, monkeypatch):
    monkeypatch.setitem(sys.modules, "ccxt", None)  # what an install without the extra looks like
    with pytest.raises(UsageError, match=r"pip install 'mltrain\[fetch\]'"):
        update(store, fx, ["BTC"])


def test_an_unreachable_server_is_exit_1_naming_the_exchange(store, home):
    import socket

    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    # the innermost cause is named: 'NetworkError: binance GET URL' alone did not say the port refused
    with pytest.raises(
        FetchError,
        match=r"binance: loading binance markets failed after 4 tries: NetworkError.*Connection refused",
    ):
        update_symbols(
            store,
            ["BTC"],
            api_url=f"http://127.0.0.1:{port}",
            clock=clock_at(TODAY),
            backoff=(0.001,) * 3,
            sleep=sleeps.append,
        )
    assert len(sleeps) == 3 and snapshot(home) == {}


def test_a_hole_in_the_answer_is_stored_but_said_with_how_to_refetch_it(fx, store):
    """Ten days missing inside the exchange's answer were stored silently (status 'updated', no note), and
    the next update starts after them, so they never came back."""
    fx.faults = ["hole"]
    [result] = update(store, fx, ["NEW"])
    missing = [w for w in result["warnings"] if "skips 10 day(s) inside its range" in w]
    assert missing and "--since" in missing[0] and "--replace" in missing[0] and missing[0] in result["notes"]


def test_an_answer_that_changes_between_pages_or_redirects_elsewhere_changes_nothing(fx, store, home):
    """A page that repeated earlier candles with other closes was stored as it came; a 302 to another host
    was followed and stored under the exchange's name."""
    before = snapshot(home)
    fx.faults = ["ok", "repeat_changed"]  # the second page repeats three days of the first, closes x3
    with pytest.raises(FetchError, match="changed between two pages of one answer"):
        update(store, fx, ["NEW"], page_limit=120)
    with FakeExchange({"NEWUSDT": new_market() * 10}) as other:
        fx.redirect_to, fx.always = other.url.replace("127.0.0.1", "localhost"), "redirect"
        with pytest.raises(FetchError, match="redirected to localhost"):
            update(store, fx, ["NEW"])
    assert snapshot(home) == before


def test_an_empty_answer_or_market_list_is_the_servers_fault_not_up_to_date_or_a_typo(fx, store, home):
    """An empty klines body read as 'no new candles' (up to date, exit 0); a market list with no market read
    as 'binance has no market BTC/USDT' (exit 2, a typo to look for)."""
    before = snapshot(home)
    fx.always = "empty"
    with pytest.raises(FetchError, match="the answer is not JSON \\(an empty body\\)"):
        update(store, fx, ["BTC"])
    fx.always, fx.info_body = None, b'{"symbols": []}'
    with pytest.raises(FetchError, match="its market list holds no market") as caught:
        update(store, fx, ["BTC"])
    assert caught.value.exit_code == ExitCode.FAILURE and snapshot(home) == before
