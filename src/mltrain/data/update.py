"""`data update`: closed daily candles from an exchange (through ccxt), merged into the data store.

Incremental from the newest stored candle (the embedded history counts as stored), paged through the
exchange's limit, rate limited by ccxt; the candles that overlap the store must agree with it; the
still-forming UTC day is dropped; each symbol is written atomically under its lock, or not at all.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import pandas as pd

from ..errors import DataError, FetchError, MltrainError, UsageError
from . import validate
from .store import DataStore, Series, check_symbol, fingerprint, merge_frames

DEFAULT_SYMBOLS = ("BTC", "ETH", "SOL")
DAY_MS = 86_400_000
PAGE_LIMIT = 1000  # candles asked per request; an exchange that caps lower just answers fewer
OVERLAP_TOLERANCE = 1e-6  # relative: an exchange's close may differ from the stored one by rounding only
BACKOFF_SECONDS = (2.0, 8.0, 30.0)  # waits before each retry of a network error, 429 or 5xx; then give up
EARLIEST = pd.Timestamp("2009-01-03")  # a first download without --since starts at the exchange's first candle
FETCH_EXTRA = "pip install 'mltrain[fetch]'"

Progress = Callable[[dict], None]


def default_symbols(store: DataStore) -> list[str]:
    """Every imported symbol whose series came from an exchange, else BTC ETH SOL."""
    fetched = [s for s in store.imported_symbols() if store.load(s).meta.get("exchange")]
    return fetched or list(DEFAULT_SYMBOLS)


def parse_since(since: str | date | None) -> pd.Timestamp | None:
    if since is None or isinstance(since, pd.Timestamp):
        return since
    try:
        return pd.Timestamp(since.isoformat() if isinstance(since, date) else date.fromisoformat(str(since)))
    except ValueError:
        raise UsageError(f"--since {since!r} is not a date; use YYYY-MM-DD, e.g. 2021-01-01") from None


def _redirect(urls: Any, base: str) -> Any:
    """Every REST URL of the exchange with its scheme and host replaced by `base` (paths kept)."""
    if isinstance(urls, dict):
        return {key: _redirect(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        return base + urlsplit(urls).path
    return urls


def open_exchange(name: str, api_url: str | None = None) -> Any:
    """A ccxt exchange with its rate limiter on; `api_url` (a mirror or a test server) replaces its REST host."""
    try:
        import ccxt
    except ImportError:
        raise UsageError(f"`data update` needs the ccxt package: {FETCH_EXTRA}") from None
    if name not in ccxt.exchanges:
        from ..config import suggest

        raise UsageError(f"unknown exchange {name!r}.{suggest(name, ccxt.exchanges)} "
                         f"ccxt {ccxt.__version__} knows {len(ccxt.exchanges)}, e.g. binance, kraken, coinbase")
    # the last JSON answer is kept so that a reply that is not JSON at all is told from "no candles"
    exchange = getattr(ccxt, name)({"enableRateLimit": True, "enableLastJsonResponse": True})
    if not exchange.has.get("fetchOHLCV") or "1d" not in (exchange.timeframes or {}):
        raise UsageError(f"exchange {name} does not serve daily candles through ccxt; try binance or kraken")
    markets_option = exchange.options.get("fetchMarkets")
    if isinstance(markets_option, dict) and "types" in markets_option:
        exchange.options["fetchMarkets"] = {**markets_option, "types": ["spot"]}  # spot pairs are all we use
    if api_url:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--api-url {api_url!r} must be an http(s) URL such as http://127.0.0.1:8080")
        exchange.urls["api"] = _redirect(exchange.urls.get("api"), api_url.rstrip("/"))
    return exchange


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


class Caller:
    """Runs one exchange request: network errors, 429 and 5xx are retried after BACKOFF waits, then FetchError."""

    def __init__(self, exchange: Any, backoff: Sequence[float], sleep: Callable[[float], None]):
        self.exchange, self.backoff, self.sleep, self.requests = exchange, tuple(backoff), sleep, 0

    def __call__(self, what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        import ccxt

        for attempt in range(len(self.backoff) + 1):
            self.requests += 1
            try:
                return fn(*args, **kwargs)
            except ccxt.BadSymbol as exc:
                raise UsageError(f"{self.exchange.id}: {what}: {_short(exc)}") from None
            except ccxt.NetworkError as exc:  # timeouts, cut connections, 429 (DDoSProtection), 5xx
                if attempt == len(self.backoff):
                    raise FetchError(f"{self.exchange.id}: {what} failed after {attempt + 1} tries: "
                                     f"{type(exc).__name__}: {_short(exc)}") from None
                self.sleep(self.backoff[attempt])
            except ccxt.BaseError as exc:
                raise FetchError(f"{self.exchange.id}: {what}: {type(exc).__name__}: {_short(exc)}") from None
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # an unparsable answer
                raise FetchError(f"{self.exchange.id}: {what}: the answer could not be read "
                                 f"({type(exc).__name__}: {_short(exc)})") from None


def resolve_market(exchange: Any, symbol: str, quote: str) -> str:
    """The unified market name (BTC/USDT); an unknown one is a UsageError with a did-you-mean."""
    market = f"{symbol}/{quote}"
    if market in exchange.markets:
        return market
    from ..config import suggest

    pairs = sorted(exchange.markets)
    quotes = sorted({m["quote"] for m in exchange.markets.values() if m.get("base") == symbol})
    other = f" {symbol} trades there against: {', '.join(quotes[:10])} (use --quote)." if quotes else ""
    raise UsageError(f"{exchange.id} has no market {market}.{suggest(market, pairs)}{other}")


def _check_rows(where: str, rows: Any) -> list:
    """Refuse an answer that is not a list of [timestamp_ms, open, high, low, close, (volume)] rows."""
    if not isinstance(rows, list):
        raise FetchError(f"{where}: the answer is not a list of candles ({str(rows)[:80]})")
    for n, row in enumerate(rows, start=1):
        ok = isinstance(row, (list, tuple)) and len(row) >= 5 and isinstance(row[0], int) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in row[1:5])
        if not ok:
            raise FetchError(f"{where}: candle {n} of the answer is malformed ({str(row)[:80]}); "
                             "expected [timestamp_ms, open, high, low, close, volume]")
    return rows


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["open", "high", "low", "close", "volume"], dtype="float64",
                        index=pd.DatetimeIndex([], name="date"))


def _candles(where: str, rows: list, today: pd.Timestamp) -> pd.DataFrame:
    """Exchange rows -> a clean daily frame: future candles refused, today's (still forming) dropped."""
    if not rows:
        return _empty()
    raw = pd.DataFrame([list(r[:6]) + [None] * (6 - len(r[:6])) for r in rows],
                       columns=["ts", "open", "high", "low", "close", "volume"])
    raw[["open", "high", "low", "close", "volume"]] = raw[["open", "high", "low", "close", "volume"]].astype(float)
    raw["row"] = range(1, len(raw) + 1)
    day = pd.to_datetime(raw["ts"], unit="ms", utc=True).dt.tz_localize(None).dt.floor("D")
    if (day > today).any():
        late = day[day > today].iloc[0]
        raise FetchError(f"{where}: the exchange sent a candle dated {late.date()}, after today ({today.date()}, "
                         "UTC); check this machine's clock")
    raw = raw[(day < today).to_numpy()]  # today's candle is still forming
    if raw.empty:
        return _empty()
    try:
        frame, _, _ = validate.clean(where, raw)
    except DataError as exc:  # the exchange's data, not the user's: exit 1, naming the exchange
        raise FetchError(str(exc)) from None
    return frame


def _fetch(call: Caller, exchange: Any, market: str, start: pd.Timestamp, today: pd.Timestamp, page_limit: int,
           progress: Callable[[dict], None]) -> list:
    """Every candle from `start` through today's (dropped later), page by page."""
    where = f"{exchange.id} {market}"
    cursor = int(start.timestamp() * 1000)
    last_closed = int((today - pd.Timedelta(days=1)).timestamp() * 1000)
    rows: list = []
    while True:
        page = call(f"fetching {market} daily candles", exchange.fetch_ohlcv, market, "1d", since=cursor,
                    limit=page_limit)
        if exchange.last_json_response is None and str(exchange.last_http_response or "").strip():
            # ccxt turns an unparsable reply into an empty or odd list; it is a broken answer, not "no candles"
            raise FetchError(f"{where}: the answer is not JSON ({_short(exchange.last_http_response)[:80]})")
        page = [r for r in _check_rows(where, page) if r[0] >= cursor]  # an exchange may repeat older candles
        if not page:
            return rows
        rows += page
        newest = max(r[0] for r in page)
        progress({"event": "page", "candles": len(rows), "through": str(pd.Timestamp(newest, unit="ms").date())})
        if newest >= last_closed:
            return rows
        cursor = newest + DAY_MS  # strictly later each page: the loop ends


def _update_one(store: DataStore, call: Caller, exchange: Any, symbol: str, market: str,
                since: pd.Timestamp | None, today: pd.Timestamp, replace: bool, wait: bool, page_limit: int,
                on_progress: Progress, on_wait: Callable[[str], None] | None) -> dict:
    where = f"{exchange.id} {market}"
    with store.lock(symbol, f"data update --exchange {exchange.id}", wait, on_wait):
        current: Series | None = store.load(symbol) if store.has(symbol) else None
        if current is not None and not current.has_ohlc:
            raise DataError(f"the stored {symbol} series is close-only ({current.source}); an exchange adds OHLC "
                            f"candles. Re-import {symbol} with OHLC history first")
        stored_last = current.frame.index[-1] if current is not None else None
        if since is not None and stored_last is not None and since > stored_last + pd.Timedelta(days=1):
            raise UsageError(f"--since {since.date()} would leave a gap after the stored {symbol} series, which "
                             f"ends {stored_last.date()}; leave --since out to continue from there")
        start = since if since is not None else stored_last if stored_last is not None else EARLIEST
        requests_before = call.requests
        on_progress({"event": "start", "symbol": symbol, "market": market, "from": str(start.date())})
        progress = lambda event: on_progress({"symbol": symbol, **event})
        frame = _candles(where, _fetch(call, exchange, market, start, today, page_limit, progress), today)
        replaced = 0
        if current is None:
            merged = frame
        elif replace:
            overlap = frame.index.intersection(current.frame.index)
            old, new = current.frame.loc[overlap, "close"], frame.loc[overlap, "close"]
            replaced = int(((new - old).abs() > OVERLAP_TOLERANCE * old.abs()).sum())
            merged = pd.concat([current.frame.drop(overlap), frame]).sort_index()
        else:
            merged = merge_frames(current, frame, True, where, OVERLAP_TOLERANCE,
                                  "nothing was changed; pass --replace to take the exchange's candles")
        added = len(merged) - (len(current.frame) if current is not None else 0)
        result = {"symbol": symbol, "exchange": exchange.id, "market": market, "fetched_from": str(start.date()),
                  "fetched": int(len(frame)), "new_rows": int(added), "replaced_rows": replaced,
                  "requests": call.requests - requests_before}
        if merged.empty:
            raise FetchError(f"{where}: the exchange has no closed daily candles from {start.date()}")
        if added == 0 and replaced == 0:
            result = {**result, **store.summary(symbol), "status": "up to date"}
        else:
            meta = {"symbol": symbol, "source": f"{where} daily candles", "format": "exchange",
                    "exchange": exchange.id, "market": market, "quote": market.split("/")[1], "has_ohlc": True,
                    "aggregated": False, "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "rows": int(len(merged)), "fingerprint": fingerprint(merged), "mode": "update", "notes": [],
                    **({"merged_onto": current.source} if current is not None else {})}
            store.save(symbol, merged, meta)
            result = {**result, **store.summary(symbol), "status": "updated"}
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
) -> list[dict]:
    """Fetch each symbol's closed daily candles since its newest stored one and store them; one dict each.

    Unknown exchange or market: UsageError (exit 2) before any download. Network errors, 429 and 5xx are
    retried after each `backoff` wait, then FetchError (exit 1). A symbol is written whole or not at all; a
    failure names the symbols already updated."""
    names = [check_symbol(s) for s in symbols] if symbols else default_symbols(store)
    start = parse_since(since)
    quote = quote.upper()
    now = clock() if clock is not None else datetime.now(timezone.utc)
    today = pd.Timestamp(now.astimezone(timezone.utc).date())
    if start is not None and start >= today:
        raise UsageError(f"--since {start.date()} is not before today ({today.date()}, UTC)")
    if page_limit < 1:
        raise UsageError(f"page limit {page_limit} must be at least 1")
    ex = open_exchange(exchange, api_url)
    call = Caller(ex, backoff, sleep)
    call(f"loading {ex.id} markets", ex.load_markets)
    markets = {symbol: resolve_market(ex, symbol, quote) for symbol in names}
    results: list[dict] = []
    for symbol in names:
        try:
            results.append(_update_one(store, call, ex, symbol, markets[symbol], start, today, replace, wait,
                                       page_limit, on_progress or (lambda event: None), on_wait))
        except MltrainError as exc:
            if results:
                exc.args = (f"{exc.args[0]} (already updated: {', '.join(r['symbol'] for r in results)})",)
            raise
    return results
