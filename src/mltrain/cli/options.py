"""The config flags (--days, --epochs, ... one per TrainingConfig field), declared once for every command that
takes a config: `train`, `evaluate` and `sweep`. A command decorated with `config_flags` lists them in its
--help after its --config option and receives their values as one dict, `flags` (None where not given,
symbols parsed), ready for `effective_config`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from ..config import FIELD_ORDER, FIELDS, parse_symbols
from .common import OPT


def _flag_type(name: str) -> Any:
    """The type a flag parses to: a bounded field's bound type (int or float), else text."""
    lo = FIELDS[name][0]
    return (type(lo) if isinstance(lo, int | float) else str) | None


def config_flags(*, after: str, skip: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Add every config field's flag to a Typer command, placed after its parameter `after`; the command takes
    them as `flags: dict`. `skip` leaves out fields the command never uses."""
    names = [name for name in FIELD_ORDER if name not in skip]

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "flags"]
        at = [p.name for p in own].index(after) + 1
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=OPT[name], annotation=_flag_type(name)
            )
            for name in names
        ]
        keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]

        @functools.wraps(command)
        def with_flags(**kwargs: Any) -> Any:
            flags = {name: kwargs.pop(name, None) for name in names}
            if "symbols" in flags:
                flags["symbols"] = parse_symbols(flags["symbols"])
            if flags.get("exposure") is not None:
                flags["exposure"] = parse_exposure(flags["exposure"])
            return command(flags=flags, **kwargs)

        with_flags.__signature__ = signature.replace(parameters=keyword[:at] + added + keyword[at:])  # type: ignore[attr-defined]
        with_flags.__annotations__ = {
            **{p.name: p.annotation for p in own},
            **{p.name: p.annotation for p in added},
        }
        return with_flags

    return decorate


def parse_exposure(text: str) -> dict[str, Any]:
    """--exposure Bear=0,Correction=0.5: the regimes named and their positions (the rest keep the default)."""
    from ..errors import UsageError

    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        regime, sep, level = part.partition("=")
        try:
            out[regime.strip()] = float(level) if sep else None
        except ValueError:
            out[regime.strip()] = None
        if out[regime.strip()] is None:
            raise UsageError(
                f"--exposure {text!r}: {part!r} is not REGIME=NUMBER; e.g. --exposure Bear=0,Correction=0.5"
            )
    if not out:
        raise UsageError("--exposure is empty; e.g. --exposure Bear=0,Correction=0.5")
    return out
