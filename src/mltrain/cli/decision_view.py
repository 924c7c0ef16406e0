"""Evaluate's first table: what acting on each forecaster's calls would have earned (decision.py's figures)."""

from __future__ import annotations

from typing import IO

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


def _cell(value, style: str) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if style == "pct" else f"{value:.2f}"


def _interval(paired: dict | None, what: str) -> str:
    if not paired or paired.get(f"{what}_difference") is None:
        return "n/a"
    ci = paired.get(f"{what}_ci")
    value = paired[f"{what}_difference"]
    scale, unit = (100, " pts") if what == "max_drawdown" else (1, "")
    text = f"{value * scale:+.2f}{unit}"
    return text + (f" [90% {ci[0] * scale:+.2f}, {ci[1] * scale:+.2f}]" if ci else "")


def decision_lines(d: dict) -> list[str]:
    """The sentences under one symbol's decision table: the model against buy-and-hold and the best
    baseline with paired intervals, the oracle's days and share captured, the unlabelled days scored."""
    lines = [
        f"model minus buy-and-hold: Sharpe {_interval(d.get('model_vs_buy_and_hold'), 'sharpe')}, "
        f"max drawdown {_interval(d.get('model_vs_buy_and_hold'), 'max_drawdown')} (positive: shallower)"
    ]
    if d.get("best_baseline"):
        paired = d.get("model_vs_best_baseline")
        lines.append(
            f"model minus the best baseline ({d['best_baseline']}): Sharpe {_interval(paired, 'sharpe')}, "
            f"max drawdown {_interval(paired, 'max_drawdown')}"
        )
    if d.get("oracle_note"):
        text = f"oracle: {d['oracle_note']} ({d['oracle_days']} days)"
        if "oracle_share" in d:
            share = d["oracle_share"]
            text += (
                "; the model captures "
                + ("n/a" if share is None else f"{share * 100:.0f}%")
                + " of the oracle's Sharpe gain over buy-and-hold on those days"
            )
        lines.append(text)
    if d.get("steadiest_baseline"):
        rows, best = d["rows"], d["steadiest_baseline"]
        lines.append(
            f"risk steadiness (mean |30-day vol - target| / target, lower is steadier): model "
            f"{_cell(rows['model'].get('risk_steadiness'), 'num')} vs the steadiest baseline ({best}) "
            f"{_cell(rows[best].get('risk_steadiness'), 'num')}; target "
            + ", ".join(f"{t * 100:.0f}%" for t in d.get("target_vol", []))
        )
    if d.get("unlabelled_days"):
        lines.append(
            f"{d['unlabelled_days']} days after the last labelled day are scored here (their next-day return "
            "is known) and in no statistical score below"
        )
    if d.get("policies"):
        lines.append("policy chosen on each fold's selection block: " + ", ".join(map(str, d["policies"])))
    return lines


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
