"""mltrain defaults, presets and info."""

from __future__ import annotations

from typing import Optional

import typer

from .. import __version__
from ..config import DEFAULT_PRESET, FIELD_ORDER, load_presets
from ..kinds import KINDS, resolve_model_type
from . import complete, render
from .common import JSON_OPT, env, home, run


def defaults(
    model: str = typer.Argument(
        ..., help="Model name (registry or built-in).", autocompletion=complete.model_names
    ),
    model_type: Optional[str] = typer.Option(None, "--model-type", help=" or ".join(KINDS) + "."),
    as_json: bool = JSON_OPT,
    show_all: bool = typer.Option(
        False,
        "--all",
        help="Also the fields added after the seed defaults (the JSON leaves them out unless asked).",
    ),
) -> None:
    """Print the model type's default training config, and what a plain `train` (default preset) changes."""

    def body() -> dict:
        kind = resolve_model_type(model, model_type, home())
        # the seed document (a contract scripts read): exactly the type's seed keys and values
        values = {**KINDS[kind].defaults, **(KINDS[kind].unlisted_defaults if show_all else {})}
        return {
            "model_name": model,
            "model_type": kind,
            "config": {k: values[k] for k in FIELD_ORDER if k in values},
        }

    def show(data: dict) -> None:
        # the JSON stays the type's defaults (a pinned shape); people also need what a plain train uses
        preset = DEFAULT_PRESET
        kind = data["model_type"]
        every_preset = load_presets(home(), strict=False)
        for broken in (p for p in every_preset.values() if p.error and p.name != preset):
            render.paragraph(f"warning: {broken.error} (ignored here)", env().stderr)
        found = every_preset.get(preset)
        if found is not None and found.error:  # the defaults stand; the plain train's column cannot
            render.paragraph(f"warning: a plain `mltrain train` would exit 2: {found.error}", env().stderr)
            found = None
        every = {**data["config"], **KINDS[kind].unlisted_defaults}
        changes = {k: v for k, v in (found.values_for(kind) if found else {}).items() if every.get(k) != v}
        render.table(
            f"defaults for {data['model_name']} ({kind})",
            ["field", "default", f"plain train (preset {preset})"],
            [[k, v, changes.get(k, v)] for k, v in every.items()],
            env().stdout,
        )
        if changes:
            listed = ", ".join(f"{k}={render.fmt(v)}" for k, v in changes.items())
            render.paragraph(
                f"a plain `mltrain train {data['model_name']}` uses the default preset "
                f"{preset!r}, "
                f"which changes {listed}; `--preset custom` keeps these defaults",
                env().stdout,
            )
        else:
            render.paragraph(
                f"a plain `mltrain train {data['model_name']}` uses the default preset "
                f"{preset!r}, "
                "which changes none of these",
                env().stdout,
            )

    run(as_json, body, show)


def presets(
    as_json: bool = JSON_OPT,
    measure: bool = typer.Option(
        False, "--measure", help="Time a short probe on this machine (loads torch)."
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress lines on stderr while measuring (with --json they stay on stderr unless --quiet).",
    ),
) -> None:
    """List presets (built-in and user), their values, source file and estimated duration."""

    def body() -> list:
        from ..estimate_presets import measure_presets, preset_estimates

        at = home()
        device = "cpu"
        found = load_presets(at)
        if measure:
            from ..train import pick_device

            device = pick_device("auto")
            e = env()
            display = render.FoldProgress(
                e.stderr, live=e.stderr.isatty() and not as_json, quiet=quiet, what="probes"
            )
            with display:
                measure_presets(at, list(found.values()), device, on_progress=display)
        return [
            {
                "name": preset.name,
                "description": preset.description,
                "values": preset.values,
                "per_type": preset.per_type,
                "source": str(preset.source) if preset.source else "built-in",
                # a user preset of a built-in's name: the built-in it replaces (its values do not apply)
                "replaces": None if preset.replaces is None else str(preset.replaces.source or "built-in"),
                "default": preset.name == DEFAULT_PRESET,
                "estimates": preset_estimates(at, preset, device),
                "device": device,
            }
            for preset in found.values()
        ]

    def show(rows: list) -> None:
        from ..estimate import format_seconds

        def est(e: dict | None) -> str:
            if e is None:
                return "not measured (mltrain presets --measure)"
            return f"~{format_seconds(e['expected_seconds'])} (max {format_seconds(e['upper_seconds'])})"

        render.table(
            "presets",
            ["preset", "values", *KINDS, "source"],
            [
                [
                    r["name"] + (" (default)" if r["default"] else ""),
                    " ".join(
                        [f"{k}={v}" for k, v in r["values"].items()]
                        + [f"{t}.{k}={v}" for t, per in r["per_type"].items() for k, v in per.items()]
                    )
                    or "model-type defaults",
                    *(est(r["estimates"].get(kind)) for kind in KINDS),
                    r["source"] + (" (replaces the built-in)" if r["replaces"] else ""),
                ]
                for r in rows
            ],
            env().stdout,
        )
        render.paragraph(  # a full regime train took 7x the table's figure: its check is most of it
            "times: the training alone; `train` then runs its promotion check, which for a regime model can "
            "take several times as long (8 folds of training for the full preset); `mltrain train MODEL "
            "--preset P --dry-run` estimates the whole run",
            env().stdout,
        )

    run(as_json, body, show)


def info(as_json: bool = JSON_OPT) -> None:
    """Locations, versions and the device `auto` would pick."""

    def body() -> dict:
        import platform

        import torch

        from ..paths import builtin_presets_dir, docs_dir, embedded_data_dir
        from ..train import pick_device

        at = home()
        return {
            "home": str(at.root),
            "registry": str(at.registry),
            "data_store": str(at.data_store),
            "jobs": str(at.jobs),
            "logs": str(at.logs),
            "app_log": str(at.app_log),
            "user_presets": str(at.user_presets),
            "builtin_presets": str(builtin_presets_dir()),
            "embedded_data": str(embedded_data_dir()),
            "docs": str(docs_dir()),  # where the notes' docs/NAME.md are, installed or not
            "mltrain": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": pick_device("auto"),
        }

    run(as_json, body, lambda d: render.kv("mltrain info", d, env().stdout))
