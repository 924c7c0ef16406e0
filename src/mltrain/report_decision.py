"""The report's decision section: the decision table of each symbol and its equity and drawdown curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EXPOSURE = "exposure_"
# (figure, the label a table shows, style): the terminal's --details table and the report's are one table
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


def row_name(name: str, d: dict) -> str:
    """A strategy's row name; the oracle's says so when it covers fewer days than the others (the labelled
    days only): beside buy-and-hold over more days its figures read as a gap that is not there."""
    days = d.get("oracle_days")
    return f"{name} ({days} labelled days)" if name == "oracle" and days and days != d.get("days") else name


def cell(value, style: str) -> str:
    """A figure as the decision table shows it: a share as a percentage, others with two decimals."""
    if value is None:
        return "-"
    return f"{value * 100:.1f}%" if style == "pct" else f"{value:.2f}"


def interval(paired: dict | None, what: str) -> str:
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
        f"model minus buy-and-hold: Sharpe {interval(d.get('model_vs_buy_and_hold'), 'sharpe')}, "
        f"max drawdown {interval(d.get('model_vs_buy_and_hold'), 'max_drawdown')} (positive: shallower)"
    ]
    if d.get("best_baseline"):
        paired = d.get("model_vs_best_baseline")
        lines.append(
            f"model minus the best baseline ({d['best_baseline']}): Sharpe {interval(paired, 'sharpe')}, "
            f"max drawdown {interval(paired, 'max_drawdown')}"
        )
    if d.get("oracle_note"):
        text = f"oracle: {d['oracle_note']} ({d['oracle_days']} days)"
        if "oracle_share" in d:
            share = d["oracle_share"]
            text += (
                "; the oracle gains nothing over buy-and-hold on those days (no share to capture)"
                if share is None
                else f"; the model captures {share * 100:.0f}% of the oracle's Sharpe gain over buy-and-hold"
                " on those days"
            )
        lines.append(text)
    if d.get("steadiest_baseline"):
        rows, best = d["rows"], d["steadiest_baseline"]
        lines.append(
            f"risk steadiness (mean |30-day vol - target| / target, lower is steadier): model "
            f"{cell(rows['model'].get('risk_steadiness'), 'num')} vs the steadiest baseline ({best}) "
            f"{cell(rows[best].get('risk_steadiness'), 'num')}; target {_targets(d.get('target_vol') or [])}"
        )
    if d.get("unlabelled_days"):
        lines.append(
            f"{d['unlabelled_days']} days after the last labelled day are scored here (their next-day return "
            "is known) and in no statistical score below"
        )
    if d.get("policies"):
        lines.append(
            "selected_policy: the policy each fold's selection block picks (not shipped; the model row is the "
            "shipped exposure map on the verdict): " + ", ".join(map(str, d["policies"]))
        )
    return lines


def daily_series(folds: list[dict], symbol: str) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Dates, next-day returns and each strategy's exposure of one symbol: every fold's validation days, then
    any unlabelled tail after the last fold (the days the decision table scores)."""
    preds = [f["predictions"][symbol] for f in folds if symbol in f.get("predictions", {})]
    parts = [*preds, *[p["tail"] for p in preds if p.get("tail")]]
    names = [k for k in parts[0] if k.startswith(EXPOSURE) and k != EXPOSURE + "oracle"]
    dates: list[str] = []
    returns: list[float] = []
    weights: dict[str, list] = {n[len(EXPOSURE) :]: [] for n in names}
    for part in parts:
        n = len(part["dates"])
        dates += part["dates"]
        returns += [np.nan if v is None else v for v in part["next_return"]]
        for name in names:
            values = part.get(name)
            weights[name[len(EXPOSURE) :]] += [np.nan] * n if values is None else values
    return dates, np.asarray(returns, float), {k: np.asarray(v, float) for k, v in weights.items()}


def decision_parts(result: dict, out: Path, plt) -> list[str]:
    """Markdown: per symbol the decision table and (with matplotlib) equity and drawdown of the model, the
    best baseline and buy-and-hold."""
    from . import decision as D
    from .figures import md_table, save_figure

    parts = []
    for symbol, d in (result.get("decision") or {}).items():
        parts.append(
            f"## Decision value: {symbol}, {d['days']} days {d['first']}..{d['last']}, {d['cost_bps']:g} bps\n"
        )
        shown = [c for c in COLUMNS if any((r or {}).get(c[0]) is not None for r in d["rows"].values())]
        rows = [
            [row_name(name, d), *(cell(r.get(key), style) for key, _, style in shown)]
            if r
            else [name, "not installed", *["-"] * (len(shown) - 1)]
            for name, r in d["rows"].items()
        ]
        parts.append(md_table(["strategy", *(label for _, label, _ in shown)], rows))
        parts += [f"- {line}\n" for line in decision_lines(d)]
        if plt is None or not result.get("folds") or "predictions" not in result["folds"][0]:
            continue
        dates, ret, weights = daily_series(result["folds"], symbol)
        known = ~np.isnan(ret)
        x = np.asarray(dates, dtype="datetime64[D]")[known]
        shown = [n for n in ("model", d.get("best_baseline")) if n and n in weights]
        fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        for name in [*shown, D.BUY_AND_HOLD]:
            w = np.ones(known.sum()) if name == D.BUY_AND_HOLD else weights[name][known]
            if np.isnan(w).any():
                continue
            r = D.strategy_returns(w, ret[known], d["cost_bps"])
            axes[0].plot(x, D.equity_curve(r), lw=1, label=name)
            axes[1].plot(x, D.drawdown_curve(r) * 100, lw=1, label=name)
        axes[0].set_title(f"{symbol}: growth of 1 after costs (position at day d's close, d+1's return)")
        axes[1].set_title("drawdown from the running peak (%)")
        axes[0].legend(fontsize=8)
        name = f"decision_{symbol}.png"
        save_figure(fig, out / name, plt)
        parts.append(f"![equity and drawdown]({name})\n")
    return parts


def _targets(values: list[float]) -> str:
    """The volatility targets of the folds: one value, or their range (each fold's training span sets one)."""
    if len(values) <= 2:
        return ", ".join(f"{t * 100:.0f}%" for t in values)
    return f"{min(values) * 100:.0f}%..{max(values) * 100:.0f}% (one per fold: its training span's median)"
