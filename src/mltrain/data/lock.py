"""One writer per symbol: an flock held for a data-store write's whole read-modify-write."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ..errors import LockBusyError
from ..fsutil import ensure_dir, open_nofollow

_held = threading.local()  # lock paths this thread holds: a nested write (import -> save) does not deadlock


def lock_path(root: Path, symbol: str) -> Path:
    return root / f".{symbol}.lock"


def _holder(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


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

    flock is dropped by the kernel when the holder dies, so a crashed writer never leaves a stale lock.
    The lock file is opened with O_NOFOLLOW: a planted symlink is refused, never truncated through.
    """
    path = lock_path(root, symbol)
    held: set[str] = _held.__dict__.setdefault("paths", set())
    if str(path) in held:  # this thread already holds it (an import that saves)
        yield
        return
    ensure_dir(root)
    fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = _describe(symbol, _holder(fd))
            if not wait:
                raise LockBusyError(f"{message}; wait for it or pass --wait") from None
            if on_wait is not None:
                on_wait(f"waiting: {message}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {
            "pid": os.getpid(),
            "command": command,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        held.add(str(path))
        try:
            yield
        finally:
            held.discard(str(path))
    finally:
        os.close(fd)  # closing releases the flock
