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
    """Console entry point. Typer reports bad options itself (exit 2); with --json the report is JSON too."""
    args = sys.argv[1:] if argv is None else list(argv)
    env = env or Env(argv=[sys.argv[0], *args], owns_process=True)
    call = dict(prog_name="mltrain", obj=env, **({} if argv is None else {"args": args}))
    if "--json" not in args:
        app(**call)
        return
    try:
        code = app(standalone_mode=False, **call)
    except Exception as exc:
        if not (hasattr(exc, "format_message") and hasattr(exc, "show")):  # not a Click/Typer usage error
            raise
        print(render.error_envelope(exc.format_message()))
        exc.show()
        sys.exit(ExitCode.USAGE)
    sys.exit(code if isinstance(code, int) else 0)
