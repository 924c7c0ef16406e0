"""The model registry: immutable version folders, aliases with a log, per-model locks; all writes via fsutil."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .clock import now_iso
from .errors import LockBusyError, RegistryError, UsageError, excerpt
from .fsutil import (
    WEIGHTS_MAX_BYTES,
    append_line,
    atomic_write_json,
    clean_dead_staging,
    commit_staging_dir,
    ensure_dir,
    exclusive_lock,
    make_staging_dir,
    open_home_file,
    parse_json,
    read_home_bytes,
    read_home_text,
    read_json,
    truncate_to,
)
from .metadata import check_meta
from .paths import Home
from .retention import Retention

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # always fullmatch: "$" would allow a final newline
VERSION_DIR_RE = re.compile(r"v[1-9][0-9]*")  # ASCII digits only: "\d" also takes other scripts' digits
META_FILE, WEIGHTS_FILE, HISTORY_FILE = "metadata.json", "weights.safetensors", "history.csv"
ALIASES_FILE, ALIAS_LOG, LOCK_FILE = "aliases.json", "aliases.log.jsonl", ".lock"
_NO_LINK = "move the folder here in place of the link (mltrain never follows links inside its home)"
COUNTER_FILE = "counter.json"  # {"last_version": N}: numbers are never handed out twice


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (some containers)
        return str(os.getuid())


def validate_name(name: str) -> str:
    """Checked before any path is built: no separators, dots, upper case or trailing newline."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid model name {excerpt(name)}: use lower-case letters, digits, '_' and '-', "
            "starting with a letter or digit (at most 64 characters)"
        )
    return name


def sha256_file(path: Path) -> str:
    """sha256 of a plain file (fsutil.open_home_file: a FIFO or a link in a version folder never blocks)."""
    digest = hashlib.sha256()
    with os.fdopen(open_home_file(path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Promotion:
    """What a promote did: `changed` is False when the version already was production (nothing logged)."""

    name: str
    version: int
    previous: int | None
    changed: bool
    status_before: str  # production, archived, candidate or rejected


class Registry(Retention):
    def __init__(self, home: Home, known_names: tuple[str, ...] = ()):
        self.root = home.registry
        self.known_names = known_names  # built-in model names (the face passes them): where a typo points

    def no_versions(self, name: str) -> UsageError:
        """No version of NAME: a name close to one that exists is a typo, pointed at that name, never told to
        train the typo."""
        from .textutil import suggest

        others = [n for n in dict.fromkeys([*self.models(), *self.known_names]) if n != name]
        hint = suggest(name, others)
        if hint:
            return UsageError(f"no model {name!r} in the registry.{hint}")
        return UsageError(f"no trained versions of model {name!r}; train it with `mltrain train {name}`")

    def model_dir(self, name: str) -> Path:
        """The model's folder; a symbolic link there is refused for reading and writing alike (paths.Home)."""
        folder = self.root / validate_name(name)
        if folder.is_symlink():  # the lock and every file beside it would land wherever the link points
            raise RegistryError(f"refusing to use {folder}: the model folder is a symbolic link; {_NO_LINK}")
        return folder

    # ---------------------------------------------------------------- locks
    def lock(
        self, name: str, holder: dict, wait: bool = False, on_wait: Callable[[dict], None] | None = None
    ) -> AbstractContextManager[None]:
        """The model's lock, held by a training run for its whole run and by promote, rollback, rm and
        prune for their read-modify-write of aliases.json. Re-entrant per thread (fsutil.exclusive_lock)."""
        folder = self.model_dir(name)
        return exclusive_lock(
            folder / LOCK_FILE, holder, lambda info: LockBusyError(_busy_message(name, info)), wait, on_wait
        )

    # ---------------------------------------------------------------- reading
    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and not p.is_symlink() and NAME_RE.fullmatch(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        """Complete versions only: staging folders are hidden and a version dir exists only once renamed in."""
        folder = self.model_dir(name)
        if not folder.is_dir():
            return []
        return sorted(
            int(item.name[1:])
            for item in folder.iterdir()
            if item.is_dir() and VERSION_DIR_RE.fullmatch(item.name)
        )

    def require_version(self, name: str, version: int | None) -> int:
        versions = self.versions(name)
        if not versions:
            raise self.no_versions(name)
        if version is None:
            production = self.aliases(name).get("production")
            return production if production is not None else versions[-1]
        if version not in versions:
            raise UsageError(
                f"model {name} has no version {version}; versions: {', '.join(map(str, versions))}"
            )
        return version

    def serving_version(self, name: str, version: int | None = None) -> tuple[int, str]:
        """The version predict serves and its status: the one asked for, else production; without a
        production version, refuse (exit 2) rather than serve a version nobody promoted."""
        if version is not None:
            version = self.require_version(name, version)
            return version, self.status(name, version)
        versions = self.versions(name)
        if not versions:
            raise self.no_versions(name)
        production = self.aliases(name).get("production")
        if production is None:
            latest = versions[-1]
            state = self.status(name, latest)
            said = "was rejected by its gate" if state == "rejected" else f"is a {state}"
            raise UsageError(
                f"no production version of {name} (v{latest} {said}); "
                f"pass --version {latest} to use it anyway"
            )
        if production not in versions:
            raise RegistryError(
                f"{self.model_dir(name) / ALIASES_FILE} names production v{production}, "
                f"which does not exist; promote another version"
            )
        return production, "production"

    def meta(self, name: str, version: int) -> dict:
        """A version's metadata, its shape checked so a damaged file is named here, not a TypeError later."""
        path = self.model_dir(name) / f"v{version}" / META_FILE
        return check_meta(read_json(path), path, version)

    def aliases(self, name: str) -> dict:
        path = self.model_dir(name) / ALIASES_FILE
        if not path.exists() and not path.is_symlink():
            return {}
        aliases = read_json(path)
        numbers = isinstance(aliases, dict) and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in aliases.values()
        )
        if not numbers:
            raise RegistryError(f"{path} is corrupted: expected an object of alias: version number")
        return aliases

    def alias_log(self, name: str) -> list[dict]:
        path = self.model_dir(name) / ALIAS_LOG
        if not path.exists() and not path.is_symlink():
            return []
        rows = []
        for n, line in enumerate(read_home_text(path).splitlines(), start=1):
            row = parse_json(line, f"{path} line {n}")
            if not isinstance(row, dict):
                raise RegistryError(f"malformed entry in {path} line {n}: expected an object")
            rows.append(row)
        return rows

    def status(self, name: str, version: int, meta: dict | None = None) -> str:
        """production (the alias), archived (was production), rejected (failed its gate) or candidate."""
        meta = meta or self.meta(name, version)
        if self.aliases(name).get("production") == version:
            return "production"
        if any(
            row.get("to") == version and self._same(name, version, row.get("to_id"), row.get("at"))
            for row in self.alias_log(name)
            if row.get("alias") == "production"
        ):
            return "archived"
        return "candidate" if meta.get("gate", {}).get("passed", True) else "rejected"

    def _same(self, name: str, version: object, creation_id: object, at: object) -> bool:
        """Does a log entry's version number still mean the version it named? The creation id says so; a
        legacy entry without one (numbers were once reused) only matches a version created before it."""
        if not isinstance(version, int) or version not in self.versions(name):
            return False
        meta = self.meta(name, version)
        if creation_id is not None:
            return meta.get("creation_id") == creation_id
        if meta.get("creation_id") is not None:
            return False
        try:
            return datetime.fromisoformat(meta["created_at"]) <= datetime.fromisoformat(str(at))
        except (ValueError, TypeError):
            return True

    def load(self, name: str, version: int) -> tuple[dict, dict]:
        """Metadata and tensors, after checking every file's sha256; never unpickles."""
        from safetensors.torch import load

        folder = self.model_dir(name) / f"v{version}"
        meta = self.meta(name, version)
        for filename, expected in meta["files"].items():
            path = folder / filename
            if not path.exists() and not path.is_symlink():
                raise RegistryError(f"model file {path} is missing; the version cannot be used")
            if sha256_file(path) != expected:
                raise RegistryError(
                    f"model file {path} is corrupted (sha256 mismatch); retrain or use another version"
                )
        # read through the plain-file reader, like every file of the home (never a FIFO or a link)
        weights = read_home_bytes(folder / WEIGHTS_FILE, WEIGHTS_MAX_BYTES)
        try:
            tensors = load(weights)
        except Exception as exc:  # safetensors raises its own error type for a truncated or garbled file
            raise RegistryError(
                f"model file {folder / WEIGHTS_FILE} is corrupted ({excerpt(str(exc), 80)}); "
                "retrain or use another version"
            ) from exc
        return meta, tensors

    # ---------------------------------------------------------------- writing
    def _last_version(self, name: str) -> int:
        """The highest number ever handed out: the counter, or the newest folder if that is higher."""
        path = self.model_dir(name) / COUNTER_FILE
        last = 0
        if path.exists() or path.is_symlink():
            last = self._counter_value(path)
        return max([last, *self.versions(name)])

    def _counter_value(self, path: Path) -> int:
        data = read_json(path)
        last = data.get("last_version") if isinstance(data, dict) else None
        if not isinstance(last, int) or isinstance(last, bool) or last < 0:
            raise RegistryError(f'{path} is corrupted: expected {{"last_version": N}}')
        return last

    def _save_counter(self, name: str, last: int) -> None:
        atomic_write_json(self.model_dir(name) / COUNTER_FILE, {"last_version": last})

    def write_version(self, name: str, tensors: dict, meta: dict, history_csv: str, pause_hook=None) -> int:
        """Stage files in a hidden folder, fsync, metadata last, rename into place. Call under the lock."""
        from safetensors.torch import save_file

        folder = ensure_dir(self.model_dir(name))
        clean_dead_staging(folder)
        version = self._last_version(name) + 1
        staging = make_staging_dir(folder)
        try:
            save_file(tensors, str(staging / WEIGHTS_FILE))
            (staging / HISTORY_FILE).write_text(history_csv)
            if pause_hook:
                pause_hook()
            files = {f: sha256_file(staging / f) for f in (WEIGHTS_FILE, HISTORY_FILE)}
            # the creation id tells this version from any other that held its number (alias-log entries)
            stamped = {**meta, "version": version, "creation_id": uuid.uuid4().hex, "files": files}
            (staging / META_FILE).write_text(json.dumps(stamped, indent=2, default=str) + "\n")
            commit_staging_dir(staging, folder / f"v{version}")
            # after the rename: until the counter is written the folder itself keeps the number taken
            self._save_counter(name, version)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise RegistryError(f"cannot write model version in {folder}: {exc.strerror}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def _creation_id(self, name: str, version: int | None) -> str | None:
        if version is None or version not in self.versions(name):
            return None
        return self.meta(name, version).get("creation_id")

    def set_alias(self, name: str, alias: str, version: int | None, reason: str) -> None:
        """Log the change, then rewrite aliases.json atomically; if that fails the log line is taken back,
        so the aliases never change without their log entry. Call under the model's lock."""
        folder = self.model_dir(name)
        aliases = self.aliases(name)
        previous = aliases.get(alias)
        entry = {
            "alias": alias,
            "from": previous,
            "from_id": self._creation_id(name, previous),
            "to": version,
            "to_id": self._creation_id(name, version),
            "at": now_iso(),
            "by": _user(),
            "reason": reason,
        }
        size = append_line(folder / ALIAS_LOG, json.dumps(entry))
        try:
            atomic_write_json(folder / ALIASES_FILE, {**aliases, alias: version})
        except BaseException:
            try:
                truncate_to(folder / ALIAS_LOG, size)
            except RegistryError:
                pass  # the aliases error below is the one to report
            raise

    def promote_version(
        self,
        name: str,
        version: int,
        reason: str = "manual promote",
        force: bool = False,
        wait: bool = False,
        on_wait: Callable[[dict], None] | None = None,
    ) -> Promotion:
        """Make `version` production under the model's lock. Already production: nothing changes or is logged.
        A version its gate rejected needs force=True."""
        self.require_version(name, version)  # an unknown model or version fails before a lock folder is made
        with self.lock(name, {"command": "models promote"}, wait, on_wait):
            version = self.require_version(name, version)
            previous = self.aliases(name).get("production")
            state = self.status(name, version)
            if previous == version:
                return Promotion(name, version, previous, False, state)
            if state == "rejected" and not force:
                rule = self.meta(name, version).get("gate", {}).get("rule")
                raise UsageError(
                    f"v{version} of {name} was rejected by its promotion gate"
                    + (f" ({rule})" if rule else "")
                    + "; pass --force to promote it anyway"
                )
            self.set_alias(name, "production", version, reason)
            return Promotion(name, version, previous, True, state)

    def promote(
        self, name: str, version: int, reason: str = "manual promote", force: bool = False
    ) -> int | None:
        """promote_version returning only the previous production version (the older call's shape)."""
        return self.promote_version(name, version, reason, force).previous

    # ---------------------------------------------------------------- evaluation records
    def save_evaluation(self, name: str, record: dict) -> Path:
        """Evaluation results live beside the versions; they never touch versions or aliases."""
        path = self.model_dir(name) / "evaluations" / f"{record['evaluation_id']}.json"
        atomic_write_json(path, record)
        return path

    def evaluations(self, name: str) -> list[dict]:
        folder = self.model_dir(name) / "evaluations"
        if not folder.is_dir():
            return []
        return [read_json(p) for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")]


def _busy_message(name: str, info: dict) -> str:
    pid = str(info.get("pid", "?"))[:20]  # the lock file is only advice: never echo much of it
    if "command" in info and "job_id" not in info:
        who = f"is being changed by `mltrain {str(info['command'])[:60]}` (pid {pid})"
    else:
        who = f"is being trained by job {str(info.get('job_id', '?'))[:60]} (pid {pid})"
    return f"model {name} {who}; wait for it or pass --wait"
