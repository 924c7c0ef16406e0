"""Forecast monitoring: every `predict` appends its rows to the model's prediction log in the home, and
`models score` scores production's logged predictions whose outcome is now known against what happened and
against the baselines over the same days. Orchestration level: reads the registry, the store and the log,
asks the kind to score; never prints."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .clock import now_iso
from .errors import RegistryError, UsageError
from .fsutil import append_line
from .kinds import KINDS

if TYPE_CHECKING:
    from pathlib import Path

    from .data.store import DataStore
    from .paths import Home
    from .registry import Registry

LOG_DIR = "predictions"  # under the mltrain home: one JSON-lines file per model


def log_path(home: Home, model: str) -> Path:
    return home.root / LOG_DIR / f"{model}.jsonl"


def log_predictions(home: Home, data: dict, status: str) -> int:
    """Append one JSON line per prediction row in one O_APPEND write (a concurrent predict's lines never
    interleave inside a line); returns how many were logged."""
    logged_at = now_iso()
    lines = [
        json.dumps(
            {
                "logged_at": logged_at,
                "model": data["model_name"],
                "model_type": data["model_type"],
                "version": data["version"],
                "status": status,
                **row,
            },
            sort_keys=True,
            default=str,
        )
        for row in data["predictions"]
    ]
    if lines:
        append_line(log_path(home, data["model_name"]), "\n".join(lines))
    return len(lines)


def read_log(home: Home, model: str) -> list[dict]:
    """Every whole line of the log (a torn or hand-edited line is skipped, never an error)."""
    path = log_path(home, model)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read the prediction log {path}: {exc}") from exc
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("date"), str) and isinstance(row.get("symbol"), str):
            rows.append(row)
    return rows


def score(home: Home, registry: Registry, store: DataStore, model: str) -> dict:
    """Production's logged predictions (the last one logged per symbol and day) scored where the outcome is
    known: {model_name, version, logged, scored, pending, symbols, worse_than_baseline}."""
    production = registry.aliases(model).get("production")
    if production is None:
        raise UsageError(f"{model} has no production version; nothing to score (`mltrain models list`)")
    meta = registry.meta(model, production)
    every = read_log(home, model)
    mine = [r for r in every if r.get("version") == production]
    # a replay of days the version was fitted or selected on (`predict --since`) is no forecast to monitor
    logged = [r for r in mine if not r.get("in_sample")]
    latest: dict[tuple[str, str], dict] = {}
    for row in logged:
        latest[(row["symbol"], row["date"])] = row
    rows = [latest[k] for k in sorted(latest)]
    figures = KINDS[meta["model_type"]].score_logged(rows, store) if rows else {"symbols": {}}
    per = figures.get("symbols", {})
    return {
        "model_name": model,
        "model_type": meta["model_type"],
        "version": production,
        "log": str(log_path(home, model)),
        "logged": len(rows),
        "in_sample_skipped": len(mine) - len(logged),
        "log_lines": len(every),  # with other versions' lines and repeats of a symbol's day (the last counts)
        "scored": sum(s.get("scored", 0) for s in per.values()),
        "pending": sum(s.get("pending", 0) for s in per.values()),
        "symbols": per,
        "worse_than_baseline": figures.get("worse_than_baseline"),
    }
