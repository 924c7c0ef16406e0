"""Hyper-parameter sweeps: an Optuna study whose trials run as pure tasks through an executor.

The objective is the walk-forward SELECTION score (lower is better), never the validation blocks that the
final report scores. It is named by a dotted path "module:function" so that a Dask worker can import it:

    objective(config: TrainingConfig, context: dict) -> float

`context` carries everything a worker needs and nothing it must fetch: model_type, model, seed, the folds
to score (count and the start of the untouched period) and the candles of every series the installed package
lacks as CSV text ({symbol: csv}, with {symbol: source}). The study lives in an Optuna storage
(a SQLite file in the mltrain home by default, any Optuna URL such as postgresql://... otherwise); only the
calling process asks and tells trials, so several terminals can add trials to one study at once.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from typing import Any

from .config import TrainingConfig
from .errors import MltrainError, UsageError, excerpt
from .executors import StopRequest, run_tasks
from .paths import Home
from .sweep_setup import same_setup
from .sweep_space import (  # noqa: F401  (the search space, re-exported)
    DEFAULT_SPACE,
    INT_FIELDS,
    SEARCHABLE,
    Param,
    default_space,
    parse_space,
    space_from_file,
)

DEFAULT_OBJECTIVE = "mltrain.sweep:selection_score"
SELECTION_FOLDS = 4  # the objective's folds: the most recent ones before the untouched period
SWEEP_HINT = "pip install 'mltrain[sweep]'"


def _optuna():
    try:
        import optuna
    except ImportError:
        raise UsageError(f"mltrain sweep needs the sweep extra: {SWEEP_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the core never prints; the face reports trials
    return optuna


def default_storage(home: Home) -> str:
    return f"sqlite:///{home.root / 'sweeps.db'}"


def shown_storage(url: str) -> str:
    """The storage URL without a password, for output and errors."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def open_study(
    home: Home, storage: str | None, study_name: str, model_type: str, model: str, setup: dict | None = None
):
    """Create the study once (under a lock in the home: Optuna's create race is real), else load it. A
    study resumed on another `setup` (study_setup) is refused: its trials' scores would not compare."""
    from .fsutil import ensure_dir, exclusive_lock

    optuna = _optuna()
    url = storage or default_storage(home)
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}  # wait for a writer
    ensure_dir(home.root)
    with exclusive_lock(
        home.root / ".sweeps.lock", {"holder": "mltrain sweep"}, lambda i: UsageError("busy"), wait=True
    ):
        try:
            backend = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            study = optuna.create_study(
                storage=backend, study_name=study_name, direction="minimize", load_if_exists=True
            )
        except Exception as exc:  # SQLAlchemy and driver errors: a bad URL, an unreachable server
            if isinstance(exc, MltrainError):
                raise
            driver = isinstance(exc, ImportError) and url.startswith("postgres")
            raise UsageError(
                f"cannot open study {study_name!r} in {shown_storage(url)}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                + ("; the PostgreSQL driver is missing: pip install psycopg2-binary" if driver else "")
            ) from None
        owner = study.user_attrs.get("model")
        if owner is None:
            study.set_user_attr("model", model)
            study.set_user_attr("model_type", model_type)
        elif owner != model or study.user_attrs.get("model_type") != model_type:
            raise UsageError(
                f"study {study_name!r} in {shown_storage(url)} belongs to model {owner!r} "
                f"({study.user_attrs.get('model_type')}); pick another --study for {model!r}"
            )
        if setup is not None:
            same_setup(study, study_name, setup)
    return study


# ---------------------------------------------------------------- trials


def resolve_objective(path: str) -> Callable[[TrainingConfig, dict], float]:
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UsageError(
            f"objective {excerpt(path)} cannot be imported ({exc}); give 'module:function'"
        ) from None


def trial_task(payload: dict) -> dict:
    """A pure task: one trial's config -> {"value"} or {"error"} (a project error fails only that trial)."""
    objective = resolve_objective(payload["objective"])
    config = TrainingConfig.model_validate_json(payload["config"])
    try:
        value = float(objective(config, payload["context"]))
    except MltrainError as exc:
        return {"error": str(exc)}
    if not math.isfinite(value):
        return {"error": f"the objective returned {value}"}
    return {"value": value}


def trial_config(base: TrainingConfig, params: dict[str, Any]) -> TrainingConfig:
    return TrainingConfig(**{**base.model_dump(), **params})


def run_sweep(
    study: Any,
    base: TrainingConfig,
    space: dict[str, Param],
    trials: int,
    executor: Any,
    context: dict,
    *,
    objective: str = DEFAULT_OBJECTIVE,
    stop: StopRequest | None = None,
    on_trial: Callable[[dict], None] | None = None,
) -> list[int]:
    """Ask `trials` trials in batches the executor can run at once, run them, tell their values.

    Returns the numbers of this run's trials. On a stop request or an objective bug the batch's trials are
    told FAIL (no trial is left RUNNING in the study) and the error is raised."""
    optuna = _optuna()
    capacity = getattr(executor, "capacity", None) or getattr(executor, "workers", 1) or 1
    numbers: list[int] = []
    while len(numbers) < trials:
        batch: list[Any] = []
        try:  # a trial asked is told, whatever fails after (a suggestion Optuna refuses included)
            for _ in range(min(capacity, trials - len(numbers))):
                batch.append(study.ask())
            params = [{p.name: p.suggest(t) for p in space.values()} for t in batch]
            payloads = [
                {
                    "objective": objective,
                    "config": trial_config(base, p).model_dump_json(),
                    "context": context,
                }
                for p in params
            ]
            results = run_tasks(executor, trial_task, payloads, stop=stop)
        except BaseException:
            for trial in batch:
                study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            raise
        for trial, p, result in zip(batch, params, results):
            if "error" in result:
                trial.set_user_attr("error", result["error"])
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, result["value"])
            numbers.append(trial.number)
            if on_trial is not None:
                on_trial({"number": trial.number, "params": p, **result})
    return numbers


def trial_rows(study: Any) -> list[dict]:
    """Every trial of the study (all terminals'), oldest first, as plain dicts."""
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": dict(t.params),
            "error": t.user_attrs.get("error"),
        }
        for t in study.get_trials(deepcopy=False)
    ]


def best_trial(study: Any) -> dict | None:
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not done:
        return None
    best = min(done, key=lambda t: t.value)
    return {"number": best.number, "value": best.value, "params": dict(best.params)}


# ---------------------------------------------------------------- results


def context_for(
    home: Home,
    model_type: str,
    model: str,
    config: TrainingConfig,
    seed: int,
    folds: int = SELECTION_FOLDS,
    holdout_from: str | None = None,
) -> dict:
    """What every trial task carries, so workers need no shared disk: every series the installed package
    lacks (pooled models read all of them) as CSV text with its source, and which folds to score."""
    from .data.carry import carried_symbols, pack
    from .data.store import DataStore

    store = DataStore(home)
    sources = carried_symbols(store)
    return {
        "model_type": model_type,
        "model": model,
        "seed": seed,
        "candles": pack(store, list(sources)),
        "sources": sources,
        "folds": folds,
        "holdout_from": holdout_from,
    }


def selection_folds(home: Home, config: TrainingConfig, context: dict) -> list:
    """The fold ends a trial is scored on: the `folds` most recent before the untouched period."""
    import pandas as pd

    from .evaluate import plan_folds

    holdout = context.get("holdout_from")
    return plan_folds(
        home,
        context["model_type"],
        context["model"],
        config,
        context["folds"],
        holdout_from=None if holdout is None else pd.Timestamp(holdout),
    )


def selection_score(config: TrainingConfig, context: dict) -> float:
    """The walk-forward selection score: the mean over the context's folds of each fold's `selection_loss`
    (the kept weights on the fold's selection block, lower is better). Validation blocks are never read."""
    from .data.carry import unpacked
    from .data.store import DataStore
    from .kinds import KINDS

    kind = KINDS[context["model_type"]]
    losses = []
    with unpacked(context["candles"], context.get("sources")) as home:
        ends = selection_folds(home, config, context)
        for end in ends:
            fold = kind.fold(DataStore(home), context["model"], config, context["seed"], end, None, len(ends))
            loss = fold.get("selection_loss")
            if loss is None:
                raise MltrainError(f"the fold ending {end.date()} has no selection score")
            losses.append(float(loss))
    return sum(losses) / len(losses)


def validate_best(
    home: Home,
    config: TrainingConfig,
    context: dict,
    executor: str | None,
    on_progress: Callable[[dict], None] | None = None,
) -> dict:
    """Score the chosen config ONCE on the validation blocks of the folds its selection score came from (the
    kind's pooled summary). Runs after the search: nothing the search chose depended on it."""
    import pandas as pd

    from .evaluate import as_json, walk_forward
    from .kinds import KINDS

    holdout = context.get("holdout_from")
    result = walk_forward(
        home,
        context["model_type"],
        context["model"],
        config,
        context["folds"],
        context["seed"],
        holdout_from=None if holdout is None else pd.Timestamp(holdout),
        on_progress=on_progress,
        executor=executor,
    )
    out = as_json(result)
    losses = [fold["selection_loss"] for fold in result["folds"]]
    selected = [
        (w["selection"]["first"], w["selection"]["last"])
        for f in result["folds"]
        for w in f["windows"].values()
        if isinstance(w, dict) and "selection" in w
    ]
    return {
        "folds": [
            {
                "end": f["end"],
                "validation": f["validation"],
                # a later fold's selection block (scored by the search) can hold this block's days
                "seen_by_search": any(
                    v["first"] <= last and first <= v["last"]
                    for v in f["validation"].values()
                    for first, last in selected
                ),
            }
            for f in out["folds"]
        ],
        "selection_score": sum(losses) / len(losses),
        "summary": out["summary"],
        "headline": KINDS[context["model_type"]].evaluation_headline(out["summary"]),
        "verdicts": out["verdicts"],
    }
