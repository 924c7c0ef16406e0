"""Evaluate's first table: what acting on each forecaster's calls would have earned (decision.py's figures)."""

from __future__ import annotations

from typing import IO

from ..report_decision import COLUMNS, decision_lines, interval, row_name
from ..report_decision import cell as _cell
from .tables import paragraph, table


def render(result: dict, stream: IO[str], details: bool = False) -> None:
    """The answer first: one row per symbol, the model's policy against buy-and-hold and the best baseline.
    With --details, one table per symbol (a row per forecaster, buy-and-hold and the oracle) and every
    interval and note."""
    decision = result.get("decision") or {}
    if not decision:
        return
    if not details:
        summary(decision, stream)
        return
    for symbol, d in decision.items():
        shown = [c for c in COLUMNS if any((r or {}).get(c[0]) is not None for r in d["rows"].values())]
        rows = [
            [row_name(name, d), *(_cell(r.get(key), style) for key, _, style in shown)]
            if r
            else [name, *(["not installed"] + ["-"] * (len(shown) - 1))]
            for name, r in d["rows"].items()
        ]
        title = f"decision value: {symbol}, {d['days']} days {d['first']}..{d['last']}, {d['cost_bps']:g} bps"
        table(title, ["strategy", *(label for _, label, _ in shown)], rows, stream)
        paragraph(verdict_line(symbol, d), stream)
        paragraph("position decided at day d's close, earning day d+1's close-to-close return", stream)
        for line in decision_lines(d):
            paragraph(line, stream)


def summary(decision: dict, stream: IO[str]) -> None:
    """Evaluate's first table: per symbol, what the model's policy earned beside buy-and-hold and the best
    baseline's, the paired interval of its Sharpe gain over holding and a one-word verdict."""
    rows, first = [], next(iter(decision.values()))
    steadiness = any(d.get("steadiest_baseline") for d in decision.values())
    for symbol, d in decision.items():
        r, paired, best = d["rows"], d.get("model_vs_buy_and_hold"), d.get("best_baseline")
        model, hold = r.get("model") or {}, r.get("buy_and_hold") or {}
        row = [
            symbol,
            _cell(model.get("sharpe"), "num"),
            _cell(hold.get("sharpe"), "num"),
            f"{best} {_cell((r.get(best) or {}).get('sharpe'), 'num')}" if best else "-",
            *_gain(paired),
            _cell(model.get("max_drawdown"), "pct"),
            _cell(hold.get("max_drawdown"), "pct"),
        ]
        if steadiness:
            steady = d.get("steadiest_baseline")
            mine, theirs = model.get("risk_steadiness"), (r.get(steady) or {}).get("risk_steadiness")
            row.append(f"{_cell(mine, 'num')}/{_cell(theirs, 'num')}")
        else:
            share = d.get("oracle_share")
            row.append("-" if share is None else f"{share * 100:.0f}%")
        word, against_best = _word(paired, "sharpe"), _word(d.get("model_vs_best_baseline"), "sharpe")
        if against_best in ("beats", "LOSES"):  # a loss to the best baseline was in --details only
            word += f"; {against_best} vs {best}"
        rows.append([*row, word])
    last = "steadiness/best" if steadiness else "oracle gain"
    columns = [
        "symbol",
        "Sharpe",
        "hold",
        "best baseline",
        "gain",
        "90%",
        "max DD",
        "hold DD",
        last,
        "verdict",
    ]
    tail = first.get("unlabelled_days") or 0  # regime: days after the last ex-post label count too
    after = f" ({tail} past the last label)" if tail else ""
    title = f"decision value, {first['days']} days{after} to {first['last']}, {first['cost_bps']:g} bps"
    # a narrow terminal drops the least needed columns first (named in a note; --json has them all)
    table(title, columns, rows, stream, drop=("hold DD", last, "best baseline"))
    paragraph(
        "gain: Sharpe (daily, x sqrt(365)) minus holding's, paired 90% interval; beats/LOSES when it clears 0 "
        "(the verdict adds the best baseline's when its interval clears 0)"
        + ("; steadiness: lower is steadier" if steadiness else "")
        + ("; - and n/a: too few days for it" if any(r[5] == "-" or r[-1] == "n/a" for r in rows) else "")
        + ". Each forecaster: --details",
        stream,
    )


def _gain(paired: dict | None) -> list[str]:
    """The model's Sharpe minus buy-and-hold's, and its paired 90% interval."""
    if not paired or paired.get("sharpe_difference") is None:
        return ["-", "-"]
    ci = paired.get("sharpe_ci")
    return [f"{paired['sharpe_difference']:+.2f}", f"{ci[0]:+.2f}..{ci[1]:+.2f}" if ci else "-"]


def _word(paired: dict | None, what: str, sign: int = 1) -> str:
    """beats / LOSES when the paired 90% interval of the difference clears 0, else tie."""
    ci = (paired or {}).get(f"{what}_ci")
    if not ci:
        return "n/a"
    return "beats" if ci[0] * sign > 0 else "LOSES" if ci[1] * sign < 0 else "tie"


def verdict_line(symbol: str, d: dict) -> str:
    """The answer first: the model's policy against buy-and-hold, by Sharpe and by max drawdown (paired 90%
    intervals), and for regime the share of the oracle's gain it captured."""
    paired = d.get("model_vs_buy_and_hold")
    text = (
        f"verdict {symbol}: against buy-and-hold, Sharpe {_word(paired, 'sharpe')} "
        f"({interval(paired, 'sharpe')}), max drawdown {_word(paired, 'max_drawdown')} "
        f"({interval(paired, 'max_drawdown')}, positive: shallower)"
    )
    if d.get("oracle_share") is not None:
        text += f"; {d['oracle_share'] * 100:.0f}% of the oracle's Sharpe gain captured"
    return text
