"""`data update`: closed daily candles from an exchange (through ccxt), merged into the data store.

Incremental from the newest stored candle (the embedded history counts as stored), paged through the
exchange's limit, rate limited by ccxt; the candles that overlap the store must agree with it; the
still-forming UTC day is dropped; each symbol is written atomically under its lock, or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from ..errors import DataError, FetchError, MltrainError, UsageError
from ..fsutil import read_json
from . import validate
from .exchange import BACKOFF_SECONDS, Caller, fetch_daily, open_exchange, resolve_market
from .http import FetchLimits, bounded_session
from .store import STALE_DATA_DAYS, DataStore, Series, fingerprint
from .validate import check_symbol, merge_frames

DEFAULT_SYMBOLS = ("BTC", "ETH", "SOL")
PAGE_LIMIT = 1000  # candles asked per request; an exchange that caps lower just answers fewer
OVERLAP_TOLERANCE = 1e-6  # relative: an exchange's close may differ from the stored one by rounding only
# a first download without --since starts at the exchange's first candle
EARLIEST = pd.Timestamp("2009-01-03")

Progress = Callable[[dict], None]


def default_symbols(store: DataStore) -> list[str]:
    """Every imported symbol whose series came from an exchange, else BTC ETH SOL."""
    fetched = [s for s in store.imported_symbols() if read_json(store.meta_path(s)).get("exchange")]
    return fetched or list(DEFAULT_SYMBOLS)


def parse_since(since: str | date | None) -> pd.Timestamp | None:
    if since is None or isinstance(since, pd.Timestamp):
        return since
    from ..textutil import parse_day

    return pd.Timestamp(since.isoformat() if isinstance(since, date) else parse_day(str(since), "--since"))


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["open", "high", "low", "close", "volume"],
        dtype="float64",
        index=pd.DatetimeIndex([], name="date"),
    )


def _candles(where: str, rows: list, today: pd.Timestamp) -> pd.DataFrame:
    """Exchange rows -> a clean daily frame: future candles refused, today's (still forming) dropped."""
    if not rows:
        return _empty()
    raw = pd.DataFrame(
        [list(r[:6]) + [None] * (6 - len(r[:6])) for r in rows],
        columns=["ts", "open", "high", "low", "close", "volume"],
    )
    raw[["open", "high", "low", "close", "volume"]] = raw[["open", "high", "low", "close", "volume"]].astype(
        float
    )
    raw["row"] = range(1, len(raw) + 1)
    day = pd.to_datetime(raw["ts"], unit="ms", utc=True).dt.tz_localize(None).dt.floor("D")
    if (day > today).any():
        late = day[day > today].iloc[0]
        raise FetchError(
            f"{where}: the exchange sent a candle dated {late.date()}, after today ({today.date()}, "
            "UTC); check this machine's clock"
        )
    raw = raw[(day < today).to_numpy()]  # today's candle is still forming
    if raw.empty:
        return _empty()
    try:
        frame, _, _ = validate.clean(where, raw)
    except DataError as exc:  # the exchange's data, not the user's: exit 1, naming the exchange
        raise FetchError(str(exc)) from None
    return frame


def _holes(frame: pd.DataFrame) -> list[str]:
    """Days the exchange's answer skips inside its own range: stored as they are, but said (a later update
    starts after the newest day, so the hole stays until a `--since DATE --replace` refetch)."""
    if len(frame) < 2:
        return []
    missing = pd.date_range(frame.index[0], frame.index[-1], freq="D").difference(frame.index)
    if missing.empty:
        return []
    first, last = missing[0].date(), missing[-1].date()
    return [
        f"the exchange's answer skips {len(missing)} day(s) inside its range ({first}..{last}); refetch them "
        f"with `--since {first} --replace` once it has them"
    ]


def _combine(
    current: Series | None, frame: pd.DataFrame, where: str, replace: bool
) -> tuple[pd.DataFrame, int, list[str]]:
    """The stored series plus the fetched candles; the overlap must agree unless `replace` (exchange wins).
    Returns (merged, stored days whose close was replaced, notes)."""
    if current is None:
        return frame, 0, []
    notes, stored = [], current.frame
    if not frame.empty and frame.index[0] > stored.index[-1] + pd.Timedelta(days=1):
        notes.append(
            f"the exchange has no candles from {(stored.index[-1] + pd.Timedelta(days=1)).date()} "
            f"to {(frame.index[0] - pd.Timedelta(days=1)).date()}"
        )
    if not replace:
        fix = "nothing was changed; pass --replace to take the exchange's candles"
        return merge_frames(current, frame, True, where, OVERLAP_TOLERANCE, fix), 0, notes
    overlap = frame.index.intersection(stored.index)
    old, new = stored.loc[overlap, "close"], frame.loc[overlap, "close"]
    replaced = int(((new - old).abs() > OVERLAP_TOLERANCE * old.abs()).sum())
    return pd.concat([stored.drop(overlap), frame]).sort_index(), replaced, notes


def _update_one(
    store: DataStore,
    call: Caller,
    exchange: Any,
    symbol: str,
    market: str,
    since: pd.Timestamp | None,
    today: pd.Timestamp,
    replace: bool,
    wait: bool,
    page_limit: int,
    on_progress: Progress,
    on_wait: Callable[[str], None] | None,
) -> dict:
    where = f"{exchange.id} {market}"
    with store.lock(symbol, f"data update --exchange {exchange.id}", wait, on_wait):
        current: Series | None = store.load(symbol) if store.has(symbol) else None
        if current is not None and not current.has_ohlc:
            raise DataError(
                f"the stored {symbol} series is close-only ({current.source}); an exchange adds OHLC "
                f"candles. Re-import {symbol} with OHLC history first"
            )
        stored_last = current.frame.index[-1] if current is not None else None
        if since is not None and stored_last is not None and since > stored_last + pd.Timedelta(days=1):
            raise UsageError(
                f"--since {since.date()} would leave a gap after the stored {symbol} series, which "
                f"ends {stored_last.date()}; leave --since out to continue from there"
            )
        start = since if since is not None else stored_last if stored_last is not None else EARLIEST
        requests_before = call.requests
        days = max((today - start).days, 1)
        on_progress(
            {
                "event": "start",
                "symbol": symbol,
                "market": market,
                "from": str(start.date()),
                "days": days,  # what is left to fetch: with `pages`, what the progress display counts
                "pages": -(-days // page_limit),  # at most; an exchange that caps lower sends more, shorter
            }
        )

        def progress(event: dict, symbol: str = symbol) -> None:
            on_progress({"symbol": symbol, **event})

        frame = _candles(
            where, fetch_daily(call, exchange, market, start, today, page_limit, progress), today
        )
        merged, replaced, notes = _combine(current, frame, where, replace)
        holes = [f"{symbol}: {line}" for line in _holes(frame)]  # stored, and said on stderr too
        notes = [*holes, *notes]
        added = len(merged) - (len(current.frame) if current is not None else 0)
        result = {
            "symbol": symbol,
            "exchange": exchange.id,
            "market": market,
            "fetched_from": str(start.date()),
            "fetched": int(len(frame)),
            "new_rows": int(added),
            "replaced_rows": replaced,
            "requests": call.requests - requests_before,
            "notes": notes,
        }
        if merged.empty:
            raise FetchError(f"{where}: the exchange has no closed daily candles from {start.date()}")
        if added == 0 and replaced == 0:
            result = {**result, **store.summary(symbol), "status": "up to date"}
        else:
            meta = {
                "symbol": symbol,
                "source": f"{where} daily candles",
                "format": "exchange",
                "exchange": exchange.id,
                "market": market,
                "quote": market.split("/")[1],
                "has_ohlc": True,
                "aggregated": False,
                "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "rows": int(len(merged)),
                "fingerprint": fingerprint(merged),
                "mode": "update",
                "notes": notes,
                **({"merged_onto": current.meta.get("merged_onto", current.source)} if current else {}),
            }
            store.save(symbol, merged, meta)
            result = {**result, **store.summary(symbol), "status": "updated"}
        age = (today - pd.Timestamp(result["last"])).days
        stale = [  # the exchange sent nothing newer: say so, never a silent "up to date"
            f"{symbol} still ends {result['last']} ({age} days before today, UTC): {where} sent no newer "
            "closed candle; check the market (--quote, --exchange) or the exchange's status"
        ]
        result["warnings"] = [*holes, *(stale if age > STALE_DATA_DAYS else [])]
        on_progress({"event": "done", **result})
        return result


def update_symbols(
    store: DataStore,
    symbols: Iterable[str] | None = None,
    exchange: str = "binance",
    quote: str = "USDT",
    since: str | date | None = None,
    api_url: str | None = None,
    replace: bool = False,
    wait: bool = False,
    on_progress: Progress | None = None,
    clock: Callable[[], datetime] | None = None,
    backoff: Sequence[float] = BACKOFF_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    page_limit: int = PAGE_LIMIT,
    on_wait: Callable[[str], None] | None = None,
    limits: FetchLimits | None = None,
) -> list[dict]:
    """Fetch each symbol's closed daily candles since its newest stored one and store them; one dict each.

    Unknown exchange or market: UsageError (exit 2) before any download. Network errors, 429 and 5xx are
    retried after each `backoff` wait, then FetchError (exit 1); every request ends within its deadline and
    the whole run within its own (`limits`: the face reads them from the environment, http.limits_from_env).
    A result's `warnings` say when a series is still stale after the update. A symbol is written whole or not at all; a
    failure names the symbols already updated."""
    names = [check_symbol(s) for s in symbols] if symbols else default_symbols(store)
    start = parse_since(since)
    quote = quote.upper()
    now = clock() if clock is not None else datetime.now(UTC)
    today = pd.Timestamp(now.astimezone(UTC).date())
    if start is not None and start >= today:
        raise UsageError(f"--since {start.date()} is not before today ({today.date()}, UTC)")
    if page_limit < 1:
        raise UsageError(f"page limit {page_limit} must be at least 1")
    limits = limits or FetchLimits()
    ex = open_exchange(exchange, api_url)
    ex.session = bounded_session(limits)  # a total deadline per request and per run; answers capped
    ex.timeout = int(limits.request_seconds * 1000)
    call = Caller(ex, backoff, sleep)
    report = on_progress or (lambda event: None)
    call.on_retry = report  # every failed try is shown with its wait: no silent minute of backoff
    report({"event": "request", "what": f"loading {ex.id} markets", "tries": len(tuple(backoff)) + 1})
    call(f"loading {ex.id} markets", ex.load_markets)
    markets = {symbol: resolve_market(ex, symbol, quote) for symbol in names}
    results: list[dict] = []
    for symbol in names:
        try:
            results.append(
                _update_one(
                    store,
                    call,
                    ex,
                    symbol,
                    markets[symbol],
                    start,
                    today,
                    replace,
                    wait,
                    page_limit,
                    on_progress or (lambda event: None),
                    on_wait,
                )
            )
        except MltrainError as exc:
            if results:
                exc.args = (f"{exc.args[0]} (already updated: {', '.join(r['symbol'] for r in results)})",)
            raise
    return results
