"""Walk-forward evaluation: rolling windows whose validation blocks tile the history backwards from the
latest usable day, as far as the data allows (`--folds all`), or the N most recent.

Each fold trains exactly as `train` does (fit | selection | validation, purged, the epoch chosen on the
selection block) on a window that ends where its validation block ends, and scores the model beside the
baselines on that block once. Figures over all folds pool the predictions and score them once. The
registry's versions and aliases are never changed; the caller stores the result as an evaluation record.
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
from .errors import Interrupted, UsageError
from .kinds import KINDS
from .paths import Home
from .pipeline import missing_marker_walk
from .train import StopFlag

SCHEME = ("rolling window of `days` samples split fit | selection | validation (purged between blocks; the "
          "epoch is chosen on the selection block); fold k+1's validation block starts the day after fold k's "
          "ends; the last block ends at the latest usable day (or the day before --holdout-from)")
SYNTHETIC_FOLDS = 10  # --synthetic with --folds all: a generated market long enough for this many blocks
POLL_SECONDS = 0.2  # how often the parent looks at the stop flag while its workers run


def val_days(config: TrainingConfig) -> int:
    return config.days - int(round(config.days * config.train_val_split))


def fold_ends(first: pd.Timestamp, last: pd.Timestamp, config: TrainingConfig, folds: int | None,
              start: pd.Timestamp | None = None) -> list[pd.Timestamp]:
    """Oldest first; consecutive validation blocks are adjacent and never overlap. `folds` None: every block
    the history allows (its window must end on or after `first`); `start`: blocks that begin on or after it."""
    step = pd.Timedelta(days=val_days(config))
    ends = []
    end = last
    while end >= first and (folds is None or len(ends) < folds):
        if start is not None and end - step + pd.Timedelta(days=1) < start:
            break
        ends.append(end)
        end -= step
    if not ends:
        raise UsageError(f"no walk-forward fold fits: the first validation block could end {first.date()}, the "
                         f"last {last.date()}" + (f", starting on or after {start.date()}" if start is not None
                                                  else "") + "; use fewer --days or a different --start")
    if folds is not None and len(ends) < folds:
        raise UsageError(f"--folds {folds}: the history allows only {len(ends)} folds of {val_days(config)} "
                         "validation days; use --folds all or fewer folds")
    return ends[::-1]


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


def plan_folds(home: Home, kind: str, name: str, config: TrainingConfig, folds: int | None,
               synthetic_seed: int | None = None, start: pd.Timestamp | None = None,
               holdout_from: pd.Timestamp | None = None) -> list[pd.Timestamp]:
    """The last day of each fold's validation block, oldest first."""
    if synthetic_seed is not None and folds is None:
        folds = SYNTHETIC_FOLDS
    first, last = KINDS[kind].evaluation_span(DataStore(home), name, config, synthetic_seed, folds)
    if holdout_from is not None:
        last = min(last, holdout_from - pd.Timedelta(days=1))
    return fold_ends(first, last, config, folds, start)


def walk_forward(home: Home, kind: str, name: str, config: TrainingConfig, folds: int | None, seed: int,
                 workers: int = 0, synthetic_seed: int | None = None, start: pd.Timestamp | None = None,
                 holdout_from: pd.Timestamp | None = None, on_progress=None) -> dict:
    """Train and score each fold with the same rules as `train`; workers=0 uses every core. `folds` None
    means every fold the history allows; nothing on or after `holdout_from` enters any fold. `on_progress`
    gets {"done", "total", "label"} before the first fold and after each one.

    Scores of a baseline whose optional package is missing are None; `missing_extras` names them."""
    ends = plan_folds(home, kind, name, config, folds, synthetic_seed, start, holdout_from)
    cores = os.cpu_count() or 1
    workers = min(len(ends), workers or cores)
    threads = max(1, cores // workers)
    jobs = [(home.root, kind, name, config.model_dump_json(), seed, end, synthetic_seed, len(ends), threads)
            for end in ends]
    def progress(done: int) -> None:
        if on_progress is not None:
            label = f"fold {done} of {len(ends)}, validation to {ends[done - 1].date()}" if done else ""
            on_progress({"done": done, "total": len(ends), "label": label})

    progress(0)
    results: list[dict] = []
    with _stop_on_sigterm() as stop:
        if workers > 1:
            # leaving the block terminates the workers, also when the parent is interrupted
            with multiprocessing.get_context().Pool(workers, initializer=_worker_init) as pool:
                pending = pool.imap(_one_fold, jobs, chunksize=1)  # results in fold order
                while len(results) < len(jobs):
                    try:
                        results.append(pending.next(POLL_SECONDS))
                        progress(len(results))
                    except multiprocessing.TimeoutError:
                        pass
                    if stop.requested:
                        raise _interrupted()
        else:
            for job in jobs:
                results.append(_one_fold(job, stop))
                if stop.requested or results[-1].get("interrupted"):
                    raise _interrupted()
                progress(len(results))
    missing = sorted({extra for fold in results for extra in fold.pop("missing_extras", [])})
    summary = KINDS[kind].summarize(results)
    return {"model_name": name, "model_type": kind, "synthetic_seed": synthetic_seed, "scheme": SCHEME,
            "workers": workers, "fold_count": len(results),
            "holdout_from": None if holdout_from is None else str(holdout_from.date()),
            "start": None if start is None else str(start.date()), "folds": results, "summary": summary,
            "verdicts": KINDS[kind].verdicts(summary), "missing_extras": missing}


def write_predictions(result: dict, path: Path) -> Path:
    """Every fold's out-of-sample predictions as CSV: date, symbol, fold, truth, the model, each baseline."""
    import csv
    import io

    rows: list[dict] = []
    columns: dict[str, None] = {"date": None, "symbol": None, "fold": None, "truth": None}
    for k, fold in enumerate(result["folds"], start=1):
        for symbol, pred in fold["predictions"].items():
            n = len(pred["dates"])
            series = {}
            for key, values in pred.items():
                if key in ("dates", "actual") or not isinstance(values, list) or len(values) != n:
                    continue
                if values and isinstance(values[0], list):  # probabilities: one column per class
                    for j, label in enumerate(pred.get("classes") or range(len(values[0]))):
                        series[f"{key}_{label}"] = [v[j] for v in values]
                else:
                    series[key] = values
            for name in series:
                columns.setdefault(name, None)
            for i in range(n):
                rows.append({"date": pred["dates"][i], "symbol": symbol, "fold": k, "truth": pred["actual"][i],
                             **{name: values[i] for name, values in series.items()}})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(rows)
    from .fsutil import atomic_write_bytes

    atomic_write_bytes(path, buffer.getvalue().encode())
    return path


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


def evaluate_and_record(home: Home, kind: str, model: str, effective: EffectiveConfig, *, folds: int | None,
                        seed: int, workers: int, synthetic: bool, report_dir: Path | None, command: str,
                        start: pd.Timestamp | None = None, holdout_from: pd.Timestamp | None = None,
                        predictions_csv: Path | None = None, on_progress=None) -> dict:
    """Run the walk-forward evaluation, write the optional report and predictions, and keep the record in the
    registry."""
    from .jobs import new_job_id
    from .registry import Registry

    result = walk_forward(home, kind, model, effective.config, folds, seed, workers,
                          synthetic_seed=seed if synthetic else None, start=start, holdout_from=holdout_from,
                          on_progress=on_progress)
    if predictions_csv is not None:
        result["predictions_csv"] = str(write_predictions(result, predictions_csv))
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
