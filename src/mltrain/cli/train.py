"""mltrain train: estimate, confirm, fit, gate, save."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ExitCode, MltrainError, UsageError
from ..kinds import KINDS, resolve_model_type
from . import complete, render
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

NO_TTY = (
    "stdin is not a terminal and --yes was not given; pass --yes to train non-interactively (cron, scripts)"
)


def _say_probe(at, kind: str, config, device: str, quiet: bool) -> None:
    """The first estimate of a config times a short training probe (seconds): say so before the wait."""
    from ..estimate import cached

    if not quiet and cached(at, kind, config, device) is None:
        render.paragraph(
            "estimating the run time: timing a short training probe (a few seconds; cached for next time)",
            env().stderr,
        )


@config_flags(after="config_file")
def train(
    model: str = typer.Argument(
        ...,
        help="Model name, e.g. "
        + " or ".join(name for kind in KINDS.values() for name in kind.catalogue)
        + ".",
        autocompletion=complete.model_names,
    ),
    model_type: Optional[str] = MODEL_TYPE_OPT,
    preset: Optional[str] = PRESET_OPT,
    config_file: Optional[Path] = CONFIG_OPT,
    seed: int = seed_option(42, "Random seed (recorded with the model)."),
    device: str = typer.Option(
        "auto",
        "--device",
        help="auto (cuda, then mps, then cpu), cpu, cuda or mps.",
        autocompletion=complete.devices,
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask for confirmation (required without a terminal)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print config, sources, device and estimate; train nothing."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for another job on the same model instead of exiting 2."
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress lines on stderr (with --json they stay on stderr unless --quiet).",
    ),
    no_promote: bool = typer.Option(
        False,
        "--no-promote",
        help="Save the new version without promoting it, even if it passes its "
        "gate (promote later with `mltrain models promote`).",
    ),
    update_data: bool = typer.Option(
        False,
        "--update-data",
        help="First fetch new candles for the symbols this run needs "
        "(as `mltrain data update`); any error there trains nothing.",
    ),
    exchange: str = typer.Option("binance", "--exchange", help="With --update-data: the ccxt exchange."),
    quote: str = typer.Option("USDT", "--quote", help="With --update-data: the quote currency."),
    api_url: Optional[str] = typer.Option(
        None,
        "--api-url",
        help="With --update-data: the exchange's REST base URL (a mirror or a test server).",
    ),
    as_json: bool = JSON_OPT,
    flags: dict | None = None,  # the config flags (--days ...): options.config_flags declares them
) -> None:
    """Train a model: estimate, confirm, fit, gate, and save a new registry version.

    The model's lock is taken first: a model another job is training is refused at once (exit 2)."""
    flags = flags or {}
    e = env()
    windows: dict = {}  # the run's data windows: shown in text, kept out of the pinned JSON result
    gate: dict = {}  # the gate's verdict (in the version's metadata; `models show`)

    def body() -> dict:
        at = home()
        kind = resolve_model_type(model, model_type, at)
        effective = effective_config(at, kind, preset, config_file, flags)
        if dry_run:
            return prepare(at, kind, effective, None)
        if not yes and not e.stdin_isatty:  # at once: before the lock, a data update, the data and the probe
            raise UsageError(NO_TTY)
        from ..jobs import new_job_id
        from ..runner import model_lock

        job_id = new_job_id()
        # before anything slow (data update, data loading, the estimate probe, torch): a busy model is
        # refused at once, and the lock is held, never dropped, until the version is committed
        with model_lock(at, model, job_id, wait, on_wait=lambda m: print(m, file=e.stderr)):
            if update_data:
                from ..clock import now_iso
                from ..runner import record_failed_job
                from .data import update_data as fetch

                started = now_iso()
                try:
                    fetch(
                        KINDS[kind].symbols(model, effective.config),
                        exchange=exchange,
                        quote=quote,
                        since=None,
                        api_url=api_url,
                        quiet=quiet,
                        live=e.stderr.isatty() and not as_json,
                    )
                except MltrainError as exc:  # nothing trained: the job record says why (jobs list)
                    error = f"--update-data: {exc}"
                    record_failed_job(at, job_id, model, effective, list(e.argv), error, started)
                    raise
            return prepare(at, kind, effective, job_id)

    def prepare(at, kind: str, effective, job_id: str | None) -> dict:
        from ..estimate import for_training
        from ..runner import check_data
        from ..train import pick_device

        stale = check_data(at, model, effective, today=e.today)
        if stale:
            warn(stale)
        used_device = pick_device(device)
        _say_probe(at, kind, effective.config, used_device, quiet)
        estimate = for_training(at, kind, effective.config, used_device)
        check, check_seconds = promotion_estimate(at, kind, model, effective, seed, used_device, quiet)
        plan = {
            "model_name": model,
            "model_type": kind,
            "preset": effective.preset,
            "config": effective.as_dict(),
            "sources": effective.sources,
            "device": used_device,
            "estimate": estimate.as_dict(),
            "promotion_check": check,
        }
        if dry_run:
            return plan
        render.plan(plan, e.stderr)
        if not yes:
            if not e.stdin_isatty:
                raise UsageError(NO_TTY)
            if not typer.confirm("Start training?", default=True, err=True):
                raise MltrainError("cancelled at the prompt; nothing was trained", ExitCode.FAILURE)
        from ..runner import TrainRequest, run_training

        display = render.Progress(
            e.stderr,
            symbols=KINDS[kind].progress_units(model, effective.config),
            epochs=effective.config.epochs,
            metric_name=KINDS[kind].progress_metric,
            live=e.stderr.isatty() and not as_json,
            quiet=quiet,
        )
        request = TrainRequest(
            model,
            effective,
            seed,
            used_device,
            estimate,
            list(e.argv),
            wait=wait,
            on_epoch=display,
            before_commit=e.before_commit,
            job_id=job_id,
            promote=not no_promote,
            check_estimate_seconds=check_seconds,
        )
        with display:
            outcome = run_training(at, request)
        windows.update(outcome.windows)
        for line in KINDS[kind].gate_messages(outcome.gate, outcome.data["version"]):
            render.paragraph(line, e.stderr)
        for line in outcome.warnings:
            render.paragraph(f"warning: {line}", e.stderr)
        if outcome.promotion:
            # the same evidence `models show` prints from the version's metadata
            render.promotion({"promotion": outcome.promotion, "model_type": kind}, e.stderr)
        _next_steps(outcome, model, no_promote, e.stderr)
        # an undecided check (folds of one regime) is no pass: --no-promote then exits as train does
        gate.update(
            outcome.gate, passed=outcome.gate.get("passed") and not (outcome.promotion or {}).get("undecided")
        )
        # for a cron log too: why it was (not) promoted and the pooled figures that decided it (`metrics` are
        # the one block's); the gate as the version records it, `promotion.undecided` saying when a passed
        # gate decided nothing (exit 3)
        return {**outcome.data, "gate": outcome.gate, "promotion": outcome.promotion}

    def show(data: dict) -> None:
        if dry_run:
            render.plan(data, e.stdout)
        else:
            render.train_result(data, windows, e.stdout)

    def exit_code(d: dict) -> int:
        if dry_run or d["promoted"] or (no_promote and gate.get("passed")):
            return ExitCode.OK
        return ExitCode.NOT_PROMOTED  # the gate refused it: saved as rejected, production unchanged

    run(as_json, body, show, code=exit_code)


def _next_steps(outcome, model: str, no_promote: bool, stream) -> None:
    """After a version that is not production: the commands that read, use or promote it, or what
    --no-promote did with it."""
    v = outcome.data["version"]
    if not outcome.promoted and not no_promote:
        render.paragraph(
            f"next: `mltrain models show {model} {v}` has the evidence; `mltrain predict {model} --version "
            f"{v}` answers from it without promoting it; `mltrain models promote {model} {v} --force` makes "
            "it production anyway (on the record)",
            stream,
        )
    if no_promote and outcome.gate.get("passed"):
        undecided = (outcome.promotion or {}).get("undecided")
        text = (
            f"was saved as a candidate, but its check could not decide: {undecided}"
            if undecided
            else "passed its gate and was saved as a candidate; production unchanged (promote it with "
            f"`mltrain models promote {model} {v}`)"
        )
        render.paragraph(f"--no-promote: v{v} {text}", stream)


def promotion_estimate(
    at, kind: str, model: str, effective, seed: int, device: str, quiet: bool
) -> tuple[dict | None, float]:
    """The promotion check a train would run now, and its expected seconds: ({folds, scorings, folds_to_score,
    expected_seconds, basis}, seconds), None for a model type without a check or when no fold fits the
    history. Its folds are scored one after another on the CPU as `evaluate --workers 1` scores its folds, so
    each config's are estimated as those are (on a GPU host, a first CPU probe is announced like the training
    one)."""
    from ..estimate_eval import for_evaluation
    from ..promotion import pending_folds
    from ..registry import Registry

    registry = Registry(at)
    production = registry.aliases(model).get("production")
    meta = registry.meta(model, production) if production in registry.versions(model) else None
    pending, windows, scorings = pending_folds(at, KINDS[kind], model, effective.config, seed, meta)
    if not windows:
        return None, 0.0
    todo = sum(n for _, n in pending)
    check = {"folds": windows, "scorings": scorings, "folds_to_score": todo, "expected_seconds": 0.0}
    check["basis"] = "every fold is cached"
    if not todo:
        return check, 0.0
    if device != "cpu":  # on the CPU, the training estimate has just probed (and said so)
        _say_probe(at, kind, effective.config, "cpu", quiet)
    parts = [
        (who, for_evaluation(at, kind, config, folds=n, workers=1))
        for who, (config, n) in zip(("candidate", "production"), pending)
        if n
    ]
    seconds = sum(estimate.expected_seconds for _, estimate in parts)
    check["expected_seconds"] = round(seconds, 1)
    check["basis"] = "; ".join(
        estimate.basis if len(pending) == 1 else f"{who}: {estimate.basis}" for who, estimate in parts
    )
    return check, seconds
