"""mltrain models list|show|promote|rollback|compare|rm|prune."""
from __future__ import annotations

import json
from typing import Optional

import typer

from ..errors import RegistryError
from ..kinds import KINDS
from . import render
from .common import JSON_OPT, env, registry, run, warn

app = typer.Typer(help="The model registry: versions, aliases, comparison.", no_args_is_help=True)


WAIT_OPT = typer.Option(False, "--wait", help="Wait for a job holding the model's lock instead of exiting 2.")


def _say(text: str) -> None:
    print(text, file=env().stdout)


def _waiting(info: dict) -> None:
    """One line on stderr while --wait blocks on another job's lock."""
    who = f"job {info['job_id']}" if "job_id" in info else f"`mltrain {info.get('command', '?')}`"
    print(f"waiting for {who} (pid {info.get('pid', '?')}) to release the model's lock", file=env().stderr)


def _list_row(found, name: str, latest: int) -> dict:
    meta = found.meta(name, latest)
    kind = KINDS.get(meta["model_type"])
    metric = kind.main_metric if kind else None
    last_dates = [w["last"] for w in meta["data_windows"].values()]
    return {"name": name, "model_type": meta["model_type"],
            "production_version": found.aliases(name).get("production"),
            "latest_version": latest, "latest_status": found.status(name, latest, meta),
            "main_metric": metric, "main_metric_value": meta["metrics"].get(metric),
            "trained_at": meta["created_at"],
            "last_data_date": max(last_dates) if last_dates else None}


@app.command("list")
def models_list(as_json: bool = JSON_OPT) -> None:
    """Every model with its production and latest version."""
    def body() -> list:
        found = registry()
        rows = []
        for name in found.models():
            latest = found.versions(name)[-1]
            try:
                rows.append(_list_row(found, name, latest))
            except RegistryError as exc:  # one damaged version must not hide every other model
                rows.append({"name": name, "model_type": None, "production_version": None,
                             "latest_version": latest, "latest_status": "corrupted", "main_metric": None,
                             "main_metric_value": None, "trained_at": None, "last_data_date": None})
                warn(f"{name} v{latest}: {exc}")
        return rows

    run(as_json, body, lambda rows: render.table(
        "models", ["name", "type", "production", "latest", "status", "metric", "trained at", "last data"],
        [[r["name"], r["model_type"], r["production_version"], r["latest_version"], r["latest_status"],
          f"{r['main_metric']}={render.fmt(r['main_metric_value'])}" if r["main_metric"] else "-",
          r["trained_at"] or "-", r["last_data_date"] or "-"]
         for r in rows], env().stdout))


@app.command("show")
def models_show(name: str, version: Optional[int] = typer.Option(None, "--version"),
                as_json: bool = JSON_OPT) -> None:
    """Everything in a version's metadata."""
    def body() -> dict:
        found = registry()
        v = found.require_version(name, version)
        meta = found.meta(name, v)
        evaluations = [{k: e.get(k) for k in ("evaluation_id", "created_at", "command", "summary")}
                       for e in found.evaluations(name)]
        return {**meta, "status": found.status(name, v, meta), "evaluations": evaluations}

    run(as_json, body, lambda meta: render.version(meta, env().stdout))


@app.command("promote")
def models_promote(name: str, version: int,
                   force: bool = typer.Option(False, "--force",
                                              help="Promote a version its gate rejected."),
                   wait: bool = WAIT_OPT, as_json: bool = JSON_OPT) -> None:
    """Make version N the production version (a no-op when it already is)."""
    def body() -> dict:
        done = registry().promote_version(name, version, force=force, wait=wait, on_wait=_waiting)
        return {"name": name, "production": done.version, "previous": done.previous, "changed": done.changed,
                "status_before": done.status_before}

    def show(d: dict) -> None:
        if not d["changed"]:
            _say(f"{name}: v{d['production']} is already the production version; nothing changed")
        else:
            was = f"v{d['previous']}" if d["previous"] is not None else "none"
            _say(f"{name}: production is now v{d['production']} (was {was})")
    run(as_json, body, show)


@app.command("rollback")
def models_rollback(name: str, wait: bool = WAIT_OPT, as_json: bool = JSON_OPT) -> None:
    """Production back to the previous production version."""
    def body() -> dict:
        current, previous = registry().rollback(name, wait=wait, on_wait=_waiting)
        return {"name": name, "from": current, "production": previous}
    run(as_json, body,
        lambda d: _say(f"{name}: production rolled back from v{d['from']} to v{d['production']}"))


@app.command("compare")
def models_compare(name: str, a: int, b: int, as_json: bool = JSON_OPT) -> None:
    """Config, data window and metrics of two versions side by side."""
    def body() -> dict:
        found = registry()
        out = {}
        for v in (a, b):
            meta = found.meta(name, found.require_version(name, v))
            out[f"v{v}"] = {"config": meta["config"], "data_windows": meta["data_windows"],
                            "metrics": meta["metrics"],
                            "baselines": meta["baselines"], "created_at": meta["created_at"],
                            "status": found.status(name, v, meta)}
        return {"name": name, "versions": out}

    def show(d: dict) -> None:
        left, right = d["versions"][f"v{a}"], d["versions"][f"v{b}"]
        rows = [[f"config.{k}", render.fmt(left["config"][k]), render.fmt(right["config"].get(k))]
                for k in left["config"]]
        for section in ("data_windows", "metrics"):
            keys = sorted(set(left[section]) | set(right[section]))
            rows += [[f"{section}.{k}", json.dumps(left[section].get(k)), json.dumps(right[section].get(k))]
                     for k in keys]
        rows.append(["status", left["status"], right["status"]])
        render.table(f"{name}: v{a} vs v{b}", ["field", f"v{a}", f"v{b}"], rows, env().stdout)
    run(as_json, body, show)


@app.command("rm")
def models_rm(name: str, version: int, wait: bool = WAIT_OPT, as_json: bool = JSON_OPT) -> None:
    """Delete a version (never the production one)."""
    def body() -> dict:
        registry().remove(name, version, wait=wait, on_wait=_waiting)
        return {"name": name, "removed": version}
    run(as_json, body, lambda d: _say(f"{name}: removed v{version}"))


@app.command("prune")
def models_prune(name: str, keep: int = typer.Option(..., "--keep",
                                                     help="How many of the newest versions to keep."),
                 dry_run: bool = typer.Option(False, "--dry-run",
                                              help="List what would be removed; remove nothing."),
                 wait: bool = WAIT_OPT, as_json: bool = JSON_OPT) -> None:
    """Remove old versions: keeps the N newest, the production version and the one rollback would restore."""
    def body() -> dict:
        removed, kept = registry().prune(name, keep, dry_run, wait=wait, on_wait=_waiting)
        return {"name": name, "removed": removed, "kept": kept, "dry_run": dry_run}

    def show(d: dict) -> None:
        verb = "would remove" if d["dry_run"] else "removed"
        listed = ", ".join(f"v{v}" for v in d["removed"]) or "nothing"
        _say(f"{name}: {verb} {listed}; kept {', '.join(f'v{v}' for v in d['kept'])}")
    run(as_json, body, show)
