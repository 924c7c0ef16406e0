"""mltrain evaluate: walk-forward folds against strong baselines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError
from ..kinds import KINDS, resolve_model_type
from ..outputs import check_output, named_path
from . import render
from .common import (
    CONFIG_OPT,
    JSON_OPT,
    MODEL_TYPE_OPT,
    PRESET_OPT,
    effective_config,
    env,
    home,
    run,
    seed_option,
    warn,
)
from .options import config_flags


# min_r2 is the promotion gate's: an evaluation promotes nothing
@config_flags(after="config_file", skip=("min_r2", "promotion_folds", "promotion_regime_days"))
def evaluate(
    model: str = typer.Argument(..., help="Model name."),
    model_type: Optional[str] = MODEL_TYPE_OPT,
    folds: str = typer.Option(
        "all",
        "--folds",
        help="Walk-forward folds: 'all' (every block the history allows) or the N most recent (2..500).",
    ),
    start: Optional[str] = typer.Option(
        None, "--start", help="Only folds whose validation block starts on or after DATE (YYYY-MM-DD)."
    ),
    holdout_from: Optional[str] = typer.Option(
        None,
        "--holdout-from",
        help="Keep DATE (YYYY-MM-DD) and everything after it out of every "
        "fold: an untouched period to score later.",
    ),
    predictions: Optional[str] = typer.Option(
        None,
        "--predictions",
        metavar="FILE",
        help="Write every fold's out-of-sample predictions (date, symbol, "
        "fold, truth, model, each baseline) to FILE.csv.",
    ),
    preset: Optional[str] = PRESET_OPT,
    config_file: Optional[Path] = CONFIG_OPT,
    seed: int = seed_option(42, "Training seed; with --synthetic also the market's seed."),
    synthetic: bool = typer.Option(
        False,
        "--synthetic",
        help="Regime models: train and score on a generated market whose true regimes are known.",
    ),
    cross_asset: bool = typer.Option(
        False,
        "--cross-asset",
        help="Regime models: every fold trains on the other assets only (the scored asset and any near "
        "copy of it left out), to measure the detector on an asset it never saw.",
    ),
    report: Optional[str] = typer.Option(
        None, "--report", metavar="DIR", help="Write report.md and PNG figures into DIR."
    ),
    workers: int = typer.Option(0, "--workers", help="Processes for the independent folds (0: every core)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local, local:N or dask://HOST:PORT"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print config, folds and the time estimate; evaluate nothing."
    ),
    details: bool = typer.Option(
        False,
        "--details",
        help="After the summary: every fold's scores, the full pooled tables (volatility: with DM and MCS) "
        "and verdict sentences.",
    ),
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Accepted so scripts can pass train's flag here too; evaluate never asks (it changes no version).",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress lines on stderr (with --json they stay on stderr unless --quiet).",
    ),
    as_json: bool = JSON_OPT,
    flags: dict | None = None,  # the config flags (--days ...): options.config_flags declares them
) -> None:
    """Walk-forward evaluation against strong baselines; the registry (versions, aliases) is not changed."""
    flags = flags or {}

    def body() -> dict:
        from ..evaluate import evaluate_and_record

        count = _folds(folds)
        first_day, holdout = _date("--start", start), _date("--holdout-from", holdout_from)
        predictions_at = named_path(predictions, "--predictions", "a file name")
        report_at = named_path(report, "--report", "a folder for report.md and its figures")
        if predictions_at is not None:  # a folder or a socket is refused before minutes of evaluation
            check_output(predictions_at, "--predictions")
        if workers < 0:
            raise UsageError(f"--workers {workers} must be 0 (every core) or more")
        cores = os.cpu_count() or 1
        if workers > cores:  # allowed (a fold waits on I/O too), but said: they share the cores
            warn(f"--workers {workers} is more than this machine's {cores} cores; the folds share them")
        if workers and executor is not None and executor.strip() != "local":
            raise UsageError(
                f"--workers {workers} applies to --executor local only; give the count as --executor local:N"
            )
        at = home()
        kind = resolve_model_type(model, model_type, at)
        if report_at is not None and report_at.exists() and not report_at.is_dir():
            raise UsageError(f"--report {report_at} is a file; give a folder for report.md and its figures")
        # the generated market trains alone: a pool was ignored silently
        if synthetic and flags.get("symbols"):
            raise UsageError(
                "--symbols names a pool of real series; --synthetic trains on the generated market alone"
            )
        if synthetic and not KINDS[kind].synthetic:
            with_truth = " or ".join(k.name for k in KINDS.values() if k.synthetic)
            raise UsageError(
                f"--synthetic is for {with_truth} models: only they have known true regimes to score against"
            )
        effective = effective_config(at, kind, preset, config_file, flags)
        held_out = None
        if cross_asset:
            from ..evaluate import cross_asset_held_out

            held_out = cross_asset_held_out(at, kind, model, effective.config, 42 if synthetic else None)
        if dry_run:
            plan = evaluation_plan(
                at, model, kind, effective, count, workers, synthetic, first_day, holdout, executor
            )
            if held_out is not None:
                plan["cross_asset"] = {"held_out": held_out}  # the key a cross-asset result carries
            return plan
        e = env()
        display = render.FoldProgress(e.stderr, live=e.stderr.isatty() and not as_json, quiet=quiet)
        with display:
            result = evaluate_and_record(
                at,
                kind,
                model,
                effective,
                folds=count,
                seed=seed,
                workers=workers,
                synthetic=synthetic,
                report_dir=report_at,
                command=e.command,
                start=first_day,
                holdout_from=holdout,
                predictions_csv=predictions_at,
                on_progress=display,
                executor=executor,
                cross_asset=cross_asset,
            )
        result["headline"] = render.headline(result)  # the summary the text shows first, in --json too
        return result

    def show(d: dict) -> None:
        if dry_run:
            render.evaluation_plan(d, env().stdout)
        else:
            from .decision_view import render as decision_first

            decision_first(d, env().stdout, details=details)  # the headline: decision value comes first
            render.evaluation(d, env().stdout, details=details)

    run(as_json, body, show)


def _folds(text: str) -> int | None:
    """'all' -> None (every fold the history allows), else an int in 2..500."""
    if text.strip().lower() == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise UsageError(f"--folds {text!r} is not a number; allowed: all or 2..500") from None
    if not 2 <= count <= 500:
        raise UsageError(f"--folds {count} is out of range; allowed: all or 2..500")
    return count


def _date(flag: str, text: str | None):
    if text is None:
        return None
    import pandas as pd

    from ..textutil import parse_day

    return pd.Timestamp(parse_day(text, flag))


def evaluation_plan(
    at,
    model: str,
    kind: str,
    effective,
    count: int | None,
    workers: int,
    synthetic: bool,
    first_day,
    holdout,
    executor: str | None = None,
) -> dict:
    """What `evaluate` would run and about how long it takes: one training estimate per fold, folds running
    `workers` at a time (`--executor local:N`: N; a Dask cluster: as many as this machine has cores)."""
    from .. import estimate_eval
    from ..evaluate import plan_folds, span_note
    from ..executors import local_workers

    ends = plan_folds(at, kind, model, effective.config, count, 42 if synthetic else None, first_day, holdout)
    folds = len(ends)
    used = min(folds, local_workers(executor, workers) or os.cpu_count() or 1)
    est = estimate_eval.for_evaluation(
        at, kind, effective.config, folds=folds, workers=used, synthetic=synthetic
    ).as_dict()
    return {
        "model_name": model,
        "model_type": kind,
        "preset": effective.preset,
        "config": effective.as_dict(),
        "sources": effective.sources,
        "device": "cpu",
        "folds": folds,
        "workers": used,
        "estimate": est,
        "validation_blocks": f"{ends[0].date()} .. {ends[-1].date()} (block ends)",
        "span_note": span_note(at, kind, effective.config, ends, first_day, holdout),
    }
