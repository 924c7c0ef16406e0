"""The process boundary: streams, terminal, argv, clock, home flag and debug, built once and handed down."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any


@dataclass
class Env:
    """What a command may know of the outside world; tests build their own."""

    argv: list[str] = field(default_factory=lambda: list(sys.argv))  # program name first
    stdout_override: IO[str] | None = None
    stderr_override: IO[str] | None = None
    stdin_isatty_override: bool | None = None
    today: Any = None  # a pandas Timestamp of the current UTC day, or None for the real clock
    home: str | None = None  # --home
    debug: bool = False
    before_commit: Callable[[], None] | None = None  # called while a new version is staged (tests pause here)
    owns_process: bool = False  # main() built it: process-wide settings (signal handlers) are this run's

    # streams are looked up when used: a test runner swaps sys.stdout/stderr around each invocation
    @property
    def stdout(self) -> IO[str]:
        return self.stdout_override or sys.stdout

    @property
    def stderr(self) -> IO[str]:
        return self.stderr_override or sys.stderr

    @property
    def stdin_isatty(self) -> bool:
        if self.stdin_isatty_override is not None:
            return self.stdin_isatty_override
        return sys.stdin.isatty()

    @property
    def command(self) -> str:
        """The command as a person would type it again."""
        return " ".join(["mltrain", *self.argv[1:]])

    def with_flags(self, *, home: str | None, debug: bool) -> Env:
        import dataclasses

        return dataclasses.replace(
            self,
            home=self.home if home is None else home,
            debug=debug or self.debug or bool(os.environ.get("MLTRAIN_DEBUG")),
        )


def current() -> Env:
    """The Env of the running command (set by the root callback)."""
    try:  # typer >= 0.25 vendors click: a separately installed click has its own, empty, context stack
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    ctx = get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Env) else Env()
