"""What a sweep trial's score depends on besides the searched fields. A study records it when created and
refuses to be resumed on another: trials scored on other folds, another seed or another base config would
be ranked against each other as if they were comparable."""

from __future__ import annotations

from typing import Any

from .config import FIELD_ORDER, TrainingConfig
from .errors import UsageError
from .paths import Home

# fields a trial's selection score never reads: the gate, the promotion check and the decision's policy
NOT_SCORED = (
    "min_r2",
    "promotion_folds",
    "promotion_regime_days",
    "exposure",
    "cost_bps",
    "target_vol",
    "max_leverage",
)


def study_setup(
    home: Home,
    model_type: str,
    model: str,
    config: TrainingConfig,
    space: dict[str, Any],
    seed: int,
    folds: int,
    holdout_from: str | None,
    objective: str,
) -> dict:
    """What a trial's score depends on besides its own values: the objective, the seed, the scored folds
    (their ends move after `data update` unless --holdout-from fixes them), the search space (`space`: field
    -> Param) and every field the space leaves at the base config's value."""
    import pandas as pd

    from .evaluate import plan_folds

    holdout = None if holdout_from is None else pd.Timestamp(holdout_from)
    ends = plan_folds(home, model_type, model, config, folds, holdout_from=holdout)
    return {
        "objective": objective,
        "seed": seed,
        "folds": [str(end.date()) for end in ends],
        "space": {name: param.describe() for name, param in sorted(space.items())},
        "base": config.model_dump(mode="json"),
    }


def setup_differences(old: dict, new: dict) -> list[str]:
    """Each way `new` differs from the setup a study's trials were scored on, as 'what: was X, now Y'."""
    out = [
        f"{key}: was {old.get(key)}, now {new[key]}"
        for key in ("objective", "seed")
        if old.get(key) != new[key]
    ]
    if old.get("folds") != new["folds"]:

        def folds(ends: list[str]) -> str:
            return f"{len(ends)} ending {ends[0]}..{ends[-1]}" if ends else "none"

        out.append(f"scored folds: {folds(old.get('folds') or [])}, now {folds(new['folds'])}")
    if old.get("space", new["space"]) != new["space"]:  # a changed range or choice: Optuna cannot mix them
        out.append(f"search space: was {old['space']}, now {new['space']}")
    searched = set(old.get("space", {})) | set(new["space"])  # a searched field's base value is never read
    base = old.get("base", {})
    for field in FIELD_ORDER:
        if field in NOT_SCORED or field in searched:
            continue
        if base.get(field) != new["base"].get(field):
            out.append(f"{field}: was {base.get(field)}, now {new['base'].get(field)}")
    return out


def same_setup(study: Any, name: str, setup: dict) -> None:
    """Record `setup` on a study with no scored trial (new, from before setups were kept, or whose runs all
    failed); refuse it on a study whose scored trials had another."""
    import optuna

    old = study.user_attrs.get("setup")
    scored = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    # a failed trial's suggestions still fix each field's range in Optuna: those cannot change either
    suggested = any(t.distributions for t in study.get_trials(deepcopy=False))
    if old is None or (not scored and not (suggested and old.get("space") != setup["space"])):
        study.set_user_attr("setup", setup)
        return
    if not scored:  # no score to compare: only the failed trials' ranges stand in the way
        raise UsageError(
            f"study {name!r} has failed trials suggested from another search space ({old['space']}; now "
            f"{setup['space']}): Optuna keeps a field's range for the life of a study; rerun with that space "
            "or pick another --study"
        )
    differences = setup_differences(old, setup)
    if differences:
        raise UsageError(
            f"study {name!r} scored its trials on another setup ({'; '.join(differences)}): "
            "their scores would not compare with this run's; rerun with the study's settings "
            "(--holdout-from fixes the folds across data updates) or pick another --study"
        )
