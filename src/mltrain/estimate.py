"""Time estimate: a timed probe of the real training step, or the median of past runs on this host."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import TrainingConfig

if TYPE_CHECKING:
    from .config import EffectiveConfig, Preset
    from .paths import Home

PROBE_STEPS = 20
LONG_RUN_SECONDS = 20 * 60


@dataclass(frozen=True)
class Estimate:
    expected_seconds: float
    upper_seconds: float
    basis: str
    device: str

    @property
    def warning(self) -> str | None:
        if self.upper_seconds > LONG_RUN_SECONDS:
            return f"the upper bound ({format_seconds(self.upper_seconds)}) is over 20 minutes"
        return None

    def as_dict(self) -> dict:
        return {
            "expected_seconds": round(self.expected_seconds, 1),
            "upper_seconds": round(self.upper_seconds, 1),
            "basis": self.basis,
            "device": self.device,
            "warning": self.warning,
        }


def format_seconds(seconds: float) -> str:
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def work_units(model_type: str, config: TrainingConfig) -> float:
    """Training rows per epoch x epochs: what run time scales with (the kind knows its rows)."""
    from .kinds import KINDS

    return KINDS[model_type].training_rows(config) * config.epochs


def probe_key(model_type: str, config: TrainingConfig, device: str) -> str:
    hidden = "-" if config.hidden_size is None else config.hidden_size
    return f"{model_type}/{device}/b{config.batch_size}/h{hidden}"


def probe_seconds_per_sample(model_type: str, config: TrainingConfig, device: str) -> float:
    """Time PROBE_STEPS real training steps (forward, backward, Adam) on random data of the real shape."""
    import torch

    from .kinds import KINDS
    from .train import train_step

    torch.manual_seed(0)
    model, x, y, loss_fn = KINDS[model_type].probe_batch(config, device)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def step() -> None:
        train_step(model, optimizer, loss_fn, x, y)

    for _ in range(3):  # warm-up: first calls allocate and pick kernels
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(PROBE_STEPS):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    # a validation pass each epoch costs about one forward over 1/4 of the samples: count it as 10%
    return (time.perf_counter() - start) / PROBE_STEPS / config.batch_size * 1.1


EARLY_STOP_PRIOR_PATIENCES = 2  # with no past runs: expect the stop about 2 x patience epochs in


def from_probe(
    model_type: str, config: TrainingConfig, device: str, seconds_per_sample: float, measured_now: bool
) -> Estimate:
    """Upper bound: every epoch at the probed pace. Expected: a stated prior that early stopping ends
    about 2 x patience epochs in (bench/estimate_accuracy.py measures how far off that is)."""
    upper = seconds_per_sample * work_units(model_type, config)
    expected_epochs = min(config.epochs, EARLY_STOP_PRIOR_PATIENCES * config.patience)
    source = "probe" if measured_now else "earlier probe"
    basis = (
        f"{source} of {PROBE_STEPS} steps on {device}; no past runs on this host yet, so expected assumes "
        f"early stopping near epoch {expected_epochs} (2 x patience)"
    )
    return Estimate(upper * expected_epochs / config.epochs, upper, basis, device)


def from_history(model_type: str, config: TrainingConfig, device: str, runs: list[dict]) -> Estimate | None:
    """Scale past runs of this model type on this device by samples x epochs, and expect early stopping to
    end `patience` epochs after the epoch at which past runs usually peaked."""
    runs = [
        r
        for r in runs
        if r.get("model_type") == model_type
        and r.get("device") == device
        and r.get("status") in ("completed", "rejected")
        and r.get("work_units")
        and "best_epoch" in r
    ]
    if not runs:
        return None
    # seconds per training sample and epoch actually run
    per_unit = statistics.median(
        r["fit_seconds"] / (r["work_units"] * r["epochs_run_fraction"]) for r in runs
    )
    best_epoch = statistics.median(r["best_epoch"] for r in runs)
    expected_epochs = min(config.epochs, math.ceil(best_epoch) + config.patience)
    overhead = statistics.median(max(r["total_seconds"] - r["fit_seconds"], 0.0) for r in runs)
    upper = overhead + per_unit * work_units(model_type, config)
    expected = overhead + per_unit * work_units(model_type, config) * expected_epochs / config.epochs
    plural = "run" if len(runs) == 1 else "runs"
    return Estimate(
        expected,
        upper,
        f"median of {len(runs)} past {plural} of {model_type} models on this host "
        f"({device}); the best epoch was usually {best_epoch:g}, so about {expected_epochs} of "
        f"{config.epochs} epochs are expected",
        device,
    )


# ---------------------------------------------------------------- estimates with the run history and probe cache


def probe(home: Home, model_type: str, config: TrainingConfig, device: str) -> Estimate:
    """Measure the probe now, cache it under the mltrain home, and estimate from it."""
    from .jobs import Jobs

    seconds = probe_seconds_per_sample(model_type, config, device)
    Jobs(home).save_probe(probe_key(model_type, config, device), seconds)
    return from_probe(model_type, config, device, seconds, measured_now=True)


def for_training(home: Home, model_type: str, config: TrainingConfig, device: str) -> Estimate:
    """Past runs on this host when there are any, else a fresh probe."""
    from .jobs import Jobs

    return from_history(model_type, config, device, Jobs(home).runs()) or probe(
        home, model_type, config, device
    )


def cached(home: Home, model_type: str, config: TrainingConfig, device: str) -> Estimate | None:
    """Past runs, else an earlier probe; None when neither exists (nothing is measured)."""
    from .jobs import Jobs

    jobs = Jobs(home)
    estimate = from_history(model_type, config, device, jobs.runs())
    if estimate is None:
        found = jobs.probes().get(probe_key(model_type, config, device))
        if found is None:
            return None
        estimate = from_probe(model_type, config, device, found["seconds_per_sample"], measured_now=False)
    return estimate


def preset_estimates(home: Home, preset: Preset, device: str, measure: bool) -> dict[str, dict | None]:
    """The preset's estimated duration for every model type (the fields a type does not use are left out)."""
    import dataclasses

    from .config import build_config
    from .kinds import KINDS

    optional = {field for kind in KINDS.values() for field in kind.uses}
    out = {}
    for name, kind in KINDS.items():
        values = {k: v for k, v in preset.values.items() if k not in optional or k in kind.uses}
        effective: EffectiveConfig = build_config(name, dataclasses.replace(preset, values=values), None, {})
        if measure:
            probe(home, name, effective.config, device)
        estimate = cached(home, name, effective.config, device)
        out[name] = None if estimate is None else estimate.as_dict()
    return out
