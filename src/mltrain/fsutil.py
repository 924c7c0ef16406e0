"""Atomic writes and staged directories: the only place that renames into place."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
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
        code = errno.errorcode.get(exc.errno or 0, "")
        raise RegistryError(f"cannot write {path}: {exc.strerror}" + (f" ({code})" if code else "")) from exc


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


# caps on what mltrain reads back from its own home: far above anything it writes, low enough that a planted
# file cannot exhaust memory or the JSON parser
HOME_FILE_MAX_BYTES = 64 << 20  # metadata, aliases, job records, store CSVs, logs read back
WEIGHTS_MAX_BYTES = 2 << 30  # a version's tensors
JSON_MAX_DEPTH = 64  # mltrain's own files nest under 10 deep
JSON_MAX_INT_DIGITS = 40  # its integers are versions, counts, epoch-ms; Python refuses past 4300 digits
_FIX = "remove it or put back the file mltrain wrote"


def open_home_file(path: Path) -> int:
    """Open a file of the home for reading: a plain file only. O_NOFOLLOW refuses a symlink, O_NONBLOCK
    makes a FIFO open return at once instead of waiting for a writer, and fstat then refuses anything not a
    regular file (FIFO, device, socket, folder). Returns a blocking descriptor; errors name the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise RegistryError(f"missing file {path}") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RegistryError(f"refusing to read {path}: it is a symbolic link; {_FIX}") from exc
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a plain file"
        raise RegistryError(f"refusing to read {path}: it is {what}; {_FIX}")
    os.set_blocking(fd, True)
    return fd


def read_home_bytes(path: Path, max_bytes: int = HOME_FILE_MAX_BYTES) -> bytes:
    """The whole content of a plain file of the home, at most `max_bytes` (open_home_file's checks)."""
    fd = open_home_file(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise RegistryError(f"refusing to read {path}: larger than {max_bytes >> 20} MiB; {_FIX}")
    return data


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {JSON_MAX_INT_DIGITS})")
    return int(text)


def _too_deep(value: Any, limit: int) -> bool:
    """Is `value` nested deeper than `limit` lists/objects? (iterative: never recurses itself)"""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def parse_json(text: str, where: str) -> Any:
    """json.loads with bounds (nesting depth, integer digits); errors name `where` (a file, a line)."""
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        # "Unterminated string starting at", "Invalid control character at": a position, given below
        what = re.sub(r"( starting)? at$", "", exc.msg).lower()
        raise RegistryError(
            f"malformed JSON in {where} line {exc.lineno} column {exc.colno}: {what}; {_FIX}"
        ) from exc
    except ValueError as exc:  # _bounded_int, or a float Python cannot represent
        raise RegistryError(f"malformed JSON in {where}: {exc}; {_FIX}") from exc
    except RecursionError as exc:
        raise RegistryError(f"malformed JSON in {where}: nested too deeply; {_FIX}") from exc
    if _too_deep(value, JSON_MAX_DEPTH):
        raise RegistryError(f"malformed JSON in {where}: nested deeper than {JSON_MAX_DEPTH}; {_FIX}")
    return value


def read_home_text(path: Path, max_bytes: int = HOME_FILE_MAX_BYTES) -> str:
    data = read_home_bytes(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"malformed JSON in {path}: not UTF-8 text (byte {exc.start}); {_FIX}") from exc


def read_json(path: Path) -> Any:
    """Read a JSON file of the home (read_home_bytes' checks, parse_json's bounds), naming it in any error."""
    return parse_json(read_home_text(path), str(path))


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
