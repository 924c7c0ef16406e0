"""mltrain sweep: an Optuna study over config fields, scored on walk-forward selection blocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from ..errors import ExitCode, Interrupted, MltrainError
from ..kinds import KINDS, resolve_model_type
from . import render
from . import sweep_steps as steps
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
)
from .options import config_flags


@config_flags(after="config_file")
def sweep(
    model: str = typer.Argument(..., help="Model name."),
    trials: int = typer.Option(..., "--trials", help="Trials this run adds to the study (1..10000)."),
    model_type: Optional[str] = MODEL_TYPE_OPT,
    preset: Optional[str] = PRESET_OPT,
    config_file: Optional[Path] = CONFIG_OPT,
    space_file: Optional[Path] = typer.Option(
        None,
        "--space",
        help="YAML mapping of config field to "
        "{low, high[, log][, step]} or a list of choices (default: "
        "learning_rate, batch_size, hidden_size, patience, less those the config does not use).",
    ),
    storage: Optional[str] = typer.Option(
        None,
        "--storage",
        help="Optuna storage URL, e.g. postgresql://user@host/db (default: sweeps.db in the mltrain home).",
    ),
    study_name: Optional[str] = typer.Option(
        None, "--study", help="Study name (default: the model name); an existing study is resumed."
    ),
    executor: Optional[str] = typer.Option(
        None, "--executor", help="local (every core), local:N or dask://HOST:PORT (needs mltrain\\[dask])."
    ),
    seed: int = seed_option(42, "Training seed of every trial."),
    folds: int = typer.Option(
        4,
        "--folds",
        help="Walk-forward folds a trial is scored on: the N most recent "
        "before the untouched period (1..100).",
    ),
    holdout_from: Optional[str] = typer.Option(
        None,
        "--holdout-from",
        help="Keep DATE (YYYY-MM-DD) and everything after it out of "
        "every fold: an untouched period to score later.",
    ),
    save_preset: Optional[str] = typer.Option(
        None, "--save-preset", help="Write the best config as the user preset NAME."
    ),
    train_best: bool = typer.Option(False, "--train-best", help="Train and register the best config."),
    no_promote: bool = typer.Option(
        False, "--no-promote", help="With --train-best: save its version as a candidate; production stays."
    ),
    objective: Optional[str] = typer.Option(
        None, "--objective", hidden=True, help="module:function scoring a config (docs/scale.md)."
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
    """Search config fields with Optuna; trials run through the executor, this process records them.

    The base config (defaults < preset < --config < flags, as `train` takes it) holds every field the search
    space does not vary."""
    flags = flags or {}
    e = env()

    def body() -> dict:
        from ..executors import make_executor, stop_on_sigterm
        from ..sweep import (
            DEFAULT_OBJECTIVE,
            best_trial,
            context_for,
            trial_config,
            validate_best,
        )
        from ..sweep_preset import check_preset_name
        from .evaluate import _date

        steps.check_counts(trials, folds, no_promote and not train_best)
        holdout = _date("--holdout-from", holdout_from)
        at = home()
        if save_preset is not None:  # '' too: a name that cannot be saved is refused, not ignored
            check_preset_name(at, save_preset)  # before any trial, not after the last
        kind = resolve_model_type(model, model_type, at)
        effective = effective_config(at, kind, preset, config_file, flags)
        space = steps.search_space(space_file, kind, effective.config, objective)
        name = steps.study_name(study_name, model)
        held = None if holdout is None else str(holdout.date())
        study = steps.study(
            at, storage, name, kind, model, effective.config, space, seed, folds, held, objective
        )
        context = context_for(at, kind, model, effective.config, seed, folds, held)

        overridden = steps.space_overrides(space, effective)
        for line in overridden.values():
            render.paragraph(f"note: {line}", e.stderr)
        state = steps.start_state(best_trial(study))  # a resumed study: "best so far" starts from its best
        display = render.FoldProgress(
            e.stderr, live=e.stderr.isatty() and not as_json, quiet=quiet, what="trials"
        )
        progress = steps.trial_progress(state, display, trials)

        with make_executor(executor, preload=("mltrain.sweep",)) as pool, stop_on_sigterm() as stop:
            custom = (objective or DEFAULT_OBJECTIVE) != DEFAULT_OBJECTIVE
            estimate = None if custom else steps.estimate(at, kind, effective.config, folds, trials, pool)
            if not quiet:
                render.paragraph(steps.estimate_text(estimate, KINDS[kind].selection_loss_text), e.stderr)
            with display, _heartbeat(display, state, trials, estimate):
                mine = _searched(
                    name,
                    study,
                    effective.config,
                    space,
                    trials,
                    pool,
                    context,
                    stop=stop,
                    on_trial=progress,
                    objective=objective or DEFAULT_OBJECTIVE,
                )
        best = best_trial(study)
        out = steps.result(study, name, at, storage, space, context, mine, best)
        # what every trial's value is, the estimate shown before the first, the fields the space overrode
        out["score"] = "the custom objective's value" if custom else KINDS[kind].selection_loss_text
        out.update(estimate=estimate, space_overrides=overridden)
        if best is None:
            if save_preset is not None or train_best:
                why = out["failed_run"] or "no completed trial"
                raise MltrainError(f"study {name!r}: {why}; nothing to save or train", ExitCode.FAILURE)
            return out
        config = trial_config(effective.config, best["params"])
        if not custom:  # another objective may not score folds
            live = e.stderr.isatty() and not as_json
            checking = render.FoldProgress(e.stderr, live=live, quiet=quiet, what="validation folds")
            with checking:
                out["validation"] = {
                    "trial": best["number"],
                    **validate_best(at, config, context, executor, on_progress=checking),
                }
        if save_preset is not None:
            out["preset"] = {"name": save_preset, "path": _saved(at, save_preset, config, kind, name, best)}
        if train_best:
            base = (preset, config_file, flags)
            out["trained"] = _train(
                at, kind, model, save_preset, base, best["params"], seed, as_json, promote=not no_promote
            )
        return out

    def code(data: dict) -> int:
        if data.get("failed_run"):
            return ExitCode.FAILURE
        trained = data.get("trained")
        if trained is None or trained["promoted"] or (no_promote and trained.get("gate_passed")):
            return ExitCode.OK  # as train: --no-promote with its gate passed is what was asked
        return ExitCode.NOT_PROMOTED

    def show(data: dict) -> None:
        _show(data, e.stdout)
        if data.get("failed_run"):
            render.paragraph(f"error: {data['failed_run']}", e.stderr)

    run(as_json, body, show, code=code)


def _saved(at, preset_name: str, config, kind: str, name: str, best: dict) -> str:
    """Write the best config as a user preset; its description says which study and trial it came from."""
    from ..sweep_preset import save_preset as write_preset
    from ..sweep_preset import saved_description

    text = saved_description(name, kind, best["number"], best["value"])
    return str(write_preset(at, preset_name, config, kind, text))


HEARTBEAT_SECONDS = 20.0  # while trials run, a line this often: which trials, how long so far, the estimate


def _searched(name: str, study, *args, **kwargs) -> list[int]:
    """run_sweep; a stop (signal, Ctrl-C) is one line saying what was kept."""
    from ..sweep import run_sweep

    try:
        return run_sweep(study, *args, **kwargs)
    except (Interrupted, KeyboardInterrupt):
        raise Interrupted(
            f"interrupted: pending trials cancelled and recorded as failed in study "
            f"{name!r}; finished trials are kept (rerun to resume)"
        ) from None


@contextmanager
def _heartbeat(display, state: dict, trials: int, estimate: dict | None) -> Iterator[None]:
    """A trial can take minutes: between finished trials, a line every HEARTBEAT_SECONDS says which trials
    are running, for how long, and what one is expected to take."""
    import threading
    import time

    from ..estimate import format_seconds

    stop = threading.Event()
    at_once = (estimate or {}).get("at_once", 1)

    def beat() -> None:
        seen, since = state["done"], time.monotonic()
        while not stop.wait(HEARTBEAT_SECONDS):
            if state["done"] != seen:
                seen, since = state["done"], time.monotonic()
            first, last = seen, min(seen + at_once, trials) - 1
            running = f"trial {first}" if first == last else f"trials {first}..{last}"
            expected = f"; about {format_seconds(estimate['per_trial_seconds'])} each" if estimate else ""
            label = f"{running} running for {format_seconds(time.monotonic() - since)}{expected}"
            display({"done": seen, "total": trials, "label": label})

    thread = threading.Thread(target=beat, name="sweep-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _train(
    at,
    kind: str,
    model: str,
    saved: str | None,
    base: tuple,
    params: dict,
    seed: int,
    quiet: bool,
    promote: bool,
) -> dict:
    """The normal train path (lock, staging, gate, atomic commit): this process is the one registry writer."""
    from ..estimate import for_training
    from ..runner import TrainRequest, run_training
    from ..train import pick_device
    from .train import promotion_estimate

    e = env()
    # the saved preset carries the best values (sources name it); else the base config (preset, --config,
    # flags) with the best values over it
    preset, config_file, flags = base
    effective = (
        effective_config(at, kind, saved, None, {}, note=False)
        if saved
        else effective_config(at, kind, preset, config_file, {**flags, **params}, note=False)
    )
    device = pick_device("auto")
    estimate = for_training(at, kind, effective.config, device)
    check, seconds = promotion_estimate(at, kind, model, effective, seed, device, quiet)
    if check and not quiet:
        print(render.promotion_check_line(check), file=e.stderr)
    request = TrainRequest(
        model,
        effective,
        seed,
        device,
        estimate,
        list(e.argv),
        check_estimate_seconds=seconds,
        promote=promote,
    )
    outcome = run_training(at, request)
    if not quiet:
        for line in KINDS[kind].gate_messages(outcome.gate, outcome.data["version"]):
            print(line, file=e.stderr)
    undecided = (outcome.promotion or {}).get("undecided")  # folds of one regime: the check decided nothing
    passed = bool(outcome.gate.get("passed")) and not undecided
    return {**outcome.data, "promoted": outcome.promoted, "gate_passed": passed}


def _show(data: dict, stream) -> None:
    from ..textutil import fmt
    from .sweep_steps import params_text

    names = list(data["space"])
    best = (data["best"] or {}).get("number")
    rows = [
        [
            ("* " if t["number"] == best else "") + str(t["number"]),
            t["state"],
            fmt(t["value"]) if t["value"] is not None else (t["error"] or "-"),
            *(fmt(t["params"].get(n)) for n in names),
        ]
        for t in data["trials"]
    ]
    render.table(
        f"sweep {data['study']}: {len(data['this_run'])} trials added, {len(data['trials'])} in the study",
        ["trial", "state", "selection loss", *names],
        rows,
        stream,
    )
    render.paragraph(f"study storage: {data['storage']}", stream)  # in the title it wrapped the table's
    if data["best"] is not None:
        render.paragraph(
            f"best: trial {data['best']['number']}, selection loss {fmt(data['best']['value'])} "
            f"({data.get('score') or 'lower is better'}), {params_text(data['best']['params'])}",
            stream,
        )
        values = [t["value"] for t in data["trials"] if t["state"] == "COMPLETE"]
        if len(values) > 1 and len(set(values)) == 1:  # nothing searched changed the score: no best
            render.paragraph(
                "note: every completed trial scored the same: the searched fields changed nothing here",
                stream,
            )
    checked = data.get("validation")
    if checked:
        folds = checked["folds"]
        seen = sum(f["seen_by_search"] for f in folds)
        print(
            f"validation of trial {checked['trial']} (not the search's score): scored once after the "
            f"search on the validation blocks of its {len(folds)} folds (ending {folds[0]['end']}.."
            f"{folds[-1]['end']}): {checked['headline'] or checked['summary']}",
            file=stream,
        )
        if seen:
            print(
                f"note: {seen} of these {len(folds)} blocks {'lies' if seen == 1 else 'lie'} partly inside a "
                "later fold's selection "
                "block, which the search scored; only the others are untouched (--holdout-from keeps a "
                "period out of every fold)",
                file=stream,
            )
    if data["preset"]:
        saved = data["preset"]
        print(
            f"preset written: {saved['name']} ({saved['path']}); "
            f"`mltrain train {data['model_name']} --preset {saved['name']}` uses it",
            file=stream,
        )
    if data["trained"]:
        print(
            f"trained: {data['model_name']} v{data['trained']['version']} "
            f"({'promoted' if data['trained']['promoted'] else 'not promoted'})",
            file=stream,
        )
