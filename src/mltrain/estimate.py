"""Time estimate: the run history on this host when there is one, else a timed probe of the training step.

A training run's duration is modelled as `overhead + seconds_per_row_epoch x rows_per_epoch x epochs_run`:
the overhead (loading and pooling the series, features, baselines, GARCH fits, scoring) does not grow with
epochs, the fit does. After one real run of a config on this host and device, the next estimate for the same
config takes its overhead, its pace and the number of epochs early stopping actually ran from that run; a
similar config (another preset of the same model type) scales the nearest runs' pace by rows x epochs.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import TrainingConfig
    from .paths import Home

PROBE_STEPS = 20
LONG_RUN_SECONDS = 20 * 60
RECENT_RUNS = 5  # the newest runs of the nearest kind: older ones may predate a faster or slower machine
EARLY_STOP_PRIOR_PATIENCES = 2  # with no past runs: expect the stop about 2 x patience epochs in
# no past runs: a train's loading, features, baselines and scoring on the 2-core reference machine (volatility
# 2.1 s with 1 symbol, 2.0 s with 16; without it a first quick run read 0.2 s and took 2.5 s); one run replaces it
OVERHEAD_PRIOR_SECONDS = {"regime": 0.3, "volatility": 2.0}
CONFIG_FIELDS = ("days", "epochs", "patience", "batch_size", "learning_rate", "train_val_split")


@dataclass(frozen=True)
class Estimate:
    expected_seconds: float
    upper_seconds: float
    basis: str
    device: str
    overhead_seconds: float = 0.0  # the part that is not fitting (an evaluation fold pays its own instead)
    upper_basis: str = "all epochs, no early stop"  # what the upper bound assumes

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
            "upper_basis": self.upper_basis,
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


def rows_per_epoch(model_type: str, config: TrainingConfig) -> float:
    """About how many rows one epoch reads (the kind knows: the pooled models read every series)."""
    from .kinds import KINDS

    return float(KINDS[model_type].training_rows(config))


def work_units(model_type: str, config: TrainingConfig) -> float:
    """Training rows per epoch x the epoch budget: the most work a run can do."""
    return rows_per_epoch(model_type, config) * config.epochs


def extra_rows(model_type: str, values: dict) -> float:
    """Rows trained on outside the epochs (regime pretraining), from a config's or a history row's values."""
    from .kinds import KINDS

    return float(KINDS[model_type].extra_training_rows(values))


def shape_key(config: TrainingConfig) -> dict:
    """What sets the pace of one training step: the batch, the network's width and, when set, its encoder (a
    GRU step costs several MLP steps)."""
    return _shape(config.model_dump())


def _shape(values: dict) -> dict:
    """shape_key from a config's values or a history row's (rows written before the encoder field have none:
    an MLP)."""
    key = {"batch_size": values.get("batch_size"), "hidden_size": values.get("hidden_size")}
    encoder = values.get("encoder")
    return key if encoder in (None, "mlp") else {**key, "encoder": encoder}


def config_key(config: TrainingConfig) -> dict:
    """What decides the amount of work and when early stopping ends a run. Pretraining only when set (rows
    written before the field still match a config without it); `correction` whenever the type has it (its
    network trains only when on; rows without it cannot say which ran: a correction-off evaluation once set a
    correction-on one's pace, 4x under)."""
    symbols = None if config.symbols is None else sorted(config.symbols)
    extra = {"pretrain_markets": config.pretrain_markets} if config.pretrain_markets else {}
    if config.correction is not None:
        extra["correction"] = config.correction
    return {
        **{name: getattr(config, name) for name in CONFIG_FIELDS},
        **shape_key(config),
        "symbols": symbols,
        **extra,
    }


def probe_key(model_type: str, config: TrainingConfig, device: str) -> str:
    return _probe_key(model_type, device, shape_key(config))


def _probe_key(model_type: str, device: str, shape: dict) -> str:
    """The probe cache's key of a step shape (_shape)."""
    if "encoder" in shape:
        return f"{model_type}/{device}/b{shape['batch_size']}/{shape['encoder']}"
    hidden = "-" if shape["hidden_size"] is None else shape["hidden_size"]
    return f"{model_type}/{device}/b{shape['batch_size']}/h{hidden}"


def history_row(
    model_type: str,
    config: TrainingConfig,
    device: str,
    status: str,
    epochs_run: dict,
    best_epoch: dict,
    fit_seconds: float,
    total_seconds: float,
    estimated_seconds: float,
) -> dict:
    """One finished run as the history keeps it: its config, the epochs early stopping let it run (the mean
    over its fits), the fit's seconds and the rest (overhead), and what had been estimated."""
    runs, bests = list(epochs_run.values()) or [0], list(best_epoch.values()) or [0]
    return {
        "model_type": model_type,
        "device": device,
        "status": status,
        "config": config_key(config),
        "rows_per_epoch": rows_per_epoch(model_type, config),
        "epochs_run": sum(runs) / len(runs),
        "best_epoch": statistics.median(bests),
        "fit_seconds": fit_seconds,
        "overhead_seconds": max(total_seconds - fit_seconds, 0.0),
        "total_seconds": total_seconds,
        "estimated_seconds": estimated_seconds,
    }


def probe_seconds_per_sample(model_type: str, config: TrainingConfig, device: str) -> float:
    """Time PROBE_STEPS real training steps (forward, backward, Adam) on random data of the real shape."""
    import torch

    from .kinds import KINDS
    from .train import train_step, use_cpu_threads

    use_cpu_threads()  # the probe runs as training will
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


def from_probe(
    model_type: str, config: TrainingConfig, device: str, seconds_per_sample: float, measured_now: bool
) -> Estimate:
    """Upper bound: every epoch at the probed pace. Expected: a stated prior that early stopping ends
    about 2 x patience epochs in (bench/estimate_accuracy.py measures how far off that is)."""
    fit = seconds_per_sample * work_units(model_type, config)
    pretrain = seconds_per_sample * extra_rows(model_type, config.model_dump())
    expected_epochs = min(config.epochs, EARLY_STOP_PRIOR_PATIENCES * config.patience)
    overhead = overhead_prior(model_type, config)
    source = "probe" if measured_now else "cached probe"
    basis = (
        f"{source} of {PROBE_STEPS} steps on {device}; no past runs on this host yet, so expected assumes "
        f"early stopping near epoch {expected_epochs} (2 x patience) and {format_seconds(overhead)} of "
        f"loading and baselines (the reference machine's; this host's own after one run)"
        + (f"; pretraining {format_seconds(pretrain)} at the probed pace" if pretrain else "")
    )
    return Estimate(
        overhead + pretrain + fit * expected_epochs / config.epochs,
        overhead + pretrain + fit,
        basis,
        device,
        overhead,
    )


def overhead_prior(model_type: str, config: TrainingConfig) -> float:
    """A train's loading and baselines before any run on this host (OVERHEAD_PRIOR_SECONDS)."""
    return OVERHEAD_PRIOR_SECONDS.get(model_type, 0.0)


def _usable(row: dict, model_type: str, device: str) -> bool:
    """A finished run of this type and device in the current format (the history is advisory: an older or
    damaged row is skipped, never an error)."""
    numbers = ("rows_per_epoch", "epochs_run", "best_epoch", "fit_seconds", "overhead_seconds")
    return (
        isinstance(row, dict)
        and row.get("model_type") == model_type
        and row.get("device") == device
        and row.get("status") in ("completed", "rejected")
        and isinstance(row.get("config"), dict)
        and all(_number(row.get(k)) and row[k] >= 0 for k in numbers)
        and row["rows_per_epoch"] > 0
        and row["epochs_run"] > 0
    )


def from_history(
    model_type: str, config: TrainingConfig, device: str, runs: list[dict], probes: dict | None = None
) -> Estimate | None:
    """The nearest past runs on this host and device: the same config, else the same batch and width, else
    the same model type. Their overhead as is, their pace per row and epoch scaled to this config's rows
    (and by the probes' pace ratio when the width or batch differs and both were probed), and the epochs
    early stopping is expected to let run (_expected_epochs)."""
    usable = [r for r in runs if _usable(r, model_type, device)]
    if not usable:
        return None
    same_config = [r for r in usable if r["config"] == config_key(config)]
    same_shape = [r for r in usable if _shape(r["config"]) == shape_key(config)]
    nearest, match = (
        (same_config, "this config")
        if same_config
        else (same_shape, f"{model_type} models of this batch size and width")
        if same_shape
        else (usable, f"{model_type} models")
    )
    nearest = nearest[-RECENT_RUNS:]
    pace = statistics.median(_pace(r, model_type, config, device, probes) for r in nearest)
    # a run's overhead holds its pretraining (outside the epochs): take it out at that run's pace, and put
    # this config's in at this pace
    overhead = statistics.median(
        r["overhead_seconds"] - _own_pace(r) * extra_rows(model_type, r["config"]) for r in nearest
    )
    overhead = max(overhead, 0.0)
    pretrain = pace * extra_rows(model_type, config.model_dump())
    expected_epochs, why = _expected_epochs(config, usable, same_config, nearest)
    rows = rows_per_epoch(model_type, config)
    plural = "run" if len(nearest) == 1 else "runs"
    return Estimate(
        overhead + pretrain + pace * rows * expected_epochs,
        overhead + pretrain + pace * rows * config.epochs,
        f"median of {len(nearest)} past {plural} of {match} on this host ({device}): "
        f"{format_seconds(overhead)} loading and baselines, {pace * rows:.3g} s per epoch; {why}"
        + (f"; pretraining {format_seconds(pretrain)}" if pretrain else ""),
        device,
        overhead,
    )


def _expected_epochs(
    config: TrainingConfig, usable: list[dict], same_config: list[dict], nearest: list[dict]
) -> tuple[float, str]:
    """Epochs early stopping will let run: as many as the same config ran; else as many as runs with the
    same stopping rule (epoch budget and patience) ran; else the nearest runs' best epoch + this patience,
    never fewer than the no-history prior (a short budget's early best says little about a longer one)."""
    if same_config:
        epochs = statistics.median(r["epochs_run"] for r in same_config[-RECENT_RUNS:])
        return epochs, f"early stopping ended after {epochs:g} of {config.epochs} epochs"
    rule = {"epochs": config.epochs, "patience": config.patience}
    same_rule = [r for r in usable if rule.items() <= r["config"].items()][-RECENT_RUNS:]
    if same_rule:
        epochs = statistics.median(r["epochs_run"] for r in same_rule)
        return epochs, (
            f"runs with the same budget and patience stopped after {epochs:g} of {config.epochs} epochs"
        )
    best = statistics.median(r.get("best_epoch", 0) for r in nearest)
    prior = EARLY_STOP_PRIOR_PATIENCES * config.patience
    epochs = min(config.epochs, max(math.ceil(best) + config.patience, prior))
    return epochs, (
        f"their best epoch was {best:g}, so about {epochs} of {config.epochs} epochs are expected "
        f"(best + patience, at least 2 x patience)"
    )


def _own_pace(row: dict) -> float:
    """Seconds per row and epoch of a past run, at its own step shape."""
    return row["fit_seconds"] / (row["rows_per_epoch"] * row["epochs_run"])


def _pace(row: dict, model_type: str, config: TrainingConfig, device: str, probes: dict | None) -> float:
    """Seconds per row and epoch of a past run, adjusted to this config's step shape when both are probed."""
    pace = _own_pace(row)
    if probes and _shape(row["config"]) != shape_key(config):
        then = probes.get(_probe_key(model_type, device, _shape(row["config"])))
        now = probes.get(probe_key(model_type, config, device))
        if then and now and then["seconds_per_sample"] > 0:
            pace *= now["seconds_per_sample"] / then["seconds_per_sample"]
    return pace


# ---------------------------------------------------------------- the one estimate every command uses


def probe(home: Home, model_type: str, config: TrainingConfig, device: str) -> float:
    """Measure the probe now and cache it under the mltrain home (per model type, shape, device, host)."""
    from .jobs import Jobs

    seconds = probe_seconds_per_sample(model_type, config, device)
    Jobs(home).save_probe(probe_key(model_type, config, device), seconds)
    return seconds


def estimate(
    home: Home, model_type: str, config: TrainingConfig, device: str, *, measure: bool
) -> Estimate | None:
    """Past runs on this host first; else the cached probe; else, with `measure`, a probe timed now (and
    cached, so the next call is instant); else None (nothing measured, no made-up number)."""
    from .jobs import Jobs

    jobs = Jobs(home)
    probes = jobs.probes()
    runs = jobs.runs()
    if rows_per_epoch(model_type, config) == 0:
        return without_fit(model_type, device, runs)
    key = probe_key(model_type, config, device)
    if (
        measure
        and key not in probes
        and runs
        and not any(_usable(r, model_type, device) and _shape(r["config"]) == shape_key(config) for r in runs)
    ):
        # past runs of another step shape only (an MLP's before a GRU's): their pace must be scaled by the
        # probes' ratio, so this shape is probed now (and cached)
        probe(home, model_type, config, device)
        probes = jobs.probes()
    found = from_history(model_type, config, device, runs, probes)
    if found is not None:
        return found
    cached_probe = probes.get(probe_key(model_type, config, device))
    if cached_probe is not None:
        return from_probe(model_type, config, device, cached_probe["seconds_per_sample"], measured_now=False)
    if not measure:
        return None
    seconds = probe(home, model_type, config, device)
    return from_probe(model_type, config, device, seconds, measured_now=True)


def without_fit(model_type: str, device: str, runs: list[dict]) -> Estimate:
    """A run that trains no network (volatility, correction off): loading, closed-form fits and baselines; the
    median of such past runs on this host, else the reference prior; no epochs bound it, so twice that."""
    past = [
        r["total_seconds"]
        for r in runs
        if isinstance(r, dict)
        and r.get("model_type") == model_type
        and r.get("device") == device
        and r.get("rows_per_epoch") == 0
        and r.get("status") in ("completed", "rejected")
        and _number(r.get("total_seconds"))
    ][-RECENT_RUNS:]
    if past:
        seconds = statistics.median(past)
        basis = f"median of {len(past)} past runs on this host that trained no network"
    else:
        seconds = OVERHEAD_PRIOR_SECONDS.get(model_type, 0.0)
        basis = "no network is trained: loading and baselines as on the reference machine"
    basis += " (epochs and batch size do not apply)"
    return Estimate(seconds, seconds * 2, basis, device, seconds, "twice that: no epochs to bound it")


def for_training(home: Home, model_type: str, config: TrainingConfig, device: str) -> Estimate:
    """What `train`, `train --dry-run` and `sweep` show: history, else the cached probe, else a probe now."""
    found = estimate(home, model_type, config, device, measure=True)
    assert found is not None  # measure=True always yields one
    return found


def cached(home: Home, model_type: str, config: TrainingConfig, device: str) -> Estimate | None:
    """Past runs, else an earlier probe; None when neither exists (nothing is measured)."""
    return estimate(home, model_type, config, device, measure=False)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
