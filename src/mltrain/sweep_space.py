"""The search space of a sweep: a YAML mapping of config fields to ranges, checked against TrainingConfig's
bounds before any trial runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .config import TrainingConfig, YamlDoc, bounds_text
from .errors import ConfigError, excerpt
from .specs import owned_fields

SEARCHABLE = ("epochs", "patience", "batch_size", "learning_rate", "hidden_size")
INT_FIELDS = {"epochs", "patience", "batch_size", "hidden_size"}
# a fold's blocks are days x (1 - train_val_split) long: trials that varied them would each be scored on other
# days, and the search would pick the easiest window, not the best config
BLOCK_FIELDS = ("days", "train_val_split")
DEFAULT_SPACE = {  # each range inside TrainingConfig's bounds; hidden_size only where the kind uses it
    "learning_rate": {"low": 0.0003, "high": 0.01, "log": True},
    "batch_size": [16, 32, 64, 128],
    "hidden_size": {"low": 32, "high": 128, "step": 32},
    "patience": {"low": 5, "high": 30},
}


@dataclass(frozen=True)
class Param:
    """One searched field: an int or float range (optionally log-scaled or stepped) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    def suggest(self, trial: Any) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.name in INT_FIELDS:
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        return (
            f"{self.low}..{self.high}"
            + (" (log)" if self.log else "")
            + (f" step {self.step}" if self.step else "")
        )


def _bounds(name: str) -> tuple[float, float]:
    lo = hi = None
    for item in TrainingConfig.model_fields[name].metadata:
        lo = getattr(item, "ge", lo)
        hi = getattr(item, "le", hi)
    return lo, hi


def parse_space(
    values: dict[str, Any], model_type: str, where: str = "search space", lines: dict[str, int] | None = None
) -> dict[str, Param]:
    """Check a mapping of config field -> range or choices against TrainingConfig's bounds."""
    from .kinds import KINDS

    kind = KINDS[model_type]
    owned = owned_fields()
    allowed = ", ".join(f for f in SEARCHABLE if f not in owned or f in kind.uses)  # for this type
    if not values:
        raise ConfigError(
            f"{where} is empty; give at least one field, e.g. 'learning_rate: {{low: 0.0003, "
            "high: 0.01, log: true}'"
        )
    space = {}
    for name, spec in values.items():
        at = f"{where} line {lines[name]}" if lines and name in lines else where
        if name in BLOCK_FIELDS:
            raise ConfigError(
                f"{at}: {name} cannot be searched: days and train_val_split set the blocks every trial is "
                "scored on, so trials with other values would be scored on other days and could not be "
                "ranked; set it in the base config (--days, --config) and compare windows with `mltrain "
                f"evaluate`; allowed: {allowed}"
            )
        if name not in SEARCHABLE:
            raise ConfigError(f"{at}: {excerpt(name)} cannot be searched; allowed: {allowed}")
        users = [k.name for k in KINDS.values() if name in k.uses]
        if users and name not in kind.uses:
            raise ConfigError(f"{at}: {name} is for {' or '.join(users)} models only, not {model_type}")
        space[name] = _param(name, spec, at)
    return space


def _param(name: str, spec: Any, at: str) -> Param:
    lo, hi = _bounds(name)
    allowed = f"allowed: {bounds_text(name)}"
    whole = name in INT_FIELDS

    def number(value: Any, what: str) -> float:
        ok = isinstance(value, int) or (not whole and isinstance(value, float) and math.isfinite(value))
        if isinstance(value, bool) or not ok:
            kind = "a whole number" if whole else "a number"
            raise ConfigError(f"{at}: {name} {what} {excerpt(value)} must be {kind}; {allowed}")
        if not lo <= value <= hi:
            raise ConfigError(f"{at}: {name} {what} {value} is out of range; {allowed}")
        return value

    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{at}: {name} has an empty list of choices; {allowed}")
        return Param(name, choices=tuple(number(v, "choice") for v in spec))
    if (
        not isinstance(spec, dict)
        or not {"low", "high"} <= set(spec)
        or set(spec) - {"low", "high", "log", "step"}
    ):
        raise ConfigError(
            f"{at}: {name} must be a list of choices or a mapping of low, high and optionally "
            f"log (true/false) and step, e.g. {{low: {lo}, high: {hi}}}; {allowed}"
        )
    low, high = number(spec["low"], "low"), number(spec["high"], "high")
    log, step = spec.get("log", False), spec.get("step")
    if low > high:
        raise ConfigError(f"{at}: {name} low {low} is above high {high}; {allowed}")
    if not isinstance(log, bool):
        raise ConfigError(f"{at}: {name} log {excerpt(log)} must be true or false")
    if step is not None and (
        isinstance(step, bool)
        or not isinstance(step, int | float)
        or step <= 0
        or (whole and not isinstance(step, int))
    ):
        raise ConfigError(
            f"{at}: {name} step {excerpt(step)} must be a positive {'whole number' if whole else 'number'}"
        )
    if log and step is not None:
        raise ConfigError(f"{at}: {name} takes log or step, not both")
    if log and low <= 0:
        raise ConfigError(f"{at}: {name} log needs low above 0")
    if step is not None and not math.isclose(round((high - low) / step) * step, high - low):
        raise ConfigError(f"{at}: {name} high - low ({high} - {low}) must be a multiple of step {step}")
    return Param(name, low, high, log, step)


def default_space(model_type: str) -> dict[str, Param]:
    from .kinds import KINDS

    uses = KINDS[model_type].uses
    owned = owned_fields()
    return parse_space(
        {k: v for k, v in DEFAULT_SPACE.items() if k not in owned or k in uses},
        model_type,
        "the default search space",
    )


def space_from_file(doc: YamlDoc, model_type: str) -> dict[str, Param]:
    return parse_space(doc.values, model_type, f"search space {doc.path}", doc.lines)


# ---------------------------------------------------------------- the study
