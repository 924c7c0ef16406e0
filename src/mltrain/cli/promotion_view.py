"""The promotion check in text: what a train will score before it starts, and the evidence a version was
promoted (or kept out) on, as train and `models show` print it."""

from __future__ import annotations

import datetime as dt
from typing import IO

from ..textutil import plural
from .tables import paragraph


def promotion_check_line(check: dict) -> str:
    """What the promotion check at the end of a train will score, and about how long it takes."""
    from ..estimate import format_seconds

    todo, windows, scorings = check["folds_to_score"], check["folds"], check["scorings"]
    if not todo:
        folds = "its walk-forward fold is" if windows == 1 else f"all {windows} walk-forward folds are"
        return f"promotion check: {folds} cached"
    more = f"about {format_seconds(check['expected_seconds'])} more"
    if scorings > windows:  # production is rescored with its own config on the same folds
        part = f"all {scorings}" if todo == scorings else f"{todo} of {scorings} (the rest are cached)"
        return (
            f"promotion check: {plural(windows, 'walk-forward fold')}, scored for the candidate and for "
            f"production: {part} to score, {more}"
        )
    if todo == windows:
        return f"promotion check: {plural(windows, 'walk-forward fold')} to score, {more}"
    return f"promotion check: {todo} of {windows} walk-forward folds to score (the rest are cached), {more}"


def promotion(meta: dict, stream: IO[str]) -> None:
    """The champion/challenger evidence a version was promoted (or kept out) on."""
    from ..kinds import KINDS

    evidence = meta["promotion"]
    folds = evidence.get("folds") or []
    lines = [f"promotion: {evidence.get('reason')}"]
    lines.append(
        "  folds: "
        + (_windows(folds) or "none")
        + f" (production then: {_version_or_none(evidence.get('production_version'))})"
    )
    if evidence.get("reach"):
        lines.append(f"  {evidence['reach']}")
    kind = KINDS.get(meta["model_type"])
    lines += [f"  {line}" for line in (kind.promotion_lines(evidence) if kind else [])]
    lines += promotion_decision_lines(evidence)
    for line in lines:
        paragraph(line, stream)


def promotion_decision_lines(evidence: dict) -> list[str]:
    """What acting on the candidate's calls earned on the promotion folds (decision.py), one line per symbol."""
    lines = []
    for symbol, d in (evidence.get("decision") or {}).items():
        rows = d.get("rows") or {}
        model, hold, best = rows.get("model"), rows.get("buy_and_hold"), d.get("best_baseline")
        if not model or not hold:
            continue
        text = (
            f"  decision {symbol} ({d.get('days')} days, {d.get('cost_bps'):g} bps): Sharpe {model['sharpe']}, "
            f"max drawdown {model['max_drawdown']:.1%}; buy-and-hold {hold['sharpe']}, {hold['max_drawdown']:.1%}"
        )
        if best and rows.get(best):
            text += (
                f"; best baseline by Sharpe {best} {rows[best]['sharpe']}, {rows[best]['max_drawdown']:.1%}"
            )
        lines.append(text)
    return lines


def _windows(folds: list[dict]) -> str:
    """'2023-12-20..2025-07-25 (4 adjacent folds)' for adjacent windows, else each window."""
    days = [(dt.date.fromisoformat(w["first"]), dt.date.fromisoformat(w["last"])) for w in folds]
    adjacent = all((b[0] - a[1]).days == 1 for a, b in zip(days, days[1:]))
    if len(folds) > 1 and adjacent:
        return f"{folds[0]['first']}..{folds[-1]['last']} ({len(folds)} adjacent folds)"
    return ", ".join(f"{w['first']}..{w['last']}" for w in folds)


def _version_or_none(version) -> str:
    return "none" if version is None else f"v{version}"
