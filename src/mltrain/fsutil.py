"""Atomic writes and staged directories: the only place that renames into place."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import RegistryError

STAGING_PREFIX = ".staging-"
# locks this process holds, per (lock file, thread): the same thread may re-enter (a train that promotes)
_HELD: dict[tuple[str, int], int] = {}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back
    os.umask(mask)
    return mask


def ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"cannot create folder {path}: {exc.strerror}") from exc
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a temporary file beside `path`, fsync it, then os.replace: readers see old or new, never half."""
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RegistryError(f"cannot write in {path.parent}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a registry file gets the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # atomic on POSIX within one file system
        _fsync_dir(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RegistryError(f"cannot write {path}: {exc.strerror}") from exc


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n").encode())


def open_no_symlink(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open for writing that refuses a symlink (O_NOFOLLOW), a hard-linked file or anything but a plain
    file: a link planted in the home must never redirect a write (or a truncation) to a file outside it."""
    try:
        # O_NONBLOCK: a FIFO planted at `path` fails or returns at once instead of hanging; no effect on files
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RegistryError(f"refusing to open {path}: it is a symbolic link; remove it") from exc
        raise RegistryError(f"cannot open {path}: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        what = "not a plain file" if not stat.S_ISREG(info.st_mode) else "a hard link to another file"
        raise RegistryError(f"refusing to open {path}: it is {what}; remove it")
    return fd


@contextmanager
def exclusive_lock(
    path: Path,
    holder: dict,
    busy: Callable[[dict], Exception],
    wait: bool = False,
    on_wait: Callable[[dict], None] | None = None,
) -> Iterator[None]:
    """flock on `path` (opened without following symlinks); the kernel drops it when the holder dies, so it
    is never stale. The holder's details are written into the file for the next comer's message. Without
    `wait`, a busy lock raises busy(holder_info); with it, on_wait(holder_info) is called, then it blocks.
    Re-entrant within one thread."""
    key = (str(path), threading.get_ident())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    ensure_dir(path.parent)
    handle = os.fdopen(open_no_symlink(path, os.O_RDWR | os.O_CREAT), "r+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _lock_holder(handle)
            if not wait:
                raise busy(info) from None
            if on_wait is not None:
                on_wait(info)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({**holder, "pid": os.getpid()}))
        handle.flush()
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        handle.close()  # closing releases the flock


def _lock_holder(handle) -> dict:  # type: ignore[no-untyped-def]
    handle.seek(0)
    try:
        info = json.loads(handle.read(4096) or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def append_line(path: Path, line: str) -> int:
    """Append one line with O_APPEND (each write lands whole) and fsync it; returns the size before, so a
    caller can take the line back with truncate_to."""
    ensure_dir(path.parent)
    fd = open_no_symlink(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        os.write(fd, (line.rstrip("\n") + "\n").encode())
        os.fsync(fd)
        return size
    except OSError as exc:
        raise RegistryError(f"cannot append to {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def truncate_to(path: Path, size: int) -> None:
    """Cut a file back to `size` bytes (undo an append whose companion write failed)."""
    fd = open_no_symlink(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        raise RegistryError(f"cannot truncate {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    """Read a JSON file, naming it in any error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RegistryError(f"missing file {path}") from exc
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise RegistryError(f"malformed JSON in {path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"malformed JSON in {path} line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise RegistryError(f"malformed JSON in {path}: nested too deeply") from exc


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def make_staging_dir(parent: Path) -> Path:
    """A hidden folder on the same file system as its final place, named after this pid."""
    ensure_dir(parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=parent))
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the committed version folder keeps this mode
        return staging
    except OSError as exc:
        raise RegistryError(f"cannot write in {parent}: {exc.strerror}") from exc


def commit_staging_dir(staging: Path, final: Path) -> None:
    """fsync every file, then rename the folder into place: a version appears whole or not at all."""
    mode = 0o666 & ~_umask()
    for item in staging.iterdir():
        item.chmod(
            mode
        )  # some writers (safetensors) create 0600 files; a version is as readable as its folder
        fsync_file(item)
    _fsync_dir(staging)
    try:
        os.rename(staging, final)  # atomic; fails if `final` exists, which the model lock prevents
    except OSError as exc:
        raise RegistryError(f"cannot move {staging} to {final}: {exc.strerror}") from exc
    _fsync_dir(final.parent)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def process_identity(pid: int) -> str | None:
    """Boot id and start time of a process (Linux): tells a live job from a new process that reused its pid,
    for example after a reboot. None where /proc cannot say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, counted after the command name


def clean_dead_staging(parent: Path) -> list[Path]:
    """Remove staging folders left by processes that no longer run."""
    removed = []
    if not parent.is_dir():
        return removed
    for item in parent.iterdir():
        if not item.name.startswith(STAGING_PREFIX):
            continue
        try:
            pid = int(item.name[len(STAGING_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            shutil.rmtree(item, ignore_errors=True)
            removed.append(item)
    return removed


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open that refuses a symlink at `path` (O_NOFOLLOW): a planted link cannot redirect a write
    outside the home. Returns the file descriptor; raises RegistryError naming the path."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RegistryError(
                f"{path} is a symbolic link; mltrain refuses to write through links. Remove it and rerun"
            ) from exc
        raise RegistryError(f"cannot open {path}: {exc.strerror}") from exc
