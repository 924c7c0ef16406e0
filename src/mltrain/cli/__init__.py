"""The face: arguments -> core calls -> render; maps errors to exit codes. One module per noun."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .. import __version__
from ..errors import ExitCode
from . import coercion, data, evaluate, helpfmt, info, jobs, models, predict, render, richhelp, sweep, train
from .env import Env

helpfmt.install()
coercion.install()
richhelp.install()

__all__ = ["Env", "app", "main"]

app = typer.Typer(
    help="Train and serve crypto market-regime and volatility models from daily prices.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=True,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(jobs.app, name="jobs")
app.command()(info.defaults)
app.command()(info.presets)
app.command()(train.train)
app.command()(predict.predict)
app.command()(info.info)
app.command()(evaluate.evaluate)
app.command()(sweep.sweep)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mltrain {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    home: Optional[str] = typer.Option(
        None, "--home", help="mltrain home (default: $MLTRAIN_HOME, then the platform's user data folder)."
    ),
) -> None:
    """Build the Env once (or take the one main() or a test passed in) and hand it to every command."""
    given = ctx.obj if isinstance(ctx.obj, Env) else Env()
    ctx.obj = given.with_flags(home=home, debug=debug)


def main(argv: list[str] | None = None, env: Env | None = None) -> None:
    """Console entry point. A bad option or argument is one line on stderr (exit 2), as every other error;
    with --json the report is a JSON envelope on stdout too."""
    args = sys.argv[1:] if argv is None else list(argv)
    env = env or Env(argv=[sys.argv[0], *args], owns_process=True)
    call = dict(prog_name="mltrain", obj=env, **({} if argv is None else {"args": args}))
    try:
        code = app(standalone_mode=False, **call)
    except Exception as exc:
        if type(exc).__name__ == "Abort":  # Ctrl-C or end of input at a prompt, as Click reports it
            print("Aborted!", file=sys.stderr)
            sys.exit(1)
        if not (hasattr(exc, "format_message") and hasattr(exc, "show")):  # not a Click/Typer usage error
            raise
        if "--json" in args:
            print(render.error_envelope(exc.format_message()))
        if exc.format_message().strip():  # `mltrain` alone: the help screen is shown, there is no error
            print(usage_line(exc), file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", ExitCode.USAGE))
    sys.exit(code if isinstance(code, int) else 0)


def usage_line(exc: Exception) -> str:
    """Click's usage error as one line (a cron log reads one line per failure), with where to look."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else "mltrain"  # an option missing its value has no context
    where = f"; `{path} --help` lists what is allowed"
    return f"error: {message}{where}"
