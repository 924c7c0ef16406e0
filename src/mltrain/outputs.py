"""Files the user names for output (--predictions, a report): written atomically when they are files, written
into when they are a FIFO or a character device, never renamed over one (as `cp` and `sort -o` do)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import ExitCode, MltrainError, RegistryError, UsageError
from .fsutil import atomic_write_bytes


def named_path(value: str | None, flag: str, want: str) -> Path | None:
    """The path a flag names; an empty one is refused (as a Path it read as '.', the current folder)."""
    if value is not None and not value.strip():
        raise UsageError(f"{flag} {value!r} names nothing; give {want}")
    return None if value is None else Path(value)


def check_output(path: Path, what: str) -> None:
    """Refuse at once (exit 2) an output path that can never take a file: a folder, a socket, a block device.
    A FIFO or a character device (/dev/stdout) is written into later; anything else is a file."""
    try:
        mode = os.stat(path).st_mode  # follows a link: the file it names is the output
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from exc
    if stat.S_ISDIR(mode):
        raise UsageError(f"{what} {path} is a folder; give a file name")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        raise UsageError(f"{what} {path} is neither a file, a FIFO nor a character device; give a file name")


def write_output(path: Path, data: bytes, what: str) -> Path:
    """Write a file the user named (--predictions, a report): a regular or new file atomically (a temporary
    file beside it, fsync, os.replace; a link is followed to the file it names); a FIFO or a character
    device (/dev/stdout) is written into and never renamed over, as `cp` and `sort -o` do. A FIFO nobody
    reads, a folder or a socket: UsageError (exit 2); a failed write (ENOSPC on /dev/full): exit 1."""
    check_output(path, what)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    device = str(path).startswith(("/dev/", "/proc/"))  # /dev/stdout redirected to a file: write into it
    if mode is None or stat.S_ISREG(mode) and not device:
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        try:
            atomic_write_bytes(target, data)
        except RegistryError as exc:
            raise MltrainError(f"{what}: {exc}") from exc
        return path
    try:  # O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of waiting; O_TRUNC only for files
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_TRUNC if stat.S_ISREG(mode) else 0)
        fd = os.open(path, flags)
    except OSError as exc:
        why = "no process is reading the FIFO" if exc.errno == errno.ENXIO else exc.strerror
        raise UsageError(f"{what} {path}: {why}; nothing was written") from exc
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, "")
        raise MltrainError(f"cannot write {what} {path}: {exc.strerror} ({code})", ExitCode.FAILURE) from exc
    finally:
        os.close(fd)
    return path
