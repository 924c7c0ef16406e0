"""The time estimate of a walk-forward evaluation: the host's pace from past local evaluations of the
config, else per fold one training estimate's fitting plus a fold's own overhead (estimate.py: a train)."""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from .estimate import RECENT_RUNS, Estimate, _number, config_key, for_training, format_seconds

if TYPE_CHECKING:
    from .config import TrainingConfig
    from .paths import Home

# a walk-forward fold's own overhead (its worker has imported everything already): fixed + per scored symbol
# (volatility: two GARCH fits each); the reference machine's, until one evaluation of the config on this host
FOLD_OVERHEAD_PRIOR_SECONDS = {"regime": (0.3, 0.0), "volatility": (0.3, 0.06)}
# the fields that decide how much work a run does and when early stopping ends it (min_r2 is the gate's)


def fold_overhead_prior(model_type: str, config: TrainingConfig) -> float:
    """A walk-forward fold's loading and baselines before any evaluation on this host."""
    fixed, per_symbol = FOLD_OVERHEAD_PRIOR_SECONDS.get(model_type, (0.0, 0.0))
    return fixed + per_symbol * len(config.symbols or [])


def for_evaluation(
    home: Home, model_type: str, config: TrainingConfig, *, folds: int, workers: int, synthetic: bool = False
) -> Estimate:
    """Walk-forward evaluation, `workers` folds at a time (on cpu). After one evaluation of this config on
    this host: its seconds per round of folds. Before: per fold, one training estimate's fitting plus a
    fold's own overhead (a fold does not pay a train's imports and registry writes)."""
    from .jobs import Jobs

    one = for_training(home, model_type, config, "cpu")
    rounds = math.ceil(folds / max(workers, 1))
    upper_share = one.upper_seconds / one.expected_seconds if one.expected_seconds > 0 else 1.0
    key = {"model_type": model_type, "config": config_key(config), "synthetic": synthetic, "workers": workers}
    past = [r for r in Jobs(home).runs() if _usable_evaluation(r) and key.items() <= r.items()]
    if past:
        per_round = statistics.median(r["seconds"] / r["rounds"] for r in past[-RECENT_RUNS:])
        plural = "evaluation" if len(past[-RECENT_RUNS:]) == 1 else "evaluations"
        return Estimate(
            per_round * rounds,
            per_round * rounds * max(upper_share, 1.0),
            f"{folds} folds, {workers} at a time, at the pace of {len(past[-RECENT_RUNS:])} past {plural} of "
            f"this config on this host ({per_round:.3g} s per round of folds)",
            "cpu",
        )
    fold = fold_overhead_prior(model_type, config)
    fit_expected, fit_upper = (
        one.expected_seconds - one.overhead_seconds,
        one.upper_seconds - one.overhead_seconds,
    )
    return Estimate(
        (fold + fit_expected) * rounds,
        (fold + fit_upper) * rounds,
        f"{folds} folds x one training run's fitting plus {format_seconds(fold)} of a fold's loading and "
        f"baselines (the reference machine's until one evaluation here), {workers} at a time ({one.basis})",
        "cpu",
    )


def evaluation_row(
    model_type: str, config: TrainingConfig, folds: int, workers: int, seconds: float, synthetic: bool
) -> dict:
    """One finished local evaluation as the history keeps it (for_evaluation reads its pace)."""
    return {
        "what": "evaluation",
        "model_type": model_type,
        "device": "cpu",
        "config": config_key(config),
        "synthetic": synthetic,
        "folds": folds,
        "workers": workers,
        "rounds": math.ceil(folds / max(workers, 1)),
        "seconds": seconds,
    }


def _usable_evaluation(row: dict) -> bool:
    return (
        isinstance(row, dict)
        and row.get("what") == "evaluation"
        and _number(row.get("seconds"))
        and row["seconds"] > 0
        and _number(row.get("rounds"))
        and isinstance(row["rounds"], int)
        and row["rounds"] > 0
    )
