"""Bounded HTTP for exchange requests: a total deadline per request and per run, and a cap on an answer's
size. ccxt (through requests) only bounds each socket read, so a server that sends one byte every few
seconds would hold a `data update` (and its locks) for ever; pip and requests' own advice is a total
deadline for a download. The limits come from the environment, read once per run by the face (cli/data.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import FetchError, UsageError

REQUEST_ENV = "MLTRAIN_FETCH_REQUEST_SECONDS"  # one request: connect, headers and the whole body
RUN_ENV = "MLTRAIN_FETCH_RUN_SECONDS"  # a whole `data update` (or `train --update-data`), retries included
REQUEST_SECONDS = 20.0
RUN_SECONDS = 180.0
MAX_ANSWER_BYTES = 32 << 20  # a page of 1000 daily candles is ~150 KB; Binance's market list ~20 MB
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class FetchLimits:
    request_seconds: float = REQUEST_SECONDS
    run_seconds: float = RUN_SECONDS
    max_bytes: int = MAX_ANSWER_BYTES


def limits_from_env(environ: Mapping[str, str]) -> FetchLimits:
    """MLTRAIN_FETCH_REQUEST_SECONDS and MLTRAIN_FETCH_RUN_SECONDS (positive seconds), else the defaults."""
    values = {}
    for name, field, default in (
        (REQUEST_ENV, "request_seconds", REQUEST_SECONDS),
        (RUN_ENV, "run_seconds", RUN_SECONDS),
    ):
        text = environ.get(name, "").strip()
        try:
            values[field] = float(text) if text else default
        except ValueError:
            values[field] = -1.0
        if not 0 < values[field] < 86_400:
            raise UsageError(
                f"{name}={text[:40]!r} must be a number of seconds above 0 (default {default:g})"
            )
    return FetchLimits(**values)


def bounded_session(limits: FetchLimits, clock: Callable[[], float] = time.monotonic) -> Any:
    """A requests.Session for ccxt whose every request ends within its deadline (the smaller of the
    request's and what is left of the run's), whatever the server does, and whose answers are capped.
    It remembers the last HTTP status so that a 5xx or 429 is retried whatever its body says."""
    import requests

    class BoundedSession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.limits, self.clock = limits, clock
            self.ends_at = clock() + limits.run_seconds
            self.last_status: int | None = None

        def left(self) -> float:
            return self.ends_at - self.clock()

        def request(self, method, url, **kwargs):  # type: ignore[no-untyped-def, override]
            left = self.left()
            if left <= 0:
                raise FetchError(
                    f"{_host(url)}: the run's deadline of {self.limits.run_seconds:g} s passed ({RUN_ENV})"
                )
            seconds = min(self.limits.request_seconds, left)
            kwargs.update(stream=True, timeout=(seconds, seconds))
            self.last_status = None
            box: dict = {}
            done = threading.Event()

            def work() -> None:
                try:
                    box["response"] = self._read(method, url, kwargs, box)
                except BaseException as exc:  # handed to the caller's thread below
                    box["error"] = exc
                finally:
                    done.set()

            threading.Thread(target=work, name="mltrain-fetch", daemon=True).start()
            if not done.wait(seconds):
                box["cancelled"] = True
                _abort(box.get("raw"))
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer from {_host(url)} within {seconds:g} s ({REQUEST_ENV})"
                )
            if "error" in box:
                raise box["error"]
            response = box["response"]
            self.last_status = response.status_code
            return response

        def _read(self, method, url, kwargs, box):  # type: ignore[no-untyped-def]
            response = requests.Session.request(self, method, url, **kwargs)
            box["raw"] = response.raw
            if response.history and _host(response.url) != _host(url):  # candles come from the host asked
                response.close()
                raise FetchError(
                    f"{_host(url)} redirected to {_host(response.url)}; refused, nothing was stored"
                )
            chunks, size = [], 0
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if size > self.limits.max_bytes or box.get("cancelled"):
                    response.close()
                    if box.get("cancelled"):
                        return response
                    raise FetchError(
                        f"{_host(url)}: the answer is larger than {self.limits.max_bytes:,} bytes; refused"
                    )
                chunks.append(chunk)
            response._content = b"".join(chunks)  # what response.text and .json() read from now on
            response._content_consumed = True
            return response

    return BoundedSession()


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url[:60]


def _abort(raw: Any) -> None:
    """Best effort: shut the socket of an abandoned answer so its reading thread ends soon."""
    try:
        sock = raw._connection.sock if raw is not None and raw._connection is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        pass
