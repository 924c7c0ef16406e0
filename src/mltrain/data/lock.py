"""One writer per symbol: an flock held for a data-store write's whole read-modify-write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..errors import LockBusyError
from ..fsutil import exclusive_lock


def lock_path(root: Path, symbol: str) -> Path:
    return root / f".{symbol}.lock"


def _describe(symbol: str, info: dict) -> str:
    what = info.get("command", "another mltrain process")
    since = f" since {info['since']}" if info.get("since") else ""
    return f"{symbol} in the data store is being written by pid {info.get('pid', '?')} ({what}{since})"


@contextmanager
def symbol_lock(
    root: Path,
    symbol: str,
    command: str,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold SYMBOL's write lock; busy -> LockBusyError (exit 2) naming the holder, or wait for it.

    A thin wrapper over fsutil.exclusive_lock (the registry's primitive): flock, dropped by the kernel when
    the holder dies, the file opened without following symlinks, re-entrant within a thread (an import that
    saves takes it twice)."""
    holder = {"command": command, "since": datetime.now(UTC).isoformat(timespec="seconds")}

    def busy(info: dict) -> Exception:
        return LockBusyError(f"{_describe(symbol, info)}; wait for it or pass --wait")

    def waiting(info: dict) -> None:
        if on_wait is not None:
            on_wait(f"waiting: {_describe(symbol, info)}")

    with exclusive_lock(lock_path(root, symbol), holder, busy, wait, waiting):
        yield
