"""The preset a sweep saves (`sweep --save-preset NAME`): its name check, its description, and its file.

A saved preset holds the fields that differ from the model type's defaults, the type's own fields in its
section. Its first line is a mark with a digest of the rest, so a later sweep replaces it only while it is as
the sweep wrote it: a preset written or edited by hand is never overwritten."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .config import FIELD_ORDER, TrainingConfig
from .errors import UsageError, excerpt
from .paths import Home
from .specs import owned_fields

PRESET_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
SAVED_BY_SWEEP = "best of sweep "  # how a preset this command wrote begins its description
MARK = "# written by mltrain sweep --save-preset; edit it and no sweep replaces it; sha256 of the rest: "


def saved_description(study: str, model_type: str, trial: int, value: float) -> str:
    """A saved preset's description: the study, the model type it was tuned on (swept_type reads it back),
    the trial and its selection score, the day."""
    from datetime import date

    return (
        f"{SAVED_BY_SWEEP}{study} of a {model_type} model (trial {trial}, selection score {value:.6g}), "
        f"{date.today().isoformat()}"
    )


def swept_type(description: str) -> str | None:
    """The model type a sweep-saved preset was tuned on (None for any other preset)."""
    found = re.match(rf"{SAVED_BY_SWEEP}.* of an? (\w+) model \(", description)
    return found.group(1) if found else None


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def unchanged_why(path: Path) -> str | None:
    """None when a preset a sweep saved is exactly as it was written (its mark's digest matches the rest),
    else why it may not be replaced. A file without the mark (saved before marks were written, or the line
    removed) cannot show it is unchanged, so it is kept too."""
    head, _, body = path.read_text(encoding="utf-8-sig", errors="replace").partition("\n")
    if not head.startswith(MARK):
        return "a preset a sweep saved without the digest line that shows it unchanged (an older mltrain)"
    if head[len(MARK) :].strip() != _digest(body):
        return "a preset a sweep saved and someone has edited since"
    return None


def check_preset_name(home: Home, name: str) -> None:
    """Before any trial: a name of lower-case letters, digits, - and _, not a built-in's, and not a user
    preset written or edited by hand (one an earlier sweep saved, unchanged, is replaced: a cron sweep keeps
    its preset current)."""
    from .config import load_presets
    from .paths import builtin_presets_dir

    builtin = {p.stem for p in builtin_presets_dir().glob("*.y*ml")} | {"custom"}
    if not PRESET_NAME_RE.fullmatch(name) or name in builtin:
        raise UsageError(
            f"--save-preset {excerpt(name)}: give a new name of lower-case letters, digits, - "
            f"and _ (at most 40), not a built-in preset ({', '.join(sorted(builtin))})"
        )
    folder = home.user_presets
    if folder.exists() and not folder.is_dir():
        where = "$MLTRAIN_PRESETS_DIR" if home.presets_override else "the home's presets folder"
        raise UsageError(f"--save-preset {name}: {folder} ({where}) is not a folder; point it at a folder")
    found = load_presets(home, strict=False).get(name)  # an unreadable file of that name is kept too
    if found is None:
        return
    why = (
        "a user preset no sweep wrote"
        if not found.description.startswith(SAVED_BY_SWEEP) or found.source is None
        else unchanged_why(found.source)
    )
    if why:
        raise UsageError(
            f"--save-preset {name}: {found.source} is {why}; give another name or remove that file (a preset "
            "an earlier sweep saved, unchanged, is replaced)"
        )


def save_preset(home: Home, name: str, config: TrainingConfig, model_type: str, description: str) -> Path:
    """Write a user preset with the fields that differ from the model type's defaults (atomic write)."""
    import yaml

    from .config import seed_defaults
    from .fsutil import atomic_write_bytes
    from .kinds import KINDS

    check_preset_name(home, name)
    defaults = TrainingConfig(**seed_defaults(KINDS[model_type])).model_dump()
    values = {k: v for k, v in config.model_dump().items() if k in FIELD_ORDER and v != defaults.get(k)}
    # a field some types read their own way (min_r2, symbols, ...) goes in this type's section, as the built-in
    # presets keep it: at the top it broke `train --preset NAME` of the other type
    owned = owned_fields()
    section = {k: v for k, v in values.items() if k in owned}
    doc = {"description": description, **{k: v for k, v in values.items() if k not in owned}}
    doc.update({model_type: section} if section else {})
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    path = home.user_presets / f"{name}.yaml"
    atomic_write_bytes(path, f"{MARK}{_digest(body)}\n{body}".encode())
    return path
