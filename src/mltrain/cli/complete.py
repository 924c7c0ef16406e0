"""Shell completion of model names, presets, devices, symbols and job ids.

Each callback runs on every TAB: it reads folder names and small files only (no torch, pandas or pydantic) and
never fails; a broken home completes nothing rather than printing a traceback into the shell.
"""

from __future__ import annotations

import os
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "mps")
BUILTIN_PRESETS = ("quick", "standard", "full", "deep", "custom")


def _home() -> Path | None:
    try:
        from ..paths import resolve_home

        return resolve_home(None).root
    except Exception:  # completion must never break the shell
        return None


def _names(folder: Path | None, suffixes: tuple[str, ...] = ()) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    out = []
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        for suffix in suffixes:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        else:
            if suffixes:
                continue
        out.append(name)
    return sorted(set(out))


def _match(words, incomplete: str) -> list[str]:
    return sorted(w for w in set(words) if w.startswith(incomplete))


def model_names(incomplete: str = "") -> list[str]:
    """Models in the registry and the catalogue names every kind knows."""
    from ..kinds import catalogue

    home = _home()
    return _match([*_names(home / "registry" if home else None), *catalogue()], incomplete)


def registered_models(incomplete: str = "") -> list[str]:
    home = _home()
    return _match(_names(home / "registry" if home else None), incomplete)


def presets(incomplete: str = "") -> list[str]:
    home = _home()
    user = _names(home / "presets" if home else None, (".yaml", ".yml"))
    return _match([*BUILTIN_PRESETS, *user], incomplete)


def devices(incomplete: str = "") -> list[str]:
    return _match(DEVICES, incomplete)


def symbols(incomplete: str = "") -> list[str]:
    """Symbols in the data store and the embedded ones (file names; nothing is read)."""
    from ..paths import embedded_data_dir

    home = _home()
    stored = _names(home / "data" if home else None, (".json",))
    embedded = _names(embedded_data_dir(), (".csv", ".csv.gz", ".parquet"))  # an unreadable folder: none
    return _match(
        [s.upper() for s in [*stored, *embedded] if s.replace("_", "").isalnum()], incomplete.upper()
    )


def job_ids(incomplete: str = "") -> list[str]:
    home = _home()
    return _match(_names(home / "jobs" if home else None, (".json",)), incomplete)
