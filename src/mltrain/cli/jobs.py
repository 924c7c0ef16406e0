"""mltrain jobs list|show."""

from __future__ import annotations

from typing import Optional

import typer

from . import complete, render
from .common import JSON_OPT, env, home, run

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

        return Jobs(home()).list(status, model)

    run(
        as_json,
        body,
        lambda rows: render.table(
            "jobs",
            ["job", "model", "type", "status", "created", "version", "by", "error"],
            [
                [
                    r["job_id"],
                    r["model_name"],
                    r["model_type"],
                    r["status"],
                    r["created_at"],
                    r["version"],
                    r["triggered_by"],
                    r["error"],
                ]
                for r in rows
            ],
            env().stdout,
            drop=("by", "type", "error", "version"),
            whole=("job", "model", "status", "created"),
        ),
    )


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
