"""Time estimate: a timed probe of the real training step, or the median of past runs on this host."""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from .config import TrainingConfig

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
        return {"expected_seconds": round(self.expected_seconds, 1), "upper_seconds": round(self.upper_seconds, 1),
                "basis": self.basis, "device": self.device, "warning": self.warning}


def format_seconds(seconds: float) -> str:
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def work_units(model_type: str, config: TrainingConfig) -> float:
    """Training samples x epochs x symbols: what run time scales with."""
    n_symbols = len(config.symbols or []) if model_type == "volatility" else 1
    return config.days * config.train_val_split * config.epochs * max(n_symbols, 1)


def probe_key(model_type: str, config: TrainingConfig, device: str) -> str:
    hidden = config.hidden_size if model_type == "volatility" else "-"
    return f"{model_type}/{device}/b{config.batch_size}/h{hidden}"


def probe_seconds_per_sample(model_type: str, config: TrainingConfig, device: str) -> float:
    """Time PROBE_STEPS real training steps (forward, backward, Adam) on random data of the real shape."""
    import torch
    from torch import nn

    from . import features as F
    from .models import RegimeNet, VolatilityNet

    torch.manual_seed(0)
    b = config.batch_size
    if model_type == "volatility":
        model = VolatilityNet(len(F.VOL_FEATURES), config.hidden_size or 64).to(device)
        x = torch.randn(b, F.VOL_LOOKBACK_DAYS, len(F.VOL_FEATURES), device=device)
        y = torch.randn(b, device=device)
        loss_fn = nn.functional.mse_loss
    else:
        model = RegimeNet(len(F.REGIME_FEATURES)).to(device)
        x = torch.randn(b, len(F.REGIME_FEATURES), device=device)
        y = torch.randint(0, 4, (b,), device=device)
        loss_fn = nn.functional.cross_entropy
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def step() -> None:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

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
    return (time.perf_counter() - start) / PROBE_STEPS / b * 1.1


EARLY_STOP_PRIOR_PATIENCES = 2  # with no past runs: expect the stop about 2 x patience epochs in


def from_probe(model_type: str, config: TrainingConfig, device: str, seconds_per_sample: float,
               measured_now: bool) -> Estimate:
    """Upper bound: every epoch at the probed pace. Expected: a stated prior that early stopping ends
    about 2 x patience epochs in (bench/estimate_accuracy.py measures how far off that is)."""
    upper = seconds_per_sample * work_units(model_type, config)
    expected_epochs = min(config.epochs, EARLY_STOP_PRIOR_PATIENCES * config.patience)
    source = "probe" if measured_now else "earlier probe"
    basis = (f"{source} of {PROBE_STEPS} steps on {device}; no past runs on this host yet, so expected assumes "
             f"early stopping near epoch {expected_epochs} (2 x patience)")
    return Estimate(upper * expected_epochs / config.epochs, upper, basis, device)


def from_history(model_type: str, config: TrainingConfig, device: str, runs: list[dict]) -> Estimate | None:
    """Scale past runs of this model type on this device by samples x epochs, and expect early stopping to
    end `patience` epochs after the epoch at which past runs usually peaked."""
    runs = [r for r in runs if r.get("model_type") == model_type and r.get("device") == device
            and r.get("status") in ("completed", "rejected") and r.get("work_units") and "best_epoch" in r]
    if not runs:
        return None
    # seconds per training sample and epoch actually run
    per_unit = statistics.median(r["fit_seconds"] / (r["work_units"] * r["epochs_run_fraction"]) for r in runs)
    best_epoch = statistics.median(r["best_epoch"] for r in runs)
    expected_epochs = min(config.epochs, math.ceil(best_epoch) + config.patience)
    overhead = statistics.median(max(r["total_seconds"] - r["fit_seconds"], 0.0) for r in runs)
    upper = overhead + per_unit * work_units(model_type, config)
    expected = overhead + per_unit * work_units(model_type, config) * expected_epochs / config.epochs
    plural = "run" if len(runs) == 1 else "runs"
    return Estimate(expected, upper, f"median of {len(runs)} past {plural} of {model_type} models on this host "
                    f"({device}); the best epoch was usually {best_epoch:g}, so about {expected_epochs} of "
                    f"{config.epochs} epochs are expected", device)
