"""What every command shares: the call-render-exit wrapper, shared options, home and registry access."""
from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ..config import (
    CUSTOM_PRESET,
    DEFAULT_PRESET,
    FIELD_ORDER,
    build_config,
    get_preset,
    load_presets,
    load_yaml_mapping,
)
from ..errors import ExitCode, MltrainError
from ..kinds import KINDS
from ..paths import Home, resolve_home
from . import complete, render
from .env import Env, current

JSON_OPT = typer.Option(False, "--json", help="Print exactly one JSON document on stdout.")


def _field_option(name: str):
    """A config flag whose help says what the field means and what it allows, from TrainingConfig itself."""
    from ..config import FIELDS, bounds_text

    meaning = FIELDS[name][2]
    allowed = "" if name == "symbols" else f" ({bounds_text(name)})"
    return typer.Option(None, "--" + name.replace("_", "-"),
                        help=f"{meaning[0].upper()}{meaning[1:]}{allowed}; beats preset and --config.")


# shared by `train` and `evaluate`, which take the same config as each other
OPT = {name: _field_option(name) for name in FIELD_ORDER}
MODEL_TYPE_OPT = typer.Option(None, "--model-type",
                              help=f"{' or '.join(KINDS)} (needed for a new model name).",
                              autocompletion=lambda incomplete: [k for k in KINDS
                                                                 if k.startswith(incomplete)])
PRESET_OPT = typer.Option(None, "--preset", help=f"quick, standard, full (default), deep, {CUSTOM_PRESET} "
                                                 "or a user preset.", autocompletion=complete.presets)
CONFIG_OPT = typer.Option(None, "--config", help="YAML file of config fields (beats the preset).")


def env() -> Env:
    return current()


def home() -> Home:
    return resolve_home(env().home)


def registry():
    from ..registry import Registry

    return Registry(home())


def store():
    from ..data.store import DataStore

    return DataStore(home(), today=env().today)


def effective_config(at: Home, kind: str, preset: str | None, config_file: Path | None, flags: dict):
    """Defaults < preset < --config < flags, validated, with the source of each value."""
    chosen = get_preset(preset or DEFAULT_PRESET, load_presets(at))
    doc = load_yaml_mapping(config_file, "config file") if config_file else None
    return build_config(kind, chosen, doc, flags)


def warn(message: str) -> None:
    print(f"warning: {message}", file=env().stderr)


def run(as_json: bool, body: Callable[[], Any], show: Callable[[Any], None] | None = None,
        code: Callable[[Any], int] | None = None) -> None:
    """Call the core; render its value as JSON or text; turn project errors into one line and an exit code."""
    try:
        value = body()
    except MltrainError as exc:
        fail(as_json, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail(as_json, "interrupted", ExitCode.INTERRUPTED)
    except Exception as exc:  # an internal bug: one line, exit 1, traceback with --debug
        fail(as_json, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
             ExitCode.FAILURE)
    if as_json:
        print(render.envelope(value), file=env().stdout)
    elif show is not None:
        show(value)
    exit_code = code(value) if code else ExitCode.OK
    if exit_code:
        raise typer.Exit(int(exit_code))


def fail(as_json: bool, message: str, exit_code: int) -> None:
    message = " ".join(message.split())  # one line, even when a library's message spans several
    e = env()
    if e.debug:
        traceback.print_exc(file=e.stderr)
    if as_json:
        print(render.error_envelope(message), file=e.stdout)
    print(f"error: {message}", file=e.stderr)
    raise typer.Exit(int(exit_code))
