"""What a sweep trial's score depends on besides the searched fields. A study records it when created and
refuses to be resumed on another: trials scored on other folds, another seed or another base config would
be ranked against each other as if they were comparable."""

from __future__ import annotations

from typing import Any

from .config import FIELD_ORDER, TrainingConfig
from .errors import UsageError
from .paths import Home


def study_setup(
    home: Home,
    model_type: str,
    model: str,
    config: TrainingConfig,
    searched: list[str],
    seed: int,
    folds: int,
    holdout_from: str | None,
    objective: str,
) -> dict:
    """What a trial's score depends on besides the searched fields: the objective, the seed, the scored folds
    (their ends move after `data update` unless --holdout-from fixes them) and every field the space leaves
    at the base config's value."""
    import pandas as pd

    from .evaluate import plan_folds

    holdout = None if holdout_from is None else pd.Timestamp(holdout_from)
    ends = plan_folds(home, model_type, model, config, folds, holdout_from=holdout)
    return {
        "objective": objective,
        "seed": seed,
        "folds": [str(end.date()) for end in ends],
        "searched": sorted(searched),
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
        was, now = old.get("folds") or ["-"], new["folds"] or ["-"]
        out.append(f"scored folds: {len(was)} ending {was[-1]}, now {len(now)} ending {now[-1]}")
    searched = set(old.get("searched", [])) | set(new["searched"])
    base = old.get("base", {})
    for field in FIELD_ORDER:
        if field not in searched and base.get(field) != new["base"].get(field):
            out.append(f"{field}: was {base.get(field)}, now {new['base'].get(field)}")
    return out


def same_setup(study: Any, name: str, setup: dict) -> None:
    old = study.user_attrs.get("setup")
    if old is None:  # a new study, or one from before setups were recorded: this run's setup is its own
        study.set_user_attr("setup", setup)
        return
    differences = setup_differences(old, setup)
    if differences:
        raise UsageError(
            f"study {name!r} scored its trials on another setup ({'; '.join(differences)}): "
            "their scores would not compare with this run's; rerun with the study's settings "
            "(--holdout-from fixes the folds across data updates) or pick another --study"
        )
