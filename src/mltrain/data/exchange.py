"""Talking to an exchange through ccxt: open it (rate limited, optionally at another host), find a market,
page through its daily candles; network errors, 429 and 5xx (whatever their body) retried with backoff
within the run's deadline (data/http.py), then FetchError; every answer's shape checked before use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ..errors import FetchError, UsageError, excerpt

DAY_MS = 86_400_000
EARLIEST_MS = 1_230_940_800_000  # 2009-01-03 in ms: below it, a timestamp is not in milliseconds (seconds)
LATEST_MS = 4_102_444_800_000  # 2100-01-01 in ms: above it, microseconds (near-future days: update.py)
TRY_NEXT = (
    "Check the connection (a proxy, a firewall, the exchange's status page), try again later, use a mirror "
    "with --api-url URL, or import a file instead: mltrain data import FILE --symbol SYMBOL --merge"
)
BACKOFF_SECONDS = (2.0, 8.0, 30.0)  # waits before each retry of a network error, 429 or 5xx; then give up
FETCH_EXTRA = "pip install 'mltrain[fetch]'"


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

        raise UsageError(
            f"unknown exchange {name!r}.{suggest(name, ccxt.exchanges)} "
            f"ccxt {ccxt.__version__} knows {len(ccxt.exchanges)}, e.g. binance, kraken, coinbase"
        )
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


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def root_cause(exc: BaseException) -> str:
    """The innermost error under a ccxt one, e.g. ' ([Errno 111] Connection refused)' or ' (Exceeded 30
    redirects.)': 'NetworkError: binance GET URL' alone did not say what went wrong. '' when there is none."""
    inner, depth = exc, 0
    while (inner.__cause__ or inner.__context__) is not None and depth < 8:
        inner, depth = inner.__cause__ or inner.__context__, depth + 1
    return f" ({short(inner)[:120]})" if inner is not exc else ""


class Caller:
    """Runs one exchange request: network errors, 429 and 5xx are retried after BACKOFF waits, then FetchError."""

    def __init__(self, exchange: Any, backoff: Sequence[float], sleep: Callable[[float], None]):
        self.exchange, self.backoff, self.sleep, self.requests = exchange, tuple(backoff), sleep, 0
        self.on_retry: Callable[[dict], None] | None = None  # told of each failed try before its wait

    def _status(self) -> int | None:
        return getattr(getattr(self.exchange, "session", None), "last_status", None)

    def _retry_or_fail(self, what: str, attempt: int, exc: Exception) -> None:
        """Wait before the next try, or raise FetchError when the tries or the run's deadline are spent."""
        status = self._status()
        said = f"HTTP {status}: " if status is not None else ""
        if attempt == len(self.backoff):
            raise FetchError(
                f"{self.exchange.id}: {what} failed after {attempt + 1} tries: "
                f"{type(exc).__name__}: {short(exc)}{root_cause(exc)}. {TRY_NEXT}"
            ) from None
        session = getattr(self.exchange, "session", None)
        left = session.left() if hasattr(session, "left") else float("inf")
        if left < self.backoff[attempt]:
            raise FetchError(
                f"{self.exchange.id}: {what} failed after {attempt + 1} tries ({said}{type(exc).__name__}"
                f"{root_cause(exc)}); "
                f"the next would start after the run's deadline of {session.limits.run_seconds:g} s "
                "(MLTRAIN_FETCH_RUN_SECONDS)"
            ) from None
        if self.on_retry is not None:
            self.on_retry(
                {
                    "event": "retry",
                    "what": what,
                    "attempt": attempt + 1,
                    "tries": len(self.backoff) + 1,
                    "wait_seconds": self.backoff[attempt],
                    "error": f"{type(exc).__name__}: {short(exc)}",
                }
            )
        self.sleep(self.backoff[attempt])

    def __call__(self, what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        import ccxt

        for attempt in range(len(self.backoff) + 1):
            self.requests += 1
            try:
                return fn(*args, **kwargs)
            except ccxt.BadSymbol as exc:
                raise UsageError(f"{self.exchange.id}: {what}: {short(exc)}") from None
            except ccxt.NetworkError as exc:  # timeouts, cut connections, 429 (DDoSProtection), 5xx
                self._retry_or_fail(what, attempt, exc)
            except ccxt.BaseError as exc:
                status = self._status()
                if status is not None and (status == 429 or status >= 500):  # a JSON error body: still 5xx
                    self._retry_or_fail(what, attempt, exc)
                    continue
                raise FetchError(
                    f"{self.exchange.id}: {what}: {type(exc).__name__}: {short(exc)}{root_cause(exc)}"
                ) from None
            except (
                TypeError,
                ValueError,
                KeyError,
                IndexError,
                AttributeError,
            ) as exc:  # an unparsable answer
                raise FetchError(
                    f"{self.exchange.id}: {what}: the answer could not be read "
                    f"({type(exc).__name__}: {short(exc)})"
                ) from None


def resolve_market(exchange: Any, symbol: str, quote: str) -> str:
    """The unified market name (BTC/USDT); an unknown one is a UsageError with a did-you-mean."""
    market = f"{symbol}/{quote}"
    if market in (exchange.markets or {}):
        return market
    if not exchange.markets:  # an answer with no market in it is the server's fault, not a typo (exit 1)
        raise FetchError(
            f"{exchange.id}: its market list holds no market (an empty or unreadable answer); nothing was "
            "fetched, try again later"
        )
    from ..config import suggest

    pairs = sorted(exchange.markets)
    quotes = sorted({m["quote"] for m in exchange.markets.values() if m.get("base") == symbol})
    other = f" {symbol} trades there against: {', '.join(quotes[:10])} (use --quote)." if quotes else ""
    raise UsageError(f"{exchange.id} has no market {market}.{suggest(market, pairs)}{other}")


def check_rows(where: str, rows: Any) -> list:
    """Refuse an answer that is not a list of [timestamp_ms, open, high, low, close, (volume)] rows whose
    timestamps are milliseconds from 2009-01-03 (seconds would be a thousand times too small, and were
    silently filtered out as old candles)."""
    if not isinstance(rows, list):
        raise FetchError(f"{where}: the answer is not a list of candles ({str(rows)[:80]})")
    for n, row in enumerate(rows, start=1):
        ok = (
            isinstance(row, (list, tuple))
            and len(row) >= 5
            and isinstance(row[0], int)
            and not isinstance(row[0], bool)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row[1:5])
        )
        if not ok:
            raise FetchError(
                f"{where}: candle {n} of the answer is malformed ({str(row)[:80]}); "
                "expected [timestamp_ms, open, high, low, close, volume]"
            )
        if not EARLIEST_MS <= row[0] <= LATEST_MS:
            raise FetchError(
                f"{where}: candle {n} has timestamp {excerpt(row[0], 20)}, not milliseconds since 1970 "
                "for a day from 2009 on; the exchange's answer is not what mltrain asked for"
            )
    return rows


def check_raw(where: str, raw: Any, parsed: list) -> None:
    """The exchange's own JSON, before ccxt's parsing forgave it: a list must hold rows of 6 or more
    fields (rows sent as objects are left to ccxt and check_rows); an object (some exchanges wrap their
    candles) in which ccxt found no candles must not hide a non-empty list: `{"data": [...]}` read as
    "no candles" ended "up to date"."""
    if isinstance(raw, list):
        for n, row in enumerate(raw, start=1):
            if not (isinstance(row, dict) or isinstance(row, list) and len(row) >= 6):
                raise FetchError(
                    f"{where}: row {n} of the answer is not a candle of 6 or more fields "
                    f"[timestamp_ms, open, high, low, close, volume, ...] ({excerpt(row, 80)})"
                )
    elif isinstance(raw, dict) and not parsed and _holds_rows(raw):
        raise FetchError(
            f"{where}: the answer is an object with keys {excerpt(sorted(raw)[:5], 80)} holding rows "
            "ccxt does not read as candles; expected a list of candles"
        )


def _holds_rows(value: Any, depth: int = 0) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, dict) and depth < 3:
        return any(_holds_rows(v, depth + 1) for v in value.values())
    return False


def fetch_daily(
    call: Caller,
    exchange: Any,
    market: str,
    start: pd.Timestamp,
    today: pd.Timestamp,
    page_limit: int,
    progress: Callable[[dict], None],
) -> list:
    """Every candle from `start` through today's (dropped later), page by page."""
    where = f"{exchange.id} {market}"
    cursor = int(start.timestamp() * 1000)
    last_closed = int((today - pd.Timedelta(days=1)).timestamp() * 1000)
    rows: list = []
    while True:
        page = call(
            f"fetching {market} daily candles",
            exchange.fetch_ohlcv,
            market,
            "1d",
            since=cursor,
            limit=page_limit,
        )
        if exchange.last_json_response is None:
            # ccxt turns an unparsable or empty reply into an empty or odd list; a broken answer, not "no candles"
            text = str(exchange.last_http_response or "").strip()
            raise FetchError(
                f"{where}: the answer is not JSON ({short(text)[:80] if text else 'an empty body'})"
            )
        raw = exchange.last_json_response
        check_raw(where, raw, page)
        # the answer may repeat older candles (ccxt drops those before `since`): they must agree with the
        # earlier page's, read from the exchange's own JSON
        _same_as_before(
            where,
            rows,
            [r for r in raw if isinstance(r, list) and _number(r[0]) < cursor]
            if isinstance(raw, list)
            else [],
        )
        page = [r for r in check_rows(where, page) if r[0] >= cursor]
        if not page and isinstance(raw, list) and raw:
            # rows came, none in the range asked for: timestamps in seconds, or a server ignoring `since`
            raise FetchError(
                f"{where}: the answer's {len(raw)} rows are all before {pd.Timestamp(cursor, unit='ms').date()}, "
                "the day asked for (timestamps not in milliseconds?); nothing was stored"
            )
        if not page:
            return rows
        rows += page
        newest = max(r[0] for r in page)
        progress(
            {"event": "page", "candles": len(rows), "through": str(pd.Timestamp(newest, unit="ms").date())}
        )
        if newest >= last_closed:
            return rows
        cursor = newest + DAY_MS  # strictly later each page: the loop ends


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")  # not a timestamp: check_rows names it


def _same_as_before(where: str, rows: list, repeated: list, tolerance: float = 1e-6) -> None:
    """Candles a page repeats from an earlier page of the same fetch must agree with it: an answer that changes
    between pages (prices x10 from page 2 on) was stored as it came."""
    earlier = {int(r[0]): r[4] for r in rows}
    for r in repeated:
        before = earlier.get(int(_number(r[0])))
        if before is not None and abs(_number(r[4]) - float(before)) > tolerance * abs(float(before)):
            day = pd.Timestamp(int(_number(r[0])), unit="ms").date()
            raise FetchError(
                f"{where}: the close of {day} changed between two pages of one answer ({before} then {r[4]}); "
                "nothing was stored"
            )
