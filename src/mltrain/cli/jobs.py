"""mltrain jobs list|show."""

from __future__ import annotations

from typing import Optional

import typer

from . import complete, render
from .common import JSON_OPT, env, home, run, warn

app = typer.Typer(help="Training jobs and their logs.", no_args_is_help=True)


@app.command("list")
def jobs_list(
    status: Optional[str] = typer.Option(
        None,
        "--status",
        help="Only jobs with this status: pending, running, completed, rejected, failed or cancelled.",
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="Only jobs of this model.", autocompletion=complete.model_names
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Training jobs, newest first."""

    def body() -> list:
        from ..jobs import Jobs

        return Jobs(home()).list(status, model, skip=warn)  # one damaged record hides no other job

    def show(rows: list) -> None:
        if not rows:  # an empty table alone does not say whether the filter or the home is why
            render.paragraph(_none_line(status, model), env().stdout)
            return
        render.table(
            "jobs",
            ["job", "model", "type", "status", "created", "version", "by", "error"],
            [
                [
                    r["job_id"],
                    r["model_name"],
                    r["model_type"],
                    r["status"],
                    r["created_at"],
                    r.get("version"),
                    r.get("triggered_by"),
                    r.get("error"),
                ]
                for r in rows
            ],
            env().stdout,
            drop=("by", "type", "error", "version"),
            whole=("job", "model", "status", "created"),
        )

    run(as_json, body, show)


def _none_line(status: str | None, model: str | None) -> str:
    """Why the list is empty: no job at all, or none matching the filter, with the names that have jobs
    when --model names none of them (a typo must be seen as one)."""
    from ..jobs import Jobs
    from ..textutil import suggest

    every = Jobs(home()).list(skip=lambda _: None)  # said once already
    if not every:
        return f"no jobs recorded in {home().root}"
    named = sorted({r["model_name"] for r in every})
    filters = " and ".join(
        f for f in (f"model {model!r}" if model else "", f"status {status}" if status else "") if f
    )
    line = f"no jobs with {filters}"
    if model and model not in named:
        line += f"; models with jobs: {', '.join(named)}.{suggest(model, named)}"
    return line


@app.command("show")
def jobs_show(
    job_id: str = typer.Argument(
        ..., metavar="JOB_ID", help="Job id, as `mltrain jobs list` shows.", autocompletion=complete.job_ids
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """One job's record and its log file."""

    def body() -> dict:
        from ..jobs import Jobs

        return Jobs(home()).get(job_id)

    run(as_json, body, lambda d: render.kv(f"job {job_id}", d, env().stdout))
