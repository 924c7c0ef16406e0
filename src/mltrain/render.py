"""Text tables and JSON envelopes; the only place that formats results for people or scripts."""
from __future__ import annotations

import json
import sys
from typing import Any, IO

from .textutil import fmt


def envelope(data: Any) -> str:
    return json.dumps({"ok": True, "data": data}, default=str)


def error_envelope(message: str) -> str:
    return json.dumps({"ok": False, "error": message})


def table(title: str | None, columns: list[str], rows: list[list[Any]], stream: IO[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*["-" if v is None else str(v) for v in row])
    stream = stream or sys.stdout
    # pipes and cron logs get full-width rows instead of truncated cells
    Console(file=stream, width=None if stream.isatty() else 200).print(t)


def kv(title: str, items: dict, stream: IO[str] | None = None) -> None:
    table(title, ["field", "value"], [[k, fmt(v) if not isinstance(v, (dict, list)) else json.dumps(v, default=str)]
                                      for k, v in items.items()], stream)
