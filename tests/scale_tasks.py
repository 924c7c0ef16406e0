"""Pure tasks for the executor tests, importable by the local pool and by Dask workers (tests/ on their path).

Each takes one JSON payload and returns a plain dict; none touches shared state."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def matrix_task(payload: dict) -> dict:
    """A small deterministic numpy computation: the same payload gives the same numbers anywhere."""
    rng = np.random.default_rng(payload["seed"])
    a = rng.standard_normal((payload["n"], payload["n"]))
    for _ in range(payload.get("rounds", 3)):
        a = np.tanh(a @ a.T / payload["n"])
    return {"seed": payload["seed"], "trace": float(np.trace(a)), "norm": float(np.linalg.norm(a))}


def gated_task(payload: dict) -> dict:
    """Writes a 'started' marker, then waits until a 'release' file exists: the test decides when it ends.
    Polls an observable event (the file), never a fixed delay."""
    folder = Path(payload["folder"])
    (folder / f"started-{payload['seed']}-{os.getpid()}").touch()
    while not (folder / "release").exists():
        time.sleep(0.01)  # polls for the release file
    return matrix_task(payload)


def failing_task(payload: dict) -> dict:
    if payload["seed"] == payload.get("fail", -1):
        raise ValueError(f"task {payload['seed']} failed on purpose")
    return matrix_task(payload)


def dying_task(payload: dict) -> dict:
    """Kills its own worker process for one seed, as the kernel's OOM killer would."""
    if payload["seed"] == payload.get("die", -1):
        os.kill(os.getpid(), 9)
    return matrix_task(payload)
