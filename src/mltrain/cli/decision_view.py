"""Evaluate's first table: what acting on each forecaster's calls would have earned (decision.py's figures)."""

from __future__ import annotations

from typing import IO

from ..report_decision import cell as _cell
from ..report_decision import decision_lines
from .tables import paragraph, table

COLUMNS = (
    ("annual_return", "ann. return", "pct"),
    ("annual_vol", "ann. vol", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "max DD", "pct"),
    ("calmar", "Calmar", "num"),
    ("turnover_per_year", "turnover/yr", "num"),
    ("time_in_market", "in market", "pct"),
    ("risk_steadiness", "risk steadiness", "num"),
)


def render(result: dict, stream: IO[str]) -> None:
    """One table per symbol: a row per forecaster, buy-and-hold and the oracle; then the sentences."""
    for symbol, d in (result.get("decision") or {}).items():
        shown = [c for c in COLUMNS if any((r or {}).get(c[0]) is not None for r in d["rows"].values())]
        rows = [
            [name, *(_cell(r.get(key), style) for key, _, style in shown)]
            if r
            else [name, *(["not installed"] + ["-"] * (len(shown) - 1))]
            for name, r in d["rows"].items()
        ]
        title = (
            f"decision value: {symbol}, {d['days']} days {d['first']}..{d['last']}, "
            f"{d['cost_bps']:g} bps per unit traded (position at day d's close, earning day d+1's return)"
        )
        table(title, ["strategy", *(label for _, label, _ in shown)], rows, stream)
        for line in decision_lines(d):
            paragraph(line, stream)
