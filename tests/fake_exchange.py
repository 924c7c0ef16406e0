"""A small Binance-like public REST server on 127.0.0.1 for the `data update` tests (no internet).

It speaks the two endpoints ccxt's binance calls for markets and daily candles:
GET /api/v3/exchangeInfo and GET /api/v3/klines?symbol=&interval=1d&startTime=&endTime=&limit=.
Faults are queued per klines request or set for every one (`always`): "429", "500" (an HTML body),
"json429", "json500", "json502" (Binance's JSON error body), "garbage", "cut" (truncated), "wrapped"
(`{"data": [...]}` instead of a list), "seconds" (timestamps in seconds), "short" (rows of 4 fields),
"trickle" (one byte every `trickle_seconds`), "huge" (a valid page padded past `huge_bytes`).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

DAY_MS = 86_400_000
MAX_LIMIT = 1000
OHLCV = ("open", "high", "low", "close", "volume")


def market(base: str, quote: str = "USDT") -> dict:
    return {
        "symbol": f"{base}{quote}",
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.0", "stepSize": "0.00001"},
        ],
    }


def klines(frame: pd.DataFrame) -> list[list]:
    """Binance kline rows (prices as strings) for a daily frame indexed by date (column by column: iterrows
    took a third of a second per series, and the tests build dozens)."""
    opens = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.tolist()  # midnight UTC, in ms
    prices = {c: [f"{v:.8f}" for v in frame[c].to_numpy(dtype=float)] for c in OHLCV}
    return [
        [t, *(prices[c][k] for c in OHLCV), t + DAY_MS - 1, "0", 100, "0", "0", "0"]
        for k, t in enumerate(opens)
    ]


class FakeExchange:
    """Serve `series` ({"BTCUSDT": daily frame}) until stopped; records every request it answers."""

    def __init__(self, series: dict[str, pd.DataFrame]):
        self.series = {name: klines(frame) for name, frame in series.items()}
        self.faults: list[str] = []
        self.always: str | None = None
        self.requests: list[tuple[str, dict]] = []
        self.trickle_seconds = 0.05
        self.huge_bytes = 1 << 20
        self.redirect_to: str | None = None  # fault "redirect": a 302 to this base URL
        self.info_body: bytes | None = None  # the market list's answer instead of the served markets
        self.stopped = threading.Event()  # ends a trickling answer when the test is over
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def klines_requests(self) -> list[dict]:
        return [params for path, params in self.requests if path.endswith("/klines")]

    def serve(self, name: str, frame: pd.DataFrame) -> None:
        """Serve `frame` as market `name` (e.g. BTCUSDT) from now on."""
        with self._lock:
            self.series[name] = klines(frame)

    def __enter__(self) -> FakeExchange:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def _next_fault(self) -> str | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else self.always

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        exchange = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with exchange._lock:
                    exchange.requests.append((url.path, params))
                if url.path == "/api/v3/exchangeInfo" and exchange.info_body is not None:
                    return self.send(200, exchange.info_body)
                if url.path == "/api/v3/exchangeInfo":
                    symbols = [market(n[:-4], n[-4:]) for n in exchange.series]
                    body = {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "symbols": symbols}
                    return self.send(200, json.dumps(body).encode())
                if url.path != "/api/v3/klines":
                    return self.send(404, b'{"code": -1, "msg": "not found"}')
                fault = exchange._next_fault()
                if fault == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"{exchange.redirect_to}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if fault == "429":
                    return self.send(429, b'{"code": -1003, "msg": "Too many requests"}')
                if fault == "500":
                    return self.send(500, b"<html>Internal Server Error</html>", "text/html")
                if fault in ("json429", "json500", "json502"):
                    body = (
                        b'{"code": -1000, "msg": "An unknown error occurred while processing the request."}'
                    )
                    return self.send(int(fault[4:]), body)
                if fault == "empty":
                    return self.send(200, b"")
                if fault == "garbage":
                    return self.send(200, b'[[1700000000000, "1", "2"', "application/json")
                with exchange._lock:
                    rows = exchange.series.get(params.get("symbol", ""))
                if rows is None:
                    return self.send(400, b'{"code": -1121, "msg": "Invalid symbol."}')
                start = int(params.get("startTime", 0))
                end = int(params.get("endTime", 2**62))
                limit = min(int(params.get("limit", 500)), MAX_LIMIT)
                page = [r for r in rows if start <= r[0] <= end][:limit]
                if fault == "hole":  # ten days missing from the middle of the answer
                    page = page[:5] + page[15:]
                if fault == "repeat_changed":  # the three days before the page again, their closes x3
                    before = [
                        [*r[:4], str(float(r[4]) * 3), *r[5:]]
                        for r in rows
                        if start - 3 * DAY_MS <= r[0] < start
                    ]
                    page = before + page
                body = json.dumps(page).encode()
                if fault == "wrapped":
                    body = json.dumps({"data": page}).encode()
                if fault == "seconds":
                    body = json.dumps([[r[0] // 1000, *r[1:6], r[6] // 1000, *r[7:]] for r in page]).encode()
                if fault == "short":
                    body = json.dumps([r[:4] for r in page]).encode()
                if fault == "huge":
                    body = body[:-1] + b" " * exchange.huge_bytes + b"]"
                if fault == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for k in range(len(body)):
                        if exchange.stopped.wait(exchange.trickle_seconds):
                            break
                        try:
                            self.wfile.write(body[k : k + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up
                            break
                    self.close_connection = True
                    return
                if fault == "cut":
                    # the headers promise the whole page; half of it arrives, then the socket closes
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                return self.send(200, body)

        return Handler
