"""Training speed at the full preset on CPU, for each model type.

Reports, measured side by side in one run:
- wall seconds of `mltrain train MODEL --preset full --yes` (CLI start-up and data loading included);
- samples/s of our loop (index-drawn batches from tensors already on the device) vs a plain
  torch.utils.data.DataLoader loop over the same model, data and batch size, as a ratio;
- the pure compute limit: forward, backward and Adam step on pre-sliced batches with no data handling.
Loop figures are the best of 5 interleaved rounds of 20 epochs (the round least disturbed by other load).

Measured 2026-11-30 here (2 cores, load about 2 from other work, one torch thread as training now uses): regime
full preset 6.2 s wall, loop 1.11x of pure compute; volatility full preset 5.3 s wall, loop 1.13x. With two
threads the same loops were slower (regime 355k samples/s against 418k with one), and under load 4-10 two
spinning threads made the full presets take 45-170 s.

Run: python bench/train_speed.py [--device cpu|cuda|mps]   (cpu by default; on a GPU machine, cuda gives the
same figures with the data and models on the GPU, each timing closed by a device synchronize.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mltrain.config import TrainingConfig
from mltrain.data.store import DataStore
from mltrain.kinds import KINDS
from mltrain.kinds.regime_model import asset, full_labels
from mltrain.kinds.volatility_model import INPUTS, build_network, panel, qlike_loss
from mltrain.models import RegimeNet
from mltrain.paths import Home
from mltrain.train import Split, fit, train_step, use_cpu_threads

EPOCHS = 20
ROUNDS = 5
DEVICE = "cpu"


def _sync() -> None:
    """GPU kernels run asynchronously: wait for them before reading the clock."""
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    elif DEVICE == "mps":
        torch.mps.synchronize()


def data_for(kind: str):
    config = TrainingConfig(**{**KINDS[kind].defaults, "days": 730, "epochs": 100, "patience": 15})
    store = DataStore(Home(Path(tempfile.mkdtemp())))
    if kind == "volatility":  # the fit rows of BTC, as the pooled network reads them
        p = panel(store.load("BTC"), config)
        x, y = p.x(p.fit, p.base_fit), p.target[p.fit]
        return (
            config,
            build_network(len(INPUTS), 64).to(DEVICE),
            torch.tensor(x, device=DEVICE),
            torch.tensor(y, dtype=torch.float32, device=DEVICE),
            qlike_loss,
        )
    a = asset(store.load("BTC"))  # BTC's labelled days (the regime network pools every series' days)
    labels = full_labels(a)
    rows = np.nonzero(a.ok & (labels >= 0))[0]
    x = ((a.values[rows] - a.values[rows].mean(0)) / a.values[rows].std(0)).astype(np.float32)
    return (
        config,
        RegimeNet(x.shape[1]).to(DEVICE),
        torch.tensor(x, device=DEVICE),
        torch.tensor(labels[rows], device=DEVICE),
        nn.functional.cross_entropy,
    )


def ours(model, x, y, loss_fn, batch):
    split = Split(x, y, x[:8], y[:8])
    _sync()
    start = time.perf_counter()
    fit(
        model,
        split,
        epochs=EPOCHS,
        patience=EPOCHS,
        batch_size=batch,
        learning_rate=1e-3,
        loss_fn=loss_fn,
        metric_fn=lambda out: 0.0,
        seed=0,
    )
    _sync()
    return len(x) * EPOCHS / (time.perf_counter() - start)


def _timed_steps(model, x, loss_fn, epoch_batches) -> float:
    """Forward, backward and Adam over each epoch's batches; samples per second."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    _sync()
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for xb, yb in epoch_batches():
            train_step(model, optimizer, loss_fn, xb, yb)
    _sync()
    return len(x) * EPOCHS / (time.perf_counter() - start)


def dataloader(model, x, y, loss_fn, batch):
    # the usual DataLoader habit: the dataset stays on the host, each batch is copied to the device
    loader = DataLoader(TensorDataset(x.cpu(), y.cpu()), batch_size=batch, shuffle=True)
    if DEVICE != "cpu":
        return _timed_steps(model, x, loss_fn, lambda: ((xb.to(DEVICE), yb.to(DEVICE)) for xb, yb in loader))
    return _timed_steps(model, x, loss_fn, lambda: loader)


def pure(model, x, y, loss_fn, batch):
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    return _timed_steps(model, x, loss_fn, lambda: batches)


def main() -> None:
    global DEVICE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    DEVICE = parser.parse_args().device
    use_cpu_threads()  # the loops run on the threads training uses (1 unless MLTRAIN_CPU_THREADS)
    print(f"device {DEVICE}" + (f" ({torch.cuda.get_device_name()})" if DEVICE == "cuda" else ""))
    for kind, model_name in (("regime", "btc_regime_detector"), ("volatility", "volatility_forecaster")):
        home = tempfile.mkdtemp()
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mltrain",
                "train",
                model_name,
                "--preset",
                "full",
                "--yes",
                "--quiet",
                "--device",
                DEVICE,
            ],
            env={**os.environ, "MLTRAIN_HOME": home},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        config, _, x, y, loss_fn = data_for(kind)
        samples: dict[str, list[float]] = {"pure": [], "ours": [], "dataloader": []}
        for _ in range(ROUNDS):  # interleaved rounds, so machine noise hits every loop alike
            for name, loop in (("pure", pure), ("ours", ours), ("dataloader", dataloader)):
                torch.manual_seed(0)
                _, model, *_ = data_for(kind)
                samples[name].append(loop(model, x, y, loss_fn, config.batch_size))
        rates = {
            name: max(values) for name, values in samples.items()
        }  # best round: least disturbed by noise
        print(
            f"{kind}: full preset wall {wall:.1f}s (exit {proc.returncode}); samples/s ours {rates['ours']:.0f}, "
            f"DataLoader {rates['dataloader']:.0f} (ours/DataLoader {rates['ours'] / rates['dataloader']:.2f}x), "
            f"pure compute {rates['pure']:.0f} (our time / pure time {rates['pure'] / rates['ours']:.2f}x)"
        )


if __name__ == "__main__":
    main()
