"""Retention half of the registry: rollback, prune and rm, each under the model's lock. Mixed into
registry.Registry, whose methods (lock, aliases, alias_log, set_alias, versions...) these use."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from .errors import ExitCode, RegistryError, UsageError
from .fsutil import make_staging_dir

_REPAIR = (
    "the registry is inconsistent, so nothing was removed or changed; promote an existing version "
    "(`mltrain models promote NAME N`) or restore the file from a backup"
)


class Retention:
    """Which versions go, and which one production falls back to."""

    def rollback(
        self, name: str, wait: bool = False, on_wait: Callable[[dict], None] | None = None
    ) -> tuple[int | None, int]:
        """Production back to the version that held it before the current one; rolling back again goes one
        further back (v1, v2, v3 promoted: rollback gives v2, then v1), never back and forth."""
        self.require_version(name, None)
        with self.lock(name, {"command": "models rollback"}, wait, on_wait):
            self.check_consistent(name)
            current = self.aliases(name).get("production")
            if current is None:
                raise UsageError(f"model {name} has no production version to roll back from")
            target = self.rollback_target(name)
            if target is None:
                raise UsageError(f"model {name}: no earlier production version to roll back to")
            self.set_alias(name, "production", target, f"rollback from v{current}")
            return current, target

    def check_consistent(self, name: str) -> None:
        """Before anything is removed or an alias moved back: every alias names an existing version whose
        metadata reads (a gate-rejected one only if the alias log shows it was promoted), and the counter
        is at or above every version. Anything else is a damaged registry: refuse (exit 1), change nothing,
        as git and SQLite re-validate the state a destructive operation acts on."""
        folder = self.model_dir(name)
        versions = self.versions(name)
        for alias, version in self.aliases(name).items():
            if version is None:
                continue
            where = f"{folder / 'aliases.json'} names {alias} v{version}"
            if version not in versions:
                raise RegistryError(f"{where}, which does not exist; {_REPAIR}")
            meta = self.meta(name, version)
            promoted = any(
                row.get("alias") == alias and row.get("to") == version for row in self.alias_log(name)
            )
            if not meta.get("gate", {}).get("passed", True) and not promoted:
                raise RegistryError(f"{where}, which its gate rejected and no promotion logged; {_REPAIR}")
        counter = folder / "counter.json"
        if versions and (counter.exists() or counter.is_symlink()):
            last = self._counter_value(counter)
            if last < versions[-1]:
                raise RegistryError(
                    f"{counter} says v{last} was the last number handed out, below v{versions[-1]}; {_REPAIR}"
                )

    def rollback_target(self, name: str) -> int | None:
        """The version `rollback` would restore: the production before the current one in the alias log's
        history, read as a stack (a promotion pushes, a rollback pops), so a second rollback goes one further
        back instead of returning to where the first came from. Versions removed (or renumbered) since do not
        count."""
        current = self.aliases(name).get("production")
        stack: list[tuple[object, object, object]] = []  # (version, creation id, when it became production)
        for row in (r for r in self.alias_log(name) if r.get("alias") == "production"):
            to = (row.get("to"), row.get("to_id"), row.get("at"))
            rolled_back = str(row.get("reason") or "").startswith("rollback")
            if rolled_back and len(stack) >= 2 and stack[-2][0] == to[0]:
                stack.pop()
            elif to[0] is not None and (not stack or stack[-1][0] != to[0]):
                stack.append(to)
        if not stack or stack[-1][0] != current or not self._same(name, current, *stack[-1][1:]):
            return None
        for version, creation_id, at in reversed(stack[:-1]):
            if version != current and self._same(name, version, creation_id, at):
                return version
        return None

    def prune(
        self,
        name: str,
        keep: int,
        dry_run: bool = False,
        wait: bool = False,
        on_wait: Callable[[dict], None] | None = None,
    ) -> tuple[list[int], list[int]]:
        """Remove all but the `keep` newest versions, never production or its rollback target."""
        if keep < 1:
            raise UsageError(f"--keep {keep} must be 1 or more")
        if not self.versions(name):
            raise UsageError(f"model {name} has no versions")
        if dry_run:
            self.check_consistent(name)
            return self._prune_plan(name, keep)
        with self.lock(name, {"command": "models prune"}, wait, on_wait):
            self.check_consistent(name)
            doomed, kept = self._prune_plan(name, keep)
            for version in doomed:
                self.remove(name, version)
            return doomed, kept

    def _prune_plan(self, name: str, keep: int) -> tuple[list[int], list[int]]:
        versions = self.versions(name)
        protected = set(versions[-keep:]) | {self.aliases(name).get("production"), self.rollback_target(name)}
        return [v for v in versions if v not in protected], [v for v in versions if v in protected]

    def remove(
        self, name: str, version: int, wait: bool = False, on_wait: Callable[[dict], None] | None = None
    ) -> None:
        self.require_version(name, version)
        with self.lock(name, {"command": "models rm"}, wait, on_wait):
            version = self.require_version(name, version)
            self.check_consistent(name)
            if self.aliases(name).get("production") == version:
                raise UsageError(
                    f"v{version} is the production version of {name}; promote another version first",
                    ExitCode.USAGE,
                )
            last = self._last_version(name)
            self._save_counter(name, last)  # a registry from before the counter: keep the number taken
            folder = self.model_dir(name)
            trash = make_staging_dir(folder)
            os.rename(folder / f"v{version}", trash / "removed")  # atomic: readers see it gone at once
            shutil.rmtree(trash, ignore_errors=True)
