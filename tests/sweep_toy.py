"""Cheap sweep objectives for the tests, named by dotted path (`--objective tests.sweep_toy:quadratic`).

They follow the objective contract of mltrain.sweep: objective(config, context) -> float, lower is better."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path


def quadratic(config, context: dict) -> float:
    """Smallest at learning_rate 0.003 and batch_size 64; needs the context a real objective gets."""
    assert "candles" in context and context["folds"] >= 1, "the trial task carries its data and folds"
    return (math.log10(config.learning_rate) - math.log10(0.003)) ** 2 + (config.batch_size - 64) ** 2 / 1e4


def quadratic_in_step(config, context: dict) -> float:
    """quadratic, but the first trial of each process waits until PEERS processes have started a trial
    (marker files in MLTRAIN_TEST_BARRIER): the two sweeps provably overlap, with no sleep as a signal."""
    folder = Path(os.environ["MLTRAIN_TEST_BARRIER"])
    (folder / f"started-{os.getpid()}").touch()
    while len(list(folder.glob("started-*"))) < int(os.environ.get("MLTRAIN_TEST_PEERS", "2")):
        time.sleep(0.01)  # polls for the peers' marker files
    return quadratic(config, context)


def held(config, context: dict) -> float:
    """Marks that a trial started (a file in MLTRAIN_TEST_BARRIER), then waits for a 'release' file that the
    interrupt tests never write: the trial is still running when the CLI is signalled."""
    folder = Path(os.environ["MLTRAIN_TEST_BARRIER"])
    (folder / f"started-{os.getpid()}").touch()
    while not (folder / "release").exists():
        time.sleep(0.01)  # polls for the release file
    return quadratic(config, context)


def failing(config, context: dict) -> float:
    """Every trial fails as a training failure would (a project error): the trial is recorded FAIL."""
    from mltrain.errors import MltrainError

    raise MltrainError("the toy objective fails every trial")
