"""What every model kind's training run shares: the data window record, history checks, the run result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from .config import TrainingConfig
from .data.store import Series, fingerprint
from .data.validate import fill_short_gaps
from .errors import DataError
from .models import parameter_count
from .specs import fewer_days
from .train import EpochRecord, FitResult, Split, StopFlag, fit

MIN_TRAIN_SAMPLES = 20


@dataclass
class Window:
    symbol: str
    first: str
    last: str
    rows: int
    train_samples: int
    val_samples: int
    dropped_train_samples: int  # purged (volatility) or without a pre-split label (regime)
    fingerprint: str
    estimator: str
    source: str
    filled_days: int
    unlabelled_tail_days: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def val_days(config: TrainingConfig) -> int:
    """Days in a run's validation block: a walk-forward fold's step."""
    return config.days - int(round(config.days * config.train_val_split))


def history(series: Series) -> tuple[pd.DataFrame, int, str | None]:
    """The series with short gaps filled, how many days were filled, and the last long gap (if any)."""
    if series.frame.empty:
        raise DataError(f"{series.symbol}: no candles")
    return fill_short_gaps(series.frame)


def too_short(symbol: str, available: int, required: int, gap: str | None, what: str) -> DataError:
    where = f"; history before the gap ({gap}) cannot be used" if gap else ""
    return DataError(
        f"{symbol}: only {available} {what} available, {required} required by days={required}"
        f"{where}; {fewer_days(required)}"
    )


def window(
    series: Series,
    frame: pd.DataFrame,
    idx: np.ndarray,
    *,
    train: int,
    val: int,
    dropped: int,
    filled: int,
    tail: int = 0,
    rows_before: int = 0,
    rows_after: int = 0,
) -> Window:
    """The record of which days a run used; the fingerprint covers every row its inputs and targets read."""
    lo, hi = max(idx[0] - rows_before, 0), idx[-1] + rows_after
    used = frame.iloc[lo : hi + 1]
    return Window(
        symbol=series.symbol,
        first=str(frame.index[idx[0]].date()),
        last=str(frame.index[idx[-1]].date()),
        rows=len(idx),
        train_samples=train,
        val_samples=val,
        dropped_train_samples=dropped,
        fingerprint=fingerprint(used),
        estimator=series.estimator,
        source=series.source,
        filled_days=filled,
        unlabelled_tail_days=tail,
    )


@dataclass
class RunResult:
    """One training run of any kind; every per-symbol figure is a dict keyed by symbol."""

    model_type: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    windows: dict[str, dict] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    epochs_run: dict[str, int] = field(default_factory=dict)
    best_epoch: dict[str, int] = field(default_factory=dict)
    samples_per_second: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    total_seconds: float = 0.0
    steps: int = 0
    parameters: int = 0
    interrupted: bool = False
    predictions: dict = field(default_factory=dict)
    selection_score: float | None = None  # of the kept weights on the selection block; lower is better
    missing_extras: list[str] = field(default_factory=list)  # baselines whose optional package is absent
    warnings: list[str] = field(default_factory=list)  # said on stderr at train time and kept in metadata

    @property
    def timings(self) -> dict:
        return {
            "fit_seconds": round(self.fit_seconds, 3),
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "samples_per_second": self.samples_per_second,
            "steps": self.steps,
            "parameters": self.parameters,
            "total_seconds": round(self.total_seconds, 3),
        }

    def add_fit(self, symbol: str, model: nn.Module, result: FitResult) -> None:
        """Book one symbol's fit: history rows, epochs, pace, steps, weights under the symbol's prefix."""
        self.history += [
            {
                "symbol": symbol,
                "epoch": r.epoch,
                "train_loss": round(r.train_loss, 6),
                "selection_loss": round(r.selection_loss, 6),
                "metric": round(r.metric, 6),
                "improved": r.improved,
                "samples_per_second": round(r.samples_per_second, 1),
                "elapsed_seconds": round(r.elapsed_seconds, 3),
            }
            for r in result.history
        ]
        self.steps += result.steps
        self.epochs_run[symbol] = result.epochs_run
        self.best_epoch[symbol] = result.best_epoch
        self.samples_per_second[symbol] = round(result.samples_per_second, 1)
        self.fit_seconds += result.seconds
        self.parameters = self.parameters or parameter_count(model)
        self.interrupted = self.interrupted or result.interrupted
        self.selection_score = result.selection_score
        if not result.interrupted:
            self.tensors.update({f"{symbol}.{key}": value for key, value in result.state_dict.items()})


class Clock:
    """Wall time of a run, from creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start


def tensors(device: str, *arrays: np.ndarray, dtype=torch.float32) -> list[torch.Tensor]:
    return [torch.as_tensor(np.asarray(a), dtype=dtype, device=device) for a in arrays]


def fit_symbol(
    model: nn.Module,
    split: Split,
    config: TrainingConfig,
    *,
    symbol: str,
    seed: int,
    loss_fn: Callable,
    metric_fn: Callable[[torch.Tensor], float],
    on_epoch: Callable[[str, EpochRecord], None] | None,
    stop: StopFlag | None,
    select_on_metric: bool = False,
    min_gain: float = 0.0,
) -> FitResult:
    """The shared loop with the config's epochs, patience, batch size and learning rate."""
    return fit(
        model,
        split,
        epochs=config.epochs,
        patience=config.patience,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        loss_fn=loss_fn,
        metric_fn=metric_fn,
        seed=seed,
        on_epoch=(lambda rec: on_epoch(symbol, rec)) if on_epoch else None,
        stop=stop,
        select_on_metric=select_on_metric,
        min_gain=min_gain,
    )


def state_of(tensors: dict, prefix: str) -> dict:
    """The weights stored under `prefix.` (one network per symbol)."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def since_positions(index: pd.DatetimeIndex, since: str | None, first_ok: int) -> np.ndarray:
    """Positions to predict: the last day, or every day from `since` that has enough history."""
    from .errors import UsageError

    if since is None:
        return np.array([len(index) - 1])
    from .textutil import parse_day

    start = pd.Timestamp(parse_day(since, "--since"))
    pos = np.nonzero(index >= start)[0]
    pos = pos[pos >= first_ok]
    if len(pos) == 0:
        raise UsageError(
            f"--since {since}: no dates with enough history from then on (data ends {index[-1].date()})"
        )
    return pos


def missing_marker_walk(obj, names: set[str], marker: str):
    """JSON view of scores: a baseline whose optional package is missing (None) reads as `marker`."""

    def mark_all(value):
        if value is None:
            return marker
        if isinstance(value, dict):
            return {k: mark_all(v) for k, v in value.items()}
        return value

    if isinstance(obj, dict):
        return {
            k: (mark_all(v) if k in names else missing_marker_walk(v, names, marker)) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [missing_marker_walk(v, names, marker) for v in obj]
    return obj
