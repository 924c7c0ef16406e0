"""What every command shares: the call-render-exit wrapper, shared options, home and registry access."""

from __future__ import annotations

import errno
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ..config import (
    CUSTOM_PRESET,
    DEFAULT_PRESET,
    FIELD_ORDER,
    Preset,
    build_config,
    get_preset,
    load_presets,
    load_yaml_mapping,
)
from ..errors import ExitCode, MltrainError, UsageError
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
    return typer.Option(
        None,
        "--" + name.replace("_", "-"),
        help=f"{meaning[0].upper()}{meaning[1:]}{allowed}; beats preset and --config.",
    )


# shared by `train` and `evaluate`, which take the same config as each other
OPT = {name: _field_option(name) for name in FIELD_ORDER}
MODEL_TYPE_OPT = typer.Option(
    None,
    "--model-type",
    help=f"{' or '.join(KINDS)} (needed for a new model name).",
    autocompletion=lambda incomplete: [k for k in KINDS if k.startswith(incomplete)],
)
PRESET_OPT = typer.Option(
    None,
    "--preset",
    help=f"quick, standard, full (default), deep, {CUSTOM_PRESET} or a user preset.",
    autocompletion=complete.presets,
)
CONFIG_OPT = typer.Option(None, "--config", help="YAML file of config fields (beats the preset).")
SEED_MAX = 2**32 - 1  # numpy's legacy seeds; torch refuses more than 64 bits and numpy any negative one


def _seed_in_range(value: int | None) -> int | None:
    # a plain callback: typer's min=/max= would import pydantic on every start, tab completion included
    if value is not None and not 0 <= value <= SEED_MAX:
        raise typer.BadParameter(f"{value} is not in the range 0..{SEED_MAX}")
    return value


def seed_option(default: int, help: str):
    """--seed, bounded to what every random generator here accepts (a huge one crashed after the checks)."""
    return typer.Option(default, "--seed", callback=_seed_in_range, help=help)


def env() -> Env:
    return current()


def home() -> Home:
    return resolve_home(env().home)


def registry():
    from ..kinds import catalogue
    from ..registry import Registry

    return Registry(home(), tuple(catalogue()))


def store():
    from ..data.store import DataStore

    return DataStore(home(), today=env().today)


def effective_config(
    at: Home, kind: str, preset: str | None, config_file: Path | None, flags: dict, note: bool = True
):
    """Defaults < preset < --config < flags, validated, with the source of each value; a note on stderr
    when the preset is a user file replacing a built-in (`note=False`: the command said it already)."""
    if preset is not None and not preset.strip():  # `--preset "$P"` with P unset ran the default silently
        raise UsageError("--preset '' names nothing; give a preset name (`mltrain presets` lists them)")
    found = load_presets(at, strict=False)  # a broken user preset stops only the runs that ask for it
    chosen = get_preset(preset or DEFAULT_PRESET, found)
    doc = load_yaml_mapping(config_file, "config file") if config_file else None
    effective = build_config(kind, chosen, doc, flags)
    if note:
        for other in (p for p in found.values() if p.error):
            warn(f"{other.error} (ignored: this run uses preset {chosen.name})")
        for text in (replaced_note(chosen, kind), swept_for_another(chosen, kind)):
            if text:
                render.paragraph(f"note: {text}", env().stderr)
    return effective


def swept_for_another(preset: Preset, model_type: str) -> str | None:
    """A preset a sweep of another model type saved (its description says which): its values were tuned
    there, and the fields it keeps in that type's section do not apply here (min_r2 stays the seed's 0.5)."""
    from ..sweep_preset import swept_type

    tuned_on = swept_type(preset.description)
    if tuned_on is None or tuned_on == model_type:
        return None
    return (
        f"preset {preset.name!r} was saved by a sweep of a {tuned_on} model: its values were tuned there, "
        f"and on a {model_type} model every field it leaves out is the type's default (`mltrain defaults`)"
    )


def replaced_note(preset: Preset, model_type: str) -> str | None:
    """For a user preset that replaces a built-in of its name: which file is read, and which of the
    built-in's values for this type are not applied (a user `full.yaml` that sets epochs drops the
    built-in's gate: nothing else said so)."""
    builtin = preset.replaces
    if builtin is None:
        return None
    from ..config import seed_defaults

    mine, default = preset.values_for(model_type), seed_defaults(KINDS[model_type])
    # a value the type's default repeats is no loss (full's patience=15)
    dropped = {
        k: v for k, v in builtin.values_for(model_type).items() if k not in mine and default.get(k) != v
    }
    where = f"built-in {builtin.name!r}" + (f" ({builtin.source})" if builtin.source else "")
    lost = (
        f"the built-in's {', '.join(f'{k}={v}' for k, v in dropped.items())} for a {model_type} model "
        "are not applied"
        if dropped
        else f"nothing the built-in sets for a {model_type} model is lost"
    )
    return f"preset {preset.name!r} is your file {preset.source}, which replaces the {where}; {lost}"


def warn(message: str) -> None:
    render.paragraph(f"warning: {message}", env().stderr)


def _finished() -> None:
    """The work is done and recorded: a SIGTERM from now on (a cron timeout landing while the result is
    printed or the interpreter exits) must not turn its exit 0 into 143, so the process ignores it. Only a
    process main() started changes its handlers; an in-process caller (tests) keeps its own."""
    import signal
    import threading

    if env().owns_process and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run(
    as_json: bool,
    body: Callable[[], Any],
    show: Callable[[Any], None] | None = None,
    code: Callable[[Any], int] | None = None,
) -> None:
    """Call the core; render its value as JSON or text; turn project errors into one line and an exit code.
    Rendering is inside the boundary too: a value JSON cannot carry, a closed or full stdout, or a character
    the terminal's encoding cannot print is one line and exit 1, never a traceback."""
    try:
        if env().stdout is None:  # started with stdout closed (`>&-`): nowhere to put the result
            raise MltrainError(
                "stdout is closed; nothing could be printed (redirect it to a file or /dev/null)",
                ExitCode.FAILURE,
            )
        value = body()
        _finished()
        if as_json:
            print(render.envelope(value), file=env().stdout)
        elif show is not None:
            show(value)
        env().stdout.flush()  # a full disk (`> /dev/full`) must fail here, not in the interpreter's exit
    except MltrainError as exc:
        fail(as_json, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail(as_json, "interrupted", ExitCode.INTERRUPTED)
    except UnicodeEncodeError as exc:
        fail(
            False,
            f"cannot print the output in this terminal's encoding ({exc.encoding}); "
            "set PYTHONIOENCODING=utf-8 (or a UTF-8 locale)",
            ExitCode.FAILURE,
        )
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            fail(
                as_json,
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                ExitCode.FAILURE,
            )
        _drop_stdout()
        fail(False, f"cannot write the output to stdout: {exc.strerror or exc}", ExitCode.FAILURE)
    except Exception as exc:  # an internal bug: one line, exit 1, traceback with --debug
        fail(
            as_json,
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            ExitCode.FAILURE,
        )
    exit_code = code(value) if code else ExitCode.OK
    if exit_code:
        raise typer.Exit(int(exit_code))


# stdout that cannot take the output: closed, full disk, a pipe whose reader left, a bad descriptor
_OUTPUT_ERRNOS = (errno.ENOSPC, errno.EPIPE, errno.EBADF, errno.EDQUOT, errno.EIO)


def _drop_stdout() -> None:
    """Whatever is still buffered for a stdout that failed would fail again at exit (Python's 'Exception
    ignored' message, exit 120): point the real stdout at /dev/null so the interpreter exits quietly."""
    import os
    import sys

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(null)
    except (OSError, ValueError):
        pass


def fail(as_json: bool, message: str, exit_code: int) -> None:
    message = " ".join(message.split())  # one line, even when a library's message spans several
    e = env()
    if e.debug:
        traceback.print_exc(file=e.stderr)
    if as_json and e.stdout is not None:
        try:
            print(render.error_envelope(message), file=e.stdout)
            e.stdout.flush()
        except (OSError, UnicodeEncodeError):
            _drop_stdout()
    print(f"error: {message}", file=e.stderr)
    raise typer.Exit(int(exit_code))
