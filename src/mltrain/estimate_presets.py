"""Time estimates of the presets (`mltrain presets --measure` and the presets table): each preset's config
for every model type, probed once per step shape, then read from history or the cached probes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .estimate import cached, probe, probe_key, rows_per_epoch

if TYPE_CHECKING:
    from .config import EffectiveConfig, Preset, TrainingConfig
    from .paths import Home


def preset_configs(preset: Preset) -> dict[str, TrainingConfig]:
    """The preset's config for every model type (the fields a type does not use are left out)."""
    import dataclasses

    from .config import build_config
    from .kinds import KINDS

    optional = {field for kind in KINDS.values() for field in kind.uses}
    out = {}
    for name, kind in KINDS.items():
        values = {k: v for k, v in preset.values.items() if k not in optional or k in kind.uses}
        effective: EffectiveConfig = build_config(name, dataclasses.replace(preset, values=values), None, {})
        out[name] = effective.config
    return out


def measure_presets(home: Home, presets: list[Preset], device: str, on_progress=None) -> None:
    """Probe every distinct (model type, step shape) the presets use, once each, and cache the probes;
    `on_progress({"done", "total", "label"})` hears of each one measured (the face shows progress)."""
    todo: dict[str, tuple[str, TrainingConfig]] = {}
    for preset in presets:
        for name, config in preset_configs(preset).items():
            if rows_per_epoch(name, config) > 0:  # a run that trains no network has no step to time
                todo.setdefault(probe_key(name, config, device), (name, config))
    for done, (key, (name, config)) in enumerate(todo.items(), start=1):
        probe(home, name, config, device)
        if on_progress is not None:
            on_progress({"done": done, "total": len(todo), "label": key})


def preset_estimates(home: Home, preset: Preset, device: str) -> dict[str, dict | None]:
    """The preset's estimated duration for every model type, from history or cached probes only."""
    out = {}
    for name, config in preset_configs(preset).items():
        found = cached(home, name, config, device)
        out[name] = None if found is None else found.as_dict()
    return out
