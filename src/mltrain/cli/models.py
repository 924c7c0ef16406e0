"""mltrain models list|show|promote|rollback|compare|rm|prune."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import RegistryError
from ..textutil import plural
from . import complete, render
from .common import JSON_OPT, env, home, registry, run, store, warn

app = typer.Typer(help="The model registry: versions, aliases, comparison.", no_args_is_help=True)


WAIT_OPT = typer.Option(False, "--wait", help="Wait for a job holding the model's lock instead of exiting 2.")


def _say(text: str) -> None:
    render.paragraph(text, env().stdout)


def _waiting(info: dict) -> None:
    """One line on stderr while --wait blocks on another job's lock."""
    who = f"job {info['job_id']}" if "job_id" in info else f"`mltrain {info.get('command', '?')}`"
    print(f"waiting for {who} (pid {info.get('pid', '?')}) to release the model's lock", file=env().stderr)


def _list_row(found, name: str, latest: int) -> dict:
    meta = found.meta(name, latest)
    production = found.aliases(name).get("production")
    shown = meta if production in (None, latest) else found.meta(name, production)
    metric, value, pooled = _headline(shown)
    last_dates = [w["last"] for w in shown["data_windows"].values()]
    return {
        "model_name": name,
        "model_type": meta["model_type"],
        "production_version": production,
        "production_status": found.status(name, production) if production else None,
        "latest_version": latest,
        "latest_status": found.status(name, latest, meta),
        "main_metric": metric,
        "main_metric_value": value,
        **pooled,
        "trained_at": shown["created_at"],
        "last_data_date": max(last_dates) if last_dates else None,
    }


def _name_arg(help: str = "Model name in the registry."):
    return typer.Argument(..., help=help, autocompletion=complete.registered_models, metavar="NAME")


def _version_arg(help: str):
    return typer.Argument(..., help=help, metavar="VERSION", min=1)


def _headline(meta: dict) -> tuple[str | None, object, dict]:
    """The kind's main metric, its value on the version's validation block, and {pooled_metric_value,
    pooled_folds}: the same metric pooled over the promotion folds that decided the version (None, None
    without them); (None, None, those Nones) for a kind this install does not know."""
    from ..kinds import KINDS

    kind = KINDS.get(meta.get("model_type"))
    metric = kind.main_metric if kind else None
    evidence = meta.get("promotion") or {}
    pooled = kind.pooled_headline(evidence) if kind and evidence.get("folds") else None
    folds = len(evidence["folds"]) if pooled is not None else None
    beside = kind.pooled_baseline(evidence) if pooled is not None else None  # never a figure alone
    return (
        metric,
        meta.get("metrics", {}).get(metric),
        {"pooled_metric_value": pooled, "pooled_folds": folds, "pooled_baseline": beside},
    )


def headline_text(row: dict) -> str:
    """'balanced_accuracy 0.6925 over 8 promotion folds' (what decided the version), else the block's."""
    if not row["main_metric"]:
        return "-"
    if row.get("pooled_metric_value") is not None:
        folds = plural(row["pooled_folds"], "promotion fold")
        b = row.get("pooled_baseline") or {}
        where = f"{b['symbol']}: " if b.get("symbol") else ""
        metric = f"{b['metric']} " if b.get("metric") else ""  # 'SOL: gjr_garch r2 0.1160'
        beside = f" ({where}{b['baseline']} {metric}{render.fmt(b['value'])})" if b else ""
        return f"{row['main_metric']} {render.fmt(row['pooled_metric_value'])} over {folds}{beside}"
    return f"{row['main_metric']} {render.fmt(row['main_metric_value'])} (validation block)"


@app.command("list")
def models_list(as_json: bool = JSON_OPT) -> None:
    """Every model with its production version (its status and score) and its latest version."""

    def body() -> list:
        found = registry()
        rows = []
        for name in found.models():
            latest = found.versions(name)[-1]
            try:
                rows.append(_list_row(found, name, latest))
            except RegistryError as exc:  # one damaged version must not hide every other model
                try:  # blame the latest version only when it is what cannot be read
                    found.meta(name, latest)
                    whose, status = name, "unknown"  # the aliases or the production version's files
                except RegistryError:
                    whose, status = f"{name} v{latest}", "corrupted"
                rows.append(
                    {
                        "model_name": name,
                        "model_type": None,
                        "production_version": None,
                        "production_status": None,
                        "latest_version": latest,
                        "latest_status": status,
                        "main_metric": None,
                        "main_metric_value": None,
                        "pooled_metric_value": None,
                        "pooled_folds": None,
                        "pooled_baseline": None,
                        "trained_at": None,
                        "last_data_date": None,
                    }
                )
                warn(f"{whose}: {exc}")
        return rows

    def show(rows: list) -> None:
        render.table(
            "models (scores and dates of the production version, else the latest)",
            ["model", "type", "production", "latest", "metric", "trained", "last data"],
            [
                [
                    r["model_name"],
                    r["model_type"] or "-",
                    f"v{r['production_version']}" if r["production_version"] else "none",
                    f"v{r['latest_version']} {r['latest_status']}",
                    headline_text(r),
                    r["trained_at"] or "-",
                    r["last_data_date"] or "-",
                ]
                for r in rows
            ],
            env().stdout,
            drop=("type", "last data", "trained"),
            whole=("production", "latest", "trained", "last data"),
        )

    run(as_json, body, show)


@app.command("show")
def models_show(
    name: str = _name_arg(),
    version_arg: Optional[int] = typer.Argument(
        None, metavar="VERSION", min=1, help="Version number (default: production)."
    ),
    version: Optional[int] = typer.Option(None, "--version", min=1, help="Same as the VERSION argument."),
    as_json: bool = JSON_OPT,
) -> None:
    """Everything in a version's metadata (production unless a VERSION is given)."""

    def body() -> dict:
        from ..errors import UsageError

        if version is not None and version_arg is not None and version != version_arg:
            raise UsageError(f"VERSION {version_arg} and --version {version} disagree; give one of them")
        found = registry()
        v = found.require_version(name, version if version is not None else version_arg)
        meta = found.meta(name, v)
        evaluations = [
            {k: e.get(k) for k in ("evaluation_id", "created_at", "command", "summary")}
            for e in found.evaluations(name)
        ]
        return {**meta, "model_name": name, "status": found.status(name, v, meta), "evaluations": evaluations}

    run(as_json, body, lambda meta: render.version(meta, env().stdout))


@app.command("score")
def models_score(name: str = _name_arg(), as_json: bool = JSON_OPT) -> None:
    """Score production's logged predictions (every `predict` logs them) whose outcome is now known against
    what happened and against the baselines over the same days. Exit 4 when production is worse than the
    best baseline beyond noise (for cron alerts); 0 otherwise, also when nothing is known yet."""
    from ..errors import ExitCode

    def body() -> dict:
        from ..monitor import score

        return score(home(), registry(), store(), name)

    def show(d: dict) -> None:
        out = env().stdout
        other = d["log_lines"] - d["logged"]
        skipped = d["in_sample_skipped"]
        _say(
            f"{name} v{d['version']} (production): {d['scored']} of {d['logged']} logged predictions have "
            f"their outcome; {d['pending']} pending (log {d['log']}"
            + (
                f"; not counted: {skipped} in-sample replayed, {other - skipped} from other versions or "
                "repeating a symbol's day (the last one logged counts)"
                if other
                else ""
            )
            + ")"
        )
        for symbol, s in d["symbols"].items():
            if not s.get("scored"):
                continue
            if "qlike" in s:
                listed = ", ".join(f"{k} {v}" for k, v in s["qlike"].items())
                p = (s.get("dm_model_vs_best") or {}).get("p_value")
                _say(
                    f"{symbol} {s['first']}..{s['last']} ({plural(s['scored'], 'day')}): QLIKE {listed} "
                    f"(DM p vs {s['best_baseline']}: {'n/a' if p is None else p}"
                    + (f", {s['dm_untested']}" if s.get("dm_untested") else "")
                    + ")"
                )
            else:
                ba = s["balanced_accuracy"]
                _say(
                    f"{symbol} {s['first']}..{s['last']}: balanced accuracy model {ba['model']} vs rule "
                    f"{ba['rule']} ({', '.join(s['regimes'])})"
                )
        if d["worse_than_baseline"]:
            print(
                f"ALERT: production is worse than a baseline beyond noise: {d['worse_than_baseline']}",
                file=out,
            )

    run(
        as_json,
        body,
        show,
        code=lambda d: ExitCode.WORSE_THAN_BASELINE if d["worse_than_baseline"] else ExitCode.OK,
    )


@app.command("history")
def models_history(name: str = _name_arg(), as_json: bool = JSON_OPT) -> None:
    """Versions over time with status and headline score, then the alias log (who promoted what, when,
    why)."""

    def body() -> dict:
        found = registry()
        if not found.versions(name):
            raise found.no_versions(name)
        versions = []
        for v in found.versions(name):
            meta = found.meta(name, v)
            metric, value, pooled = _headline(meta)
            windows = meta.get("data_windows", {})
            versions.append(
                {
                    "version": v,
                    "created_at": meta.get("created_at"),
                    "status": found.status(name, v, meta),
                    "main_metric": metric,
                    "main_metric_value": value,
                    **pooled,
                    "job_id": meta.get("job_id"),
                    "validation": {s: render.validation_window(w) for s, w in windows.items()},
                }
            )
        log = [
            {k: e.get(k) for k in ("at", "alias", "from", "to", "by", "reason")}
            for e in found.alias_log(name)
        ]
        return {
            "model_name": name,
            "production": found.aliases(name).get("production"),
            "versions": versions,
            "alias_log": log,
        }

    run(as_json, body, lambda d: render.history(d, env().stdout))


@app.command("promote")
def models_promote(
    name: str = _name_arg(),
    version: int = _version_arg("Version number to make production."),
    force: bool = typer.Option(False, "--force", help="Promote a version its gate rejected."),
    wait: bool = WAIT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Make version N the production version (a no-op when it already is)."""

    def body() -> dict:
        done = registry().promote_version(name, version, force=force, wait=wait, on_wait=_waiting)
        return {
            "model_name": name,
            "production": done.version,
            "previous": done.previous,
            "changed": done.changed,
            "status_before": done.status_before,
        }

    def show(d: dict) -> None:
        if not d["changed"]:
            _say(f"{name}: v{d['production']} is already the production version; nothing changed")
        else:
            was = f"v{d['previous']}" if d["previous"] is not None else "none"
            _say(f"{name}: production is now v{d['production']} (was {was})")

    run(as_json, body, show)


@app.command("rollback")
def models_rollback(name: str = _name_arg(), wait: bool = WAIT_OPT, as_json: bool = JSON_OPT) -> None:
    """Production back to the previous production version."""

    def body() -> dict:
        current, previous = registry().rollback(name, wait=wait, on_wait=_waiting)
        return {"model_name": name, "production": previous, "previous": current}

    run(
        as_json,
        body,
        lambda d: _say(f"{name}: production rolled back from v{d['previous']} to v{d['production']}"),
    )


@app.command("compare")
def models_compare(
    name: str = _name_arg(),
    a: int = _version_arg("First version number."),
    b: int = _version_arg("Second version number."),
    as_json: bool = JSON_OPT,
) -> None:
    """What changed between two versions: config fields, the model's scores side by side with the change (and
    its ratio to the best baseline), validation windows; warns when the windows differ. --json also has both
    versions' full config, metrics and baselines."""

    def body() -> dict:
        found = registry()
        out = {}
        for v in (a, b):
            meta = found.meta(name, found.require_version(name, v))
            out[f"v{v}"] = {
                "config": meta["config"],
                "data_windows": meta["data_windows"],
                "metrics": meta["metrics"],
                "baselines": meta["baselines"],
                "created_at": meta["created_at"],
                "status": found.status(name, v, meta),
                "model_type": meta["model_type"],
            }
        left, right = out.values()
        # what the text shows: the config fields that changed and the model's scores with the change
        figures = render.compare_figures(left["model_type"], left, right)
        return {"model_name": name, "model_type": left["model_type"], "versions": out, "figures": figures}

    def show(d: dict) -> None:
        render.compare(d, env().stdout)

    run(as_json, body, show)


@app.command("rm")
def models_rm(
    name: str = _name_arg(),
    version: int = _version_arg("Version number to delete."),
    wait: bool = WAIT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Delete a version (never the production one)."""

    def body() -> dict:
        registry().remove(name, version, wait=wait, on_wait=_waiting)
        return {"model_name": name, "removed": version}

    run(as_json, body, lambda d: _say(f"{name}: removed v{version}"))


@app.command("prune")
def models_prune(
    name: str = _name_arg(),
    keep: int = typer.Option(..., "--keep", help="How many of the newest versions to keep."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
    wait: bool = WAIT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Remove old versions: keeps the N newest, the production version and the one rollback would restore."""

    def body() -> dict:
        removed, kept = registry().prune(name, keep, dry_run, wait=wait, on_wait=_waiting)
        return {"model_name": name, "removed": removed, "kept": kept, "dry_run": dry_run}

    def show(d: dict) -> None:
        removes, keeps = ("would remove", "would keep") if d["dry_run"] else ("removed", "kept")
        listed = ", ".join(f"v{v}" for v in d["removed"]) or "nothing"
        _say(f"{name}: {removes} {listed}; {keeps} {', '.join(f'v{v}' for v in d['kept'])}")

    run(as_json, body, show)
