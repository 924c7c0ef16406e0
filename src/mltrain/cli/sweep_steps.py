"""sweep's steps outside its command body: argument checks, the search space, the result document, the
per-trial progress line, the fields the space overrides and the estimate shown before the first trial."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def check_counts(trials: int, folds: int, lone_no_promote: bool = False) -> None:
    if lone_no_promote:
        raise UsageError(
            "--no-promote goes with --train-best (it keeps the trained version out of production)"
        )
    if not 1 <= trials <= 10000:
        raise UsageError(f"--trials {trials} is out of range; allowed 1..10000")
    if not 1 <= folds <= 100:
        raise UsageError(f"--folds {folds} is out of range; allowed 1..100")


def search_space(space_file: Path | None, kind: str, config, objective: str | None) -> dict:
    """The search space: --space's fields, else the kind's default space, less the fields this config does
    not use (a volatility model with correction off trains no network: searching its fields would score
    identical trials). A space file that varies an unused field, or a default left empty, exits 2. A custom
    objective uses the fields as it likes: nothing is left out for it."""
    from ..config import load_yaml_mapping
    from ..kinds import KINDS
    from ..sweep import DEFAULT_OBJECTIVE, default_space, space_from_file

    custom = (objective or DEFAULT_OBJECTIVE) != DEFAULT_OBJECTIVE
    unused = () if custom else KINDS[kind].unused_fields(config)
    why = f"this {kind} config does not use {', '.join(unused)}" + (
        f" ({KINDS[kind].unused_why})" if KINDS[kind].unused_why else ""
    )
    if space_file:
        doc = load_yaml_mapping(space_file, "search space")
        space = space_from_file(doc, kind)
        idle = [name for name in space if name in unused]
        if idle:
            lines = ", ".join(str(doc.lines.get(name, "?")) for name in idle)
            usable = ", ".join(n for n in default_space(kind) if n not in unused) or "none of its fields"
            raise UsageError(
                f"search space {space_file} line {lines} varies {', '.join(idle)}, which would change nothing: "
                f"{why}; allowed here: {usable}"
            )
        return space
    space = {name: param for name, param in default_space(kind).items() if name not in unused}
    if not space:
        raise UsageError(f"nothing to search: {why}; days and train_val_split set the scored blocks")
    return space


def study_name(given: str | None, model: str) -> str:
    """--study, else the model's name; an empty or blank --study is refused, not read as 'the default'."""
    if given is None:
        return model
    if not given.strip():
        raise UsageError("--study needs a name (leave it out for the model's own study)")
    return given


def study(at, storage, name: str, kind: str, model: str, config, space: dict, seed, folds, held, objective):
    """Open (or create) the study, refusing one whose trials were scored on another setup."""
    from ..sweep import DEFAULT_OBJECTIVE, open_study
    from ..sweep_setup import study_setup

    setup = study_setup(at, kind, model, config, space, seed, folds, held, objective or DEFAULT_OBJECTIVE)
    return open_study(at, storage, name, kind, model, setup)


def result(
    study, name: str, at, storage: str | None, space: dict, context: dict, mine: list[int], best
) -> dict:
    """The sweep's result before the best config is validated, saved or trained."""
    from ..sweep import default_storage, shown_storage, trial_rows

    rows = trial_rows(study)
    failed = [t for t in rows if t["number"] in mine and t["state"] == "FAIL"]
    return {
        "model_name": context["model"],
        "model_type": context["model_type"],
        "study": name,
        "storage": shown_storage(storage or default_storage(at)),
        "space": {k: p.describe() for k, p in space.items()},
        "this_run": mine,
        "trials": rows,
        # a run whose every trial failed is a failure (exit 1), not a result: a cron job must see it
        "failed_run": f"every trial of this run failed; the first: {failed[0]['error'] or 'no message'}"
        if mine and len(failed) == len(mine)
        else None,
        "best": best,
        "folds": context["folds"],
        "holdout_from": context["holdout_from"],
        "validation": None,
        "preset": None,
        "trained": None,
    }


def start_state(prior: dict | None) -> dict:
    """Trials done by this run, and the best (value, trial number) so far: the study's, when resumed."""
    return {"done": 0, "best": None if prior is None else (prior["value"], prior["number"])}


def params_text(params: dict) -> str:
    """A trial's values as `field=value, ...`, floats to six significant digits (a dict's repr printed
    0.00282654897662454)."""
    return ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def trial_progress(state: dict, display, trials: int):
    """The callback each finished trial calls: trials done / total with the ETA, the trial's outcome and the
    best selection score so far."""

    def progress(trial: dict) -> None:
        state["done"] += 1
        if "value" in trial and (state["best"] is None or trial["value"] < state["best"][0]):
            state["best"] = (trial["value"], trial["number"])
        outcome = f"{trial['value']:.6g}" if "value" in trial else f"failed: {trial['error']}"
        best = state["best"]
        display(
            {
                "done": state["done"],
                "total": trials,
                "label": f"trial {trial['number']}: {outcome} with {params_text(trial['params'])}",
                "note": None if best is None else f"best so far {best[0]:.6g} (trial {best[1]})",
            }
        )

    return progress


def space_overrides(space: dict, effective) -> dict[str, str]:
    """Fields the search space varies that the preset (or a flag) had set: the search's values win, said."""
    out = {}
    for field, param in space.items():
        source = effective.sources.get(field, "default")
        if source != "default":
            out[field] = (
                f"the search space varies {field} ({param.describe()}); "
                f"{field}={getattr(effective.config, field)} from {source} is not used by the trials"
            )
    return out


def estimate(at, kind: str, config, folds: int, trials: int, pool) -> dict:
    """Before the first trial: a trial trains `folds` folds one after another in one worker; trials run as
    many at a time as the executor takes."""
    from .. import estimate_eval
    from .train import _say_probe

    capacity = getattr(pool, "capacity", None) or getattr(pool, "workers", 1) or 1
    _say_probe(at, kind, config, "cpu", False)
    per = estimate_eval.for_evaluation(at, kind, config, folds=folds, workers=1)
    rounds = -(-trials // capacity)
    return {
        "per_trial_seconds": round(per.expected_seconds, 1),
        "expected_seconds": round(per.expected_seconds * rounds, 1),
        "upper_seconds": round(per.upper_seconds * rounds, 1),
        "at_once": capacity,
        "basis": per.basis,
    }


def estimate_text(est: dict | None, score: str) -> str:
    """The line before the first trial: its estimate, or why there is none (a custom objective)."""
    from ..estimate import format_seconds

    if not est:
        return "no estimate: a custom objective's cost is unknown; a line follows each finished trial"
    return (
        f"estimate: ~{format_seconds(est['per_trial_seconds'])} per trial at the base config (a trial with more "
        f"days or epochs takes longer), ~{format_seconds(est['expected_seconds'])} in all, at most "
        f"{format_seconds(est['upper_seconds'])}, {est['at_once']} trial(s) at a time; based on {est['basis']}. "
        f"A line follows each finished trial; its score is {score}"
    )
