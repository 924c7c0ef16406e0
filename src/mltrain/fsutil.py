"""Atomic writes and staged directories: the only place that renames into place."""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import RegistryError

STAGING_PREFIX = ".staging-"


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


def append_line(path: Path, line: str) -> None:
    """Append one line with O_APPEND (each write lands whole) and fsync it."""
    ensure_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line.rstrip("\n") + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise RegistryError(f"cannot append to {path}: {exc.strerror}") from exc


def read_json(path: Path) -> Any:
    """Read a JSON file, naming it in any error."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise RegistryError(f"missing file {path}") from exc
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"malformed JSON in {path} line {exc.lineno}: {exc.msg}") from exc


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
        item.chmod(mode)  # some writers (safetensors) create 0600 files; a version is as readable as its folder
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
            pid = int(item.name[len(STAGING_PREFIX):].split("-", 1)[0])
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
            raise RegistryError(f"{path} is a symbolic link; mltrain refuses to write through links. "
                                "Remove it and rerun") from exc
        raise RegistryError(f"cannot open {path}: {exc.strerror}") from exc
