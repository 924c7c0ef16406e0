"""Walk-forward evaluation: rolling windows whose validation blocks tile the history backwards from the
latest usable day, as far as the data allows (`--folds all`), or the N most recent.

Each fold trains exactly as `train` does (fit | selection | validation, purged, the epoch chosen on the
selection block) on a window that ends where its validation block ends, and scores the model beside the
baselines on that block once. Figures over all folds pool the predictions and score them once. The
registry's versions and aliases are never changed; the caller stores the result as an evaluation record.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .baselines import NOT_INSTALLED
from .clock import now_iso
from .config import EffectiveConfig, TrainingConfig
from .data.store import DataStore
from .errors import Interrupted, UsageError
from .evaluate_output import write_predictions  # the CSV writer, named here as before
from .executors import StopRequest, make_executor, run_tasks, stop_on_sigterm
from .kinds import KINDS
from .paths import Home
from .pipeline import missing_marker_walk, val_days
from .report import cross_asset_note, fold_table  # noqa: F401 - moved to report.py; named here as before
from .specs import fewer_days

SCHEME = (
    "rolling window of `days` samples split fit | selection | validation (purged between blocks; the "
    "epoch is chosen on the selection block); fold k+1's validation block starts the day after fold k's "
    "ends; the last block ends at the latest usable day (or the day before --holdout-from)"
)
SYNTHETIC_FOLDS = 10  # --synthetic with --folds all: a generated market long enough for this many blocks


def fold_ends(
    first: pd.Timestamp,
    last: pd.Timestamp,
    config: TrainingConfig,
    folds: int | None,
    start: pd.Timestamp | None = None,
) -> list[pd.Timestamp]:
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
        # a --start after the data's end: no block can begin there, and fewer --days cannot help
        late = start is not None and start > last
        advice = (
            f"--start {start.date()} is after that last day"
            if late
            else fewer_days(config.days) + (" or a different --start" if start is not None else "")
        )
        raise UsageError(
            f"no walk-forward fold fits: the first validation block could end {first.date()}, the "
            f"last {last.date()}"
            + (f", starting on or after {start.date()}" if start is not None else "")
            + f"; {advice}"
        )
    if folds is not None and len(ends) < folds:
        raise UsageError(
            f"--folds {folds}: the history allows only {len(ends)} folds of {val_days(config)} "
            "validation days; use --folds all or fewer folds"
        )
    return ends[::-1]


# a task running in this process (local:1) also observes the caller's stop flag, so SIGTERM ends its epoch
# loop; in a pool or on a cluster the executor terminates or cancels the task instead
_caller_stop: StopRequest | None = None


def fold_task(payload: dict) -> dict:
    """A pure task: one fold trained and scored in a throw-away home rebuilt from the carried candles
    (embedded series come with the installed package). The same payload gives the same fold anywhere."""
    import torch

    from .data.carry import unpacked

    threads = torch.get_num_threads()
    torch.set_num_threads(payload["threads"])  # tasks share the cores instead of oversubscribing them
    try:
        config = TrainingConfig.model_validate_json(payload["config"])
        end = pd.Timestamp(payload["end"])
        with unpacked(payload["candles"], payload["sources"]) as home:
            fold = KINDS[payload["kind"]].fold(
                DataStore(home),
                payload["model"],
                config,
                payload["seed"],
                end,
                payload["synthetic_seed"],
                payload["folds"],
                stop=_caller_stop,
                **({"held_out": payload["held_out"]} if payload.get("held_out") else {}),
            )
    finally:
        torch.set_num_threads(threads)
    if fold.get("interrupted"):
        return {"interrupted": True}
    fold["validation"] = {
        s: {"first": p["dates"][0], "last": p["dates"][-1], "days": len(p["dates"])}
        for s, p in fold["predictions"].items()
    }
    fold["end"] = payload["end"]
    return fold


def _interrupted() -> Interrupted:
    return Interrupted("interrupted: evaluation stopped; nothing was recorded")


def plan_folds(
    home: Home,
    kind: str,
    name: str,
    config: TrainingConfig,
    folds: int | None,
    synthetic_seed: int | None = None,
    start: pd.Timestamp | None = None,
    holdout_from: pd.Timestamp | None = None,
) -> list[pd.Timestamp]:
    """The last day of each fold's validation block, oldest first."""
    if synthetic_seed is not None and folds is None:
        folds = SYNTHETIC_FOLDS
    first, last = KINDS[kind].evaluation_span(DataStore(home), name, config, synthetic_seed, folds)
    if holdout_from is None:
        return fold_ends(first, last, config, folds, start)
    if holdout_from > last:
        raise UsageError(
            f"--holdout-from {holdout_from.date()} is after the last usable day, {last.date()}: it would keep "
            "nothing out; give a day inside the data, or leave it out"
        )
    last = holdout_from - pd.Timedelta(days=1)
    try:
        return fold_ends(first, last, config, folds, start)
    except UsageError as exc:
        raise UsageError(f"{exc}; --holdout-from {holdout_from.date()} ends every block before it") from None


def fold_payloads(
    home: Home,
    kind: str,
    name: str,
    config: TrainingConfig,
    ends: list[pd.Timestamp],
    seed: int,
    synthetic_seed: int | None,
    threads: int,
    held_out: list[str] | None = None,
) -> list[dict]:
    """One plain-JSON payload per fold; every series the installed package lacks travels with it, and the
    series a cross-asset fold must not train on are named in it."""
    from .data.carry import carried_symbols, pack

    store = DataStore(home)
    sources = carried_symbols(store)
    candles = pack(store, list(sources))
    return [
        {
            "kind": kind,
            "model": name,
            "config": config.model_dump_json(),
            "seed": seed,
            "end": str(end.date()),
            "synthetic_seed": synthetic_seed,
            "folds": len(ends),
            "threads": threads,
            "candles": candles,
            "sources": sources,
            "held_out": held_out or [],
        }
        for end in ends
    ]


def walk_forward(
    home: Home,
    kind: str,
    name: str,
    config: TrainingConfig,
    folds: int | None,
    seed: int,
    workers: int = 0,
    synthetic_seed: int | None = None,
    start: pd.Timestamp | None = None,
    holdout_from: pd.Timestamp | None = None,
    on_progress=None,
    executor: str | None = None,
    cross_asset: bool = False,
) -> dict:
    """Train and score each fold with the same rules as `train`, as pure tasks on `executor` (`local`,
    `local:N`, `dask://HOST:PORT`; default `local` with `workers` processes, 0: every core). `folds` None
    means every fold the history allows; nothing on or after `holdout_from` enters any fold. `on_progress`
    gets {"done", "total", "label"} before the first fold and after each one. SIGTERM or Ctrl-C cancels the
    pending folds and raises Interrupted; nothing is returned to record. `cross_asset`: every fold's training
    pool leaves out the scored asset and its near copies (the kind names them), so the figures measure the
    model on an asset it never saw.

    Scores of a baseline whose optional package is missing are None; `missing_extras` names them."""
    global _caller_stop
    from .train import cpu_threads

    held_out = cross_asset_held_out(home, kind, name, config, synthetic_seed) if cross_asset else None
    ends = plan_folds(home, kind, name, config, folds, synthetic_seed, start, holdout_from)
    cores = os.cpu_count() or 1
    local = (executor or "local").strip() == "local"
    preload = (__name__, *KINDS[kind].worker_modules(config))
    with make_executor(executor, min(len(ends), workers or cores) if local else 0, preload) as pool:
        capacity = getattr(pool, "capacity", None)  # None: a cluster, whose workers run one task per thread
        used = min(len(ends), capacity) if capacity else getattr(pool, "workers", 1)
        threads = min(cpu_threads(), max(1, cores // used)) if capacity else 1
        tasks = fold_payloads(home, kind, name, config, ends, seed, synthetic_seed, threads, held_out)
        label = pool.description

        def progress(done: int, total: int = len(ends)) -> None:
            if on_progress is not None:
                on_progress({"done": done, "total": total, "label": label})

        progress(0)
        with stop_on_sigterm() as stop:
            _caller_stop = stop
            try:
                results = run_tasks(pool, fold_task, tasks, on_done=progress, stop=stop)
            except Interrupted:
                raise _interrupted() from None
            finally:
                _caller_stop = None
            if stop.requested or any(fold.get("interrupted") for fold in results):
                raise _interrupted()
    missing = sorted({extra for fold in results for extra in fold.pop("missing_extras", [])})
    summary = KINDS[kind].summarize(results)
    decision = KINDS[kind].decision(results)
    return {
        "model_name": name,
        "model_type": kind,
        "synthetic_seed": synthetic_seed,
        "scheme": SCHEME,
        "executor": label,
        "workers": used,
        "fold_count": len(results),
        "holdout_from": None if holdout_from is None else str(holdout_from.date()),
        "start": None if start is None else str(start.date()),
        "cross_asset": None if held_out is None else {"held_out": held_out},
        "span_note": span_note(home, kind, config, ends, start, holdout_from),
        "decision": decision,
        "folds": results,
        "summary": summary,
        "verdicts": KINDS[kind].verdicts(summary),
        "missing_extras": missing,
    }


def cross_asset_held_out(
    home: Home, kind: str, name: str, config: TrainingConfig, synthetic_seed: int | None
) -> list[str]:
    """The series no fold may train on under --cross-asset; a usage error where the option cannot apply."""
    if not KINDS[kind].cross_asset:
        allowed = " or ".join(k.name for k in KINDS.values() if k.cross_asset)
        raise UsageError(
            f"--cross-asset is for {allowed} models, which train on a pool of assets; a {kind} model "
            "cannot leave its own asset out"
        )
    if synthetic_seed is not None:
        raise UsageError(
            "--cross-asset cannot be combined with --synthetic: a generated market trains alone, so "
            "there is no pool to leave it out of"
        )
    return KINDS[kind].held_out(DataStore(home), name, config)


def span_note(
    home: Home,
    kind: str,
    config: TrainingConfig,
    ends: list[pd.Timestamp] | None = None,
    start: pd.Timestamp | None = None,
    holdout_from: pd.Timestamp | None = None,
) -> str | None:
    """What the reader of the figures must know about the days they cover: the kind's sentences (a shorter
    series ends every fold early, extreme days) and, with --start, the days between DATE and the first block
    (blocks tile back from the latest day, so the block that straddles DATE is left out)."""
    notes = [KINDS[kind].span_note(DataStore(home), config, holdout_from, ends)]
    if start is not None and ends:
        begins = ends[0] - pd.Timedelta(days=val_days(config) - 1)
        # only the block that straddles DATE (fewer --folds can leave out more: that is asked for)
        if start < begins <= start + pd.Timedelta(days=val_days(config) - 1):
            gap_end = (begins - pd.Timedelta(days=1)).date()
            notes.append(
                f"The first block from --start {start.date()} begins {begins.date()}: blocks tile back from "
                f"the latest day in {val_days(config)}-day steps, so {start.date()}..{gap_end} lies in a "
                "block that starts earlier and is in no fold here (`--folds all --predictions` has it)."
            )
    return " ".join(n for n in notes if n) or None


def as_json(result: dict) -> dict:
    """The evaluation as stored and printed: a missing package's scores read 'not installed (...)'."""
    names = set(result.get("missing_extras", []))
    out = {k: v for k, v in result.items() if k != "missing_extras"}
    for key in ("folds", "summary"):
        out[key] = missing_marker_walk(out[key], names, NOT_INSTALLED)
    return out


def evaluate_and_record(
    home: Home,
    kind: str,
    model: str,
    effective: EffectiveConfig,
    *,
    folds: int | None,
    seed: int,
    workers: int,
    synthetic: bool,
    report_dir: Path | None,
    command: str,
    start: pd.Timestamp | None = None,
    holdout_from: pd.Timestamp | None = None,
    predictions_csv: Path | None = None,
    on_progress=None,
    executor: str | None = None,
    cross_asset: bool = False,
) -> dict:
    """Run the walk-forward evaluation, write the optional report and predictions, and keep the record in the
    registry."""
    import time

    from .estimate_eval import evaluation_row
    from .jobs import Jobs, new_job_id
    from .registry import Registry

    started = time.perf_counter()
    result = walk_forward(
        home,
        kind,
        model,
        effective.config,
        folds,
        seed,
        workers,
        synthetic_seed=seed if synthetic else None,
        start=start,
        holdout_from=holdout_from,
        on_progress=on_progress,
        executor=executor,
        cross_asset=cross_asset,
    )
    if result["executor"].startswith("local"):  # the pace of this host, for the next estimate
        seconds = time.perf_counter() - started
        Jobs(home).record_run(
            evaluation_row(
                kind, effective.config, result["fold_count"], result["workers"], seconds, synthetic
            )
        )
    if predictions_csv is not None:
        result["predictions_csv"] = str(write_predictions(result, predictions_csv))
    if report_dir is not None:
        from .report import write_report

        result["report"] = str(write_report(result, report_dir, command))
    for fold in result["folds"]:
        fold.pop("predictions")
    out = as_json(result)
    record = {
        "evaluation_id": new_job_id(),
        "created_at": now_iso(),
        "command": command,
        "config": effective.as_dict(),
        "sources": effective.sources,
        "seed": seed,
        **out,
    }
    out["record"] = str(Registry(home).save_evaluation(model, record))
    return out
