"""Walk-forward evaluation: rolling windows whose validation blocks tile the most recent history.

Each fold trains exactly as `train` does (same purge, label and normalisation rules) on a window that
ends where its validation block ends, and scores the model beside the baselines on that block. The
registry is never changed; the caller stores the result as an evaluation record.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .baselines import NOT_INSTALLED
from .clock import now_iso
from .config import EffectiveConfig, TrainingConfig
from .data.store import DataStore
from .errors import Interrupted
from .kinds import KINDS
from .paths import Home
from .pipeline import missing_marker_walk
from .train import StopFlag

SCHEME = ("rolling window of `days` samples; fold k+1's validation block starts the day after fold k's ends; "
          "the last block ends at the latest usable day")
POLL_SECONDS = 0.2  # how often the parent looks at the stop flag while its workers run


def val_days(config: TrainingConfig) -> int:
    return config.days - int(round(config.days * config.train_val_split))


def fold_ends(last: pd.Timestamp, config: TrainingConfig, folds: int) -> list[pd.Timestamp]:
    """Oldest first; consecutive validation blocks are adjacent and never overlap."""
    return [last - pd.Timedelta(days=val_days(config) * k) for k in reversed(range(folds))]


@contextmanager
def _stop_on_sigterm() -> Iterator[StopFlag]:
    """SIGTERM (a cron timeout, `kill`) sets a flag that stops the evaluation like Ctrl-C does."""
    stop = StopFlag()
    previous = signal.signal(signal.SIGTERM, stop.set)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which terminates them; they also die with the parent (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked with the parent's handler; terminate() must kill
    if sys.platform.startswith("linux"):
        try:
            # PR_SET_PDEATHSIG: a SIGKILLed parent takes them along
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)
        except (OSError, AttributeError):
            pass  # best effort only: without it, a parent killed by SIGKILL can leave idle workers behind


def _one_fold(args: tuple, stop: StopFlag | None = None) -> dict:
    home_root, kind, name, config_json, seed, end, synthetic_seed, folds, threads = args
    import torch

    torch.set_num_threads(threads)  # workers share the cores instead of oversubscribing them
    config = TrainingConfig.model_validate_json(config_json)
    store = DataStore(Home(home_root))
    fold = KINDS[kind].fold(store, name, config, seed, end, synthetic_seed, folds, stop=stop)
    if fold.get("interrupted"):
        return fold
    fold["validation"] = {s: {"first": p["dates"][0], "last": p["dates"][-1], "days": len(p["dates"])}
                          for s, p in fold["predictions"].items()}
    fold["end"] = str(end.date())
    return fold


def _interrupted() -> Interrupted:
    return Interrupted("interrupted: evaluation stopped; nothing was recorded")


def walk_forward(home: Home, kind: str, name: str, config: TrainingConfig, folds: int, seed: int,
                 workers: int = 0, synthetic_seed: int | None = None) -> dict:
    """Train and score each fold with the same rules as `train`; workers=0 uses every core.

    Scores of a baseline whose optional package is missing are None; `missing_extras` names them."""
    store = DataStore(home)
    last = KINDS[kind].evaluation_end(store, name, config, folds, synthetic_seed)
    cores = os.cpu_count() or 1
    workers = min(folds, workers or cores)
    threads = max(1, cores // workers)
    jobs = [(home.root, kind, name, config.model_dump_json(), seed, end, synthetic_seed, folds, threads)
            for end in fold_ends(last, config, folds)]
    with _stop_on_sigterm() as stop:
        if workers > 1:
            # leaving the block terminates the workers, also when the parent is interrupted
            with multiprocessing.get_context().Pool(workers, initializer=_worker_init) as pool:
                pending = pool.map_async(_one_fold, jobs, chunksize=1)
                while not pending.ready():
                    pending.wait(POLL_SECONDS)
                    if stop.requested:
                        raise _interrupted()
                results = pending.get()
        else:
            results = []
            for job in jobs:
                results.append(_one_fold(job, stop))
                if stop.requested or results[-1].get("interrupted"):
                    raise _interrupted()
    missing = sorted({extra for fold in results for extra in fold.pop("missing_extras", [])})
    return {"model_name": name, "model_type": kind, "synthetic_seed": synthetic_seed, "scheme": SCHEME,
            "workers": workers, "folds": results, "summary": KINDS[kind].summarize(results),
            "missing_extras": missing}


def fold_table(result: dict) -> tuple[list[str], list[list]]:
    """The per-fold scores of model and baselines; the one table text output and the report both show."""
    return KINDS[result["model_type"]].fold_table(result)


def as_json(result: dict) -> dict:
    """The evaluation as stored and printed: a missing package's scores read 'not installed (...)'."""
    names = set(result.get("missing_extras", []))
    out = {k: v for k, v in result.items() if k != "missing_extras"}
    for key in ("folds", "summary"):
        out[key] = missing_marker_walk(out[key], names, NOT_INSTALLED)
    return out


def evaluate_and_record(home: Home, kind: str, model: str, effective: EffectiveConfig, *, folds: int,
                        seed: int,
                        workers: int, synthetic: bool, report_dir: Path | None, command: str) -> dict:
    """Run the walk-forward evaluation, write the optional report, and keep the record in the registry."""
    from .jobs import new_job_id
    from .registry import Registry

    result = walk_forward(home, kind, model, effective.config, folds, seed, workers,
                          synthetic_seed=seed if synthetic else None)
    if report_dir is not None:
        from .report import write_report

        result["report"] = str(write_report(result, report_dir, command))
    for fold in result["folds"]:
        fold.pop("predictions")
    out = as_json(result)
    record = {"evaluation_id": new_job_id(), "created_at": now_iso(), "command": command,
              "config": effective.as_dict(), "sources": effective.sources, "seed": seed, **out}
    out["record"] = str(Registry(home).save_evaluation(model, record))
    return out
