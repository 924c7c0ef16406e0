"""The model registry: immutable version folders, aliases with a log, per-model locks; all writes via fsutil."""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .clock import now_iso
from .errors import ExitCode, LockBusyError, RegistryError, UsageError
from .fsutil import (append_line, atomic_write_json, clean_dead_staging, commit_staging_dir, ensure_dir,
                     make_staging_dir, read_json)
from .paths import Home

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
META_FILE, WEIGHTS_FILE, HISTORY_FILE = "metadata.json", "weights.safetensors", "history.csv"
ALIASES_FILE, ALIAS_LOG, LOCK_FILE = "aliases.json", "aliases.log.jsonl", ".lock"


def validate_name(name: str) -> str:
    """Checked before any path is built: no separators, dots or upper case."""
    if not NAME_RE.match(name or ""):
        raise UsageError(f"invalid model name {name!r}: use lower-case letters, digits, '_' and '-', "
                         "starting with a letter or digit (at most 64 characters)")
    return name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Registry:
    def __init__(self, home: Home):
        self.root = home.registry

    def model_dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    # ---------------------------------------------------------------- locks
    @contextmanager
    def lock(self, name: str, holder: dict, wait: bool = False) -> Iterator[None]:
        """flock on the model's lock file: the kernel drops it when the holder dies, so it is never stale."""
        path = ensure_dir(self.model_dir(name)) / LOCK_FILE
        try:
            handle = open(path, "a+")
        except OSError as exc:
            raise RegistryError(f"cannot open lock {path}: {exc.strerror}") from exc
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.seek(0)
                try:
                    info = json.loads(handle.read() or "{}")
                except json.JSONDecodeError:
                    info = {}
                raise LockBusyError(f"model {name} is being trained by job {info.get('job_id', '?')} "
                                    f"(pid {info.get('pid', '?')}); wait for it or pass --wait")
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({**holder, "pid": os.getpid()}))
            handle.flush()
            yield
        finally:
            handle.close()  # closing releases the flock

    # ---------------------------------------------------------------- reading
    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_RE.match(p.name)
                      and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        """Complete versions only: staging folders are hidden and a version dir exists only once renamed in."""
        folder = self.model_dir(name)
        if not folder.is_dir():
            return []
        out = []
        for item in folder.iterdir():
            if item.is_dir() and re.fullmatch(r"v\d+", item.name):
                out.append(int(item.name[1:]))
        return sorted(out)

    def require_version(self, name: str, version: int | None) -> int:
        versions = self.versions(name)
        if not versions:
            raise UsageError(f"no trained versions of model {name!r}; train it with `mltrain train {name}`")
        if version is None:
            production = self.aliases(name).get("production")
            return production if production is not None else versions[-1]
        if version not in versions:
            raise UsageError(f"model {name} has no version {version}; versions: {', '.join(map(str, versions))}")
        return version

    def meta(self, name: str, version: int) -> dict:
        return read_json(self.model_dir(name) / f"v{version}" / META_FILE)

    def aliases(self, name: str) -> dict:
        path = self.model_dir(name) / ALIASES_FILE
        return read_json(path) if path.is_file() else {}

    def alias_log(self, name: str) -> list[dict]:
        path = self.model_dir(name) / ALIAS_LOG
        if not path.is_file():
            return []
        rows = []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RegistryError(f"malformed JSON in {path} line {n}: {exc.msg}") from exc
        return rows

    def status(self, name: str, version: int, meta: dict | None = None) -> str:
        """production (the alias), archived (was production), rejected (failed its gate) or candidate."""
        meta = meta or self.meta(name, version)
        if self.aliases(name).get("production") == version:
            return "production"
        if any(row.get("to") == version for row in self.alias_log(name) if row.get("alias") == "production"):
            return "archived"
        return "candidate" if meta.get("gate", {}).get("passed", True) else "rejected"

    def load(self, name: str, version: int) -> tuple[dict, dict]:
        """Metadata and tensors, after checking every file's sha256; never unpickles."""
        from safetensors.torch import load_file

        folder = self.model_dir(name) / f"v{version}"
        meta = self.meta(name, version)
        for filename, expected in meta.get("files", {}).items():
            path = folder / filename
            if not path.is_file():
                raise RegistryError(f"model file {path} is missing; the version cannot be used")
            if sha256_file(path) != expected:
                raise RegistryError(f"model file {path} is corrupted (sha256 mismatch); retrain or use another version")
        return meta, load_file(str(folder / WEIGHTS_FILE))

    # ---------------------------------------------------------------- writing
    def write_version(self, name: str, tensors: dict, meta: dict, history_csv: str,
                      pause_hook=None) -> int:
        """Stage files in a hidden folder, fsync, metadata last, rename into place. Call under the lock."""
        from safetensors.torch import save_file

        folder = ensure_dir(self.model_dir(name))
        clean_dead_staging(folder)
        version = (self.versions(name) or [0])[-1] + 1
        staging = make_staging_dir(folder)
        try:
            save_file(tensors, str(staging / WEIGHTS_FILE))
            (staging / HISTORY_FILE).write_text(history_csv)
            if pause_hook:
                pause_hook()
            files = {f: sha256_file(staging / f) for f in (WEIGHTS_FILE, HISTORY_FILE)}
            (staging / META_FILE).write_text(json.dumps({**meta, "version": version, "files": files},
                                                        indent=2, default=str) + "\n")
            commit_staging_dir(staging, folder / f"v{version}")
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise RegistryError(f"cannot write model version in {folder}: {exc.strerror}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def set_alias(self, name: str, alias: str, version: int | None, reason: str) -> None:
        """Rewrite aliases.json atomically and append the change to the alias log."""
        aliases = self.aliases(name)
        previous = aliases.get(alias)
        aliases[alias] = version
        atomic_write_json(self.model_dir(name) / ALIASES_FILE, aliases)
        append_line(self.model_dir(name) / ALIAS_LOG, json.dumps({
            "alias": alias, "from": previous, "to": version, "at": now_iso(), "by": getpass.getuser(),
            "reason": reason}))

    def promote(self, name: str, version: int, reason: str = "manual promote") -> int | None:
        version = self.require_version(name, version)
        previous = self.aliases(name).get("production")
        self.set_alias(name, "production", version, reason)
        return previous

    def rollback(self, name: str) -> tuple[int | None, int]:
        """Production back to the version that held it before the current one."""
        current = self.aliases(name).get("production")
        if current is None:
            raise UsageError(f"model {name} has no production version to roll back from")
        target = self.rollback_target(name)
        if target is None:
            raise UsageError(f"model {name}: no earlier production version to roll back to")
        self.set_alias(name, "production", target, f"rollback from v{current}")
        return current, target

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

    def rollback_target(self, name: str) -> int | None:
        """The version `rollback` would restore: the newest still-present one that production moved away from
        to reach the current version."""
        current, present = self.aliases(name).get("production"), set(self.versions(name))
        for row in reversed([r for r in self.alias_log(name) if r.get("alias") == "production"]):
            if row.get("to") == current and row.get("from") in present:
                return row["from"]
        return None

    def prune(self, name: str, keep: int, dry_run: bool = False) -> tuple[list[int], list[int]]:
        """Remove all but the `keep` newest versions, never production or its rollback target."""
        if keep < 1:
            raise UsageError(f"--keep {keep} must be 1 or more")
        versions = self.versions(name)
        if not versions:
            raise UsageError(f"model {name} has no versions")
        protected = set(versions[-keep:]) | {self.aliases(name).get("production"), self.rollback_target(name)}
        doomed = [v for v in versions if v not in protected]
        if not dry_run:
            for version in doomed:
                self.remove(name, version)
        return doomed, [v for v in versions if v in protected]

    def remove(self, name: str, version: int) -> None:
        version = self.require_version(name, version)
        if self.aliases(name).get("production") == version:
            raise UsageError(f"v{version} is the production version of {name}; promote another version first",
                             ExitCode.USAGE)
        folder = self.model_dir(name)
        trash = make_staging_dir(folder)
        os.rename(folder / f"v{version}", trash / "removed")  # atomic: readers see it gone at once
        shutil.rmtree(trash, ignore_errors=True)
