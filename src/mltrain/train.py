"""fit(): the one training loop both model types share; early stopping, seeding, device."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .errors import UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_SEED = 42


def pick_device(requested: str = "auto") -> str:
    """auto = cuda, then mps, then cpu; an explicit device that is absent is a usage error."""
    if requested not in DEVICES:
        raise UsageError(f"unknown device {requested!r}; allowed: {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (requested == "cuda" and not cuda) or (requested == "mps" and not mps):
        raise UsageError(f"device {requested} is not available on this machine; use --device cpu or auto")
    return requested


THREADS_ENV = "MLTRAIN_CPU_THREADS"


def cpu_threads() -> int:
    """Threads torch may use for CPU work: `MLTRAIN_CPU_THREADS`, else 1. These networks are small (batches of
    64-256 rows of a few dozen inputs), so a second thread gains little on an idle machine, while on a busy one
    torch's spinning threads wait on each other: a quick run that takes 1.3 s took 64-176 s with two threads
    beside two other jobs on 2 cores, and 1.3 s with one (bench/train_speed.py notes the figures)."""
    import os

    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return 1
    cores = os.cpu_count() or 1
    if not text.isdigit() or not 1 <= int(text) <= cores:
        raise UsageError(f"{THREADS_ENV}={text!r} is not a thread count; allowed: 1..{cores} (unset means 1)")
    return int(text)


def use_cpu_threads() -> int:
    """Set torch's intra-op threads to cpu_threads() for this process; returns the count."""
    threads = cpu_threads()
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


class StopFlag:
    """Set by a signal handler; the loop checks it after every batch."""

    def __init__(self) -> None:
        self.requested = False

    def set(self, *_: object) -> None:
        self.requested = True


@dataclass
class EpochRecord:
    epoch: int
    epochs: int
    train_loss: float
    selection_loss: float  # loss on the selection block (never the reported validation block)
    metric: float
    improved: bool
    samples_per_second: float
    elapsed_seconds: float


@dataclass
class Split:
    """Tensors already on the device: the fit block the optimizer sees and the selection block that early
    stopping reads. The validation block that is reported never enters fit()."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_sel: torch.Tensor
    y_sel: torch.Tensor


@dataclass
class FitResult:
    state_dict: dict[str, torch.Tensor]
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    steps: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    selection_score: float = float("nan")  # of the kept weights: the loss, or -metric; lower is better

    @property
    def samples_per_second(self) -> float:
        return self.history[-1].samples_per_second if self.history else 0.0


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """One optimizer step: forward, backward, step. Returns the batch loss, detached, on the device."""
    loss = loss_fn(model(x), y)  # forward
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # backward
    optimizer.step()  # step
    return loss.detach()


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable
) -> tuple[float, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        out = model(x)
        loss = float(loss_fn(out, y))
    model.train()
    return loss, out


def fit(
    model: nn.Module,
    data: Split,
    *,
    epochs: int,
    patience: int,
    batch_size: int,
    learning_rate: float,
    loss_fn: Callable,
    metric_fn: Callable[[torch.Tensor], float],
    seed: int,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    stop: StopFlag | None = None,
    select_on_metric: bool = False,
    min_gain: float = 0.0,
) -> FitResult:
    """Adam on index-drawn mini-batches; the weights kept are those of the epoch with the best selection
    score (loss, or metric_fn when select_on_metric; higher metric is better). The starting weights are
    epoch 0: a network built to start at a baseline keeps it unless an epoch beats it on the selection block,
    by at least `min_gain` (a share of the starting score) for a noisy selection block."""
    device = data.x_train.device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n = len(data.x_train)

    def score_of(loss: float, out: torch.Tensor) -> tuple[float, float]:
        metric = metric_fn(out)
        return (-metric if select_on_metric else loss), metric

    start_loss, start_out = evaluate(model, data.x_sel, data.y_sel, loss_fn)
    best_score, _ = score_of(start_loss, start_out)
    required = best_score - min_gain * abs(best_score)  # what an epoch must reach to replace epoch 0
    best_state = copy.deepcopy(model.state_dict())
    result = FitResult(best_state)
    start = time.perf_counter()
    since_best = 0
    model.train()
    for epoch in range(1, epochs + 1):
        epoch_start, seen = time.perf_counter(), 0
        total = torch.zeros((), device=device)  # summed on the device: no host sync per batch
        # one gather per epoch; the batches are then contiguous views, with no per-batch copy
        order = torch.randperm(n, generator=generator).to(device)
        x_epoch, y_epoch = data.x_train[order], data.y_train[order]
        for first in range(0, n, batch_size):
            xb, yb = x_epoch[first : first + batch_size], y_epoch[first : first + batch_size]
            loss = train_step(model, optimizer, loss_fn, xb, yb)
            total += loss * len(xb)
            seen += len(xb)
            result.steps += 1
            if stop is not None and stop.requested:
                result.interrupted = True
                break
        if result.interrupted:
            break
        # evaluate on the selection block
        sel_loss, sel_out = evaluate(model, data.x_sel, data.y_sel, loss_fn)
        score, metric = score_of(sel_loss, sel_out)
        improved = score < min(best_score - 1e-9, required)
        if improved:
            best_score, since_best, result.best_epoch = score, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        # log
        record = EpochRecord(
            epoch,
            epochs,
            float(total) / max(seen, 1),
            sel_loss,
            metric,
            improved,
            seen / max(time.perf_counter() - epoch_start, 1e-9),
            time.perf_counter() - start,
        )
        result.history.append(record)
        result.epochs_run = epoch
        if on_epoch is not None:
            on_epoch(record)
        if since_best >= patience:
            break
    model.load_state_dict(best_state)
    result.selection_score = float(best_score)
    result.state_dict = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    result.seconds = time.perf_counter() - start
    return result
