"""The volatility forecaster's scores: baselines on a validation block, pooled walk-forward figures with
Diebold-Mariano tests and the Model Confidence Set, the fold table and the report parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np

    from .volatility_model import Panel
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

SCORES = ("r2", "qlike", "mae")
BASELINES = ("persistence", "ewma", "har", "log_har", "log_har_bc", "garch", "gjr_garch")
LOG_HAR_VARIANTS = ("log_har", "log_har_bc")
MCS_SIZE = 0.10  # the 90% Model Confidence Set


@dataclass
class Forecasts:
    """Every forecaster's scores on one symbol's validation block, and the predictions behind them."""

    scores: dict[str, dict] = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def baseline_forecasts(p: Panel) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each baseline's forecast for the validation rows, fitted on the fit and selection rows only."""
    from .. import features as F
    from .. import forecasts
    from ..baselines import MissingExtra

    val, horizon = p.validation, F.HORIZON_DAYS
    fit_start, har_end = int(p.fit[0]), int(p.selection[-1]) + horizon + 1  # targets end before validation
    out = {
        "persistence": F.log_vol_from_var(F.trailing_mean(p.daily_var, horizon))[val],
        "ewma": F.log_vol_from_var(F.ewma_variance(p.daily_var))[val],
        "har": forecasts.har(p.daily_var, har_end, val, fit_start=fit_start),
        "log_har": p.har_full.predict(forecasts.har_design(p.daily_var[: val[-1] + 1])[val], corrected=False),
        "log_har_bc": p.har_full.predict(
            forecasts.har_design(p.daily_var[: val[-1] + 1])[val], corrected=True
        ),
    }
    missing = []
    for name, fn in (("garch", forecasts.garch), ("gjr_garch", forecasts.gjr_garch)):
        try:  # returns up to the last selection day; forecasts for day t read returns up to t
            out[name] = fn(p.close, int(p.selection[-1]) + 1, val, fit_start=fit_start)
        except MissingExtra:
            missing.append(name)
    return out, missing


def validation_forecasts(p: Panel, model_forecast: np.ndarray) -> Forecasts:
    """The model beside every baseline on the validation block, scored once."""
    from .. import metrics

    actual = p.target[p.validation]
    train_rows = np.concatenate([p.fit, p.selection])
    train_mean = float(np.mean(p.target[train_rows]))  # the out-of-sample R²'s benchmark
    baselines, missing = baseline_forecasts(p)
    found = Forecasts(missing=missing)
    for name, forecast in {"model": model_forecast, **baselines}.items():
        found.scores[name] = metrics.volatility_scores(actual, forecast, train_mean)
    found.predictions = {
        "dates": [str(d.date()) for d in p.dates[p.validation]],
        "train_mean": train_mean,
        "actual": actual.tolist(),
        "model": np.asarray(model_forecast).tolist(),
        **{k: v.tolist() for k, v in baselines.items()},
        **{k: None for k in missing},
    }
    return found


# ---------------------------------------------------------------- pooled walk-forward figures


def _concat(folds: list[dict], symbol: str, key: str) -> np.ndarray | None:
    parts = []
    for fold in folds:
        pred = fold["predictions"].get(symbol)
        if pred is None:
            continue
        if pred.get(key) is None:
            return None  # missing in any fold (an optional package): missing in the pool
        parts.append(np.asarray(pred[key], dtype=float))
    return np.concatenate(parts) if parts else None


def _pooled_scores(actual: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray) -> dict:
    from ..stats import qlike_loss

    sse = float(np.sum((actual - forecast) ** 2))
    sst = float(np.sum((actual - benchmark) ** 2))
    return {
        "r2": round(1 - sse / sst, 4) if sst > 0 else None,
        "qlike": round(float(np.mean(qlike_loss(actual, forecast))), 4),
        "mae": round(float(np.mean(np.abs(np.exp(actual) - np.exp(forecast)))), 4),
    }


def _r(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def pooled_summary(folds: list[dict], horizon: int = 7) -> dict:
    """Per symbol: every forecaster scored on all folds' validation days at once; DM of the model against
    each baseline on QLIKE and on squared error of log vol (HAC, bandwidth >= 2 x horizon, Harvey
    correction); the 90% MCS over all forecasters on QLIKE; the ratio to the best log-HAR variant."""
    from ..stats import diebold_mariano, qlike_loss, squared_error

    out = {}
    for symbol in dict.fromkeys(s for f in folds for s in f["predictions"]):
        actual = _concat(folds, symbol, "actual")
        benchmark = np.concatenate(
            [
                np.full(len(f["predictions"][symbol]["actual"]), f["predictions"][symbol]["train_mean"])
                for f in folds
                if symbol in f["predictions"]
            ]
        )
        present = {}
        for who in ("model", *BASELINES):
            found = _concat(folds, symbol, who)
            if found is not None:
                present[who] = found
        scores = {who: _pooled_scores(actual, f, benchmark) for who, f in present.items()}
        losses = {who: qlike_loss(actual, f) for who, f in present.items()}  # per day, once: DM, MCS, ratio
        model_se = squared_error(actual, present["model"])
        dm = {}
        for who, f in present.items():
            if who == "model":
                continue
            on_q = diebold_mariano(losses["model"], losses[who], horizon=horizon)
            on_se = diebold_mariano(model_se, squared_error(actual, f), horizon=horizon)
            dm[who] = {
                "stat": _r(on_q["stat"]),
                "p_value": _r(on_q["p_value"]),
                "loss": "qlike",
                "bandwidth": on_q["bandwidth"],
                "squared_error": {"stat": _r(on_se["stat"]), "p_value": _r(on_se["p_value"])},
            }
        mcs = confidence_set(losses, horizon)
        variants = [v for v in LOG_HAR_VARIANTS if v in scores]
        mean_q = {w: float(np.mean(q)) for w, q in losses.items()}
        best = min(variants, key=lambda v: mean_q[v]) if variants else None  # unrounded: no tie by rounding
        wins, count = 0, 0
        for fold in folds:
            pred = fold["predictions"].get(symbol)
            if pred is None:
                continue
            count += 1
            a = np.asarray(pred["actual"])
            q = {w: float(np.mean(qlike_loss(a, np.asarray(pred[w])))) for w in present}
            wins += q["model"] < min(v for w, v in q.items() if w != "model")
        dates = [d for f in folds if symbol in f["predictions"] for d in f["predictions"][symbol]["dates"]]
        out[symbol] = {
            "days": int(len(actual)),
            "first": dates[0],
            "last": dates[-1],
            "folds": count,
            "scores": scores,
            "best_log_har": best,
            "ratio_to_best_log_har": round(mean_q["model"] / mean_q[best], 4) if best else None,
            "dm": dm,
            "mcs": mcs,
            "folds_beating_every_baseline_on_qlike": wins,
        }
    return out


def confidence_set(losses: dict[str, np.ndarray], horizon: int) -> dict | None:
    """The 90% MCS; forecasters with identical losses (a model that forecasts exactly as a baseline does)
    enter once and share the verdict. None without arch or with too few days."""
    from ..baselines import MissingExtra
    from ..stats import model_confidence_set

    twins: dict[str, str] = {}
    unique: dict[str, np.ndarray] = {}
    for name, loss in losses.items():
        same = next((u for u, kept in unique.items() if np.array_equal(kept, loss)), None)
        if same is None:
            unique[name] = loss
        else:
            twins[name] = same
    if len(unique) < 2:
        return None
    try:
        found = model_confidence_set(unique, size=MCS_SIZE, block_size=max(7, horizon))
    except (MissingExtra, ValueError):  # arch absent, or too few days for the bootstrap
        return None
    pvalues = {**found["pvalues"], **{t: found["pvalues"][u] for t, u in twins.items()}}
    included = set(found["included"]) | {t for t, u in twins.items() if u in found["included"]}
    return {
        "included": [n for n in losses if n in included],
        "pvalues": {k: _r(v) for k, v in pvalues.items()},
        "level": 1 - MCS_SIZE,
        "loss": "qlike",
        "identical": twins,
    }


def verdict_lines(summary: dict) -> list[str]:
    """One plain sentence per symbol: the model against the best log-HAR variant, with its evidence."""
    lines = []
    for symbol, s in summary.items():
        best = s["best_log_har"]
        if best is None:
            continue
        model_q, best_q = s["scores"]["model"]["qlike"], s["scores"][best]["qlike"]
        dm = s["dm"].get(best, {})
        mcs = s["mcs"]
        member = (
            "n/a (arch not installed)" if mcs is None else ("in" if "model" in mcs["included"] else "out")
        )
        ratio, p = s["ratio_to_best_log_har"], dm.get("p_value")
        # the headline's words: beats / LOSES TO only when the DM test tells the two apart, else a tie (a
        # lower QLIKE that the test cannot tell from chance is no win; "LOSES TO (not significant)" read as a loss)
        few, side = too_few_targets(s["days"]), "lower" if ratio < 1 else "higher"
        word = _verdict_word(ratio, None if few else p)
        untested = "is not tested (too few days for the DM test) against" if few else "is not tested against"
        verb = {"beats": "beats", "LOSES": "LOSES TO", "n/a": untested}.get(word)
        verb = verb or ("ties" if ratio == 1 else f"ties (QLIKE {side}, not significant)")
        lines.append(
            f"{symbol}: model QLIKE {model_q:.4f} {verb} the best log-HAR variant, {best} {best_q:.4f} (ratio "
            f"{ratio:.3f}, DM p={_fmt_p(p)}); 90% MCS: model {member}; "
            f"{s['days']} days, {s['folds']} folds, {s['first']}..{s['last']}"
        )
    return lines


def _fmt_p(p) -> str:
    return "n/a" if p is None else f"{p:.3f}"


def report_parts(result: dict, out, plt) -> list[str]:
    """Per symbol: a figure of forecasts against realized volatility and the pooled table with DM and MCS."""
    from ..figures import md_table, save_figure, series

    folds, parts = result["folds"], ["## Pooled over all folds (predictions concatenated, scored once)\n"]
    parts += [f"- {line}\n" for line in verdict_lines(result["summary"])]
    for symbol, s in result["summary"].items():
        if plt is not None:
            fig, ax = plt.subplots(figsize=(11, 4))
            dates, actual = series(folds, symbol, "actual")
            x = np.asarray(dates, dtype="datetime64[D]")
            ax.plot(x, np.exp(actual), color="black", lw=1.4, label="realized (next 7 days)")
            for key, style in (("model", "-"), ("log_har_bc", "--"), ("log_har", ":")):
                d, v = series(folds, symbol, key)
                if len(v):
                    ax.plot(np.asarray(d, dtype="datetime64[D]"), np.exp(v), style, lw=1, label=key)
            ax.set_ylabel("annualized volatility")
            ax.set_title(f"{symbol}: forecast vs realized volatility, walk-forward validation blocks")
            ax.legend(ncol=4, fontsize=8)
            save_figure(fig, out / f"volatility_{symbol}.png", plt)
            parts.append(f"\n![{symbol} forecast vs realized](volatility_{symbol}.png)\n")
        mcs = s["mcs"] or {"included": [], "pvalues": {}}
        rows = []
        for who, scores in s["scores"].items():
            dm = s["dm"].get(who, {})
            rows.append(
                [
                    who,
                    scores["qlike"],
                    scores["r2"],
                    scores["mae"],
                    dm.get("stat", "") if who != "model" else "",
                    dm.get("p_value", "") if who != "model" else "",
                    (dm.get("squared_error") or {}).get("p_value", "") if who != "model" else "",
                    "yes" if who in mcs["included"] else ("no" if s["mcs"] else "n/a"),
                ]
            )
        parts.append(
            f"\n### {symbol}: {s['days']} validation days in {s['folds']} folds, {s['first']}..{s['last']}\n"
        )
        parts.append(
            md_table(
                [
                    "forecaster",
                    "QLIKE",
                    "r2 (log vol)",
                    "MAE",
                    "DM stat (model vs it, QLIKE)",
                    "DM p (QLIKE)",
                    "DM p (sq. error of log vol)",
                    "in 90% MCS",
                ],
                rows,
            )
        )
    return parts


P_SIGNIFICANT = 0.05  # a difference the DM test cannot tell from chance at this level is a tie
MIN_TARGETS = 10  # independent 7-day targets a DM verdict needs: 18 days (about 2) gave "p 0.02, LOSES"


def too_few_targets(days: int, horizon: int = 7) -> bool:
    """Whether pooled days hold too few non-overlapping targets for a DM test to mean anything."""
    return days < MIN_TARGETS * horizon


def headline_table(summary: dict) -> tuple[list[str], list[list], list[str]]:
    """One row per symbol: the model's pooled QLIKE against the best baseline's (lowest QLIKE of all of
    them), their ratio, the DM p-value of that pair and a one-word verdict; then the notes that read it."""
    rows, outside = [], []
    for symbol, s in summary.items():
        scores = s["scores"]
        others = [b for b in scores if b != "model" and isinstance(scores[b], dict)]
        if not others:
            continue
        best = min(others, key=lambda b: scores[b]["qlike"])
        model_q, best_q = scores["model"]["qlike"], scores[best]["qlike"]
        ratio = round(model_q / best_q, 3) if best_q else None
        p = (s["dm"].get(best) or {}).get("p_value")
        word = "n/a" if too_few_targets(s["days"]) else _verdict_word(ratio, p)
        rows.append([symbol, model_q, best, best_q, ratio, p, word])
        if s.get("mcs") and "model" not in s["mcs"]["included"]:
            outside.append(symbol)
    notes = [
        "QLIKE: lower is better; baseline: the best of them; ratio = model / it (below 1: model better); "
        f"DM p: Diebold-Mariano test of that pair; beats/LOSES need p < {P_SIGNIFICANT}, else tie."
    ]
    if outside:
        notes.append(f"outside the 90% model confidence set (a baseline is better): {', '.join(outside)}")
    few = [f"{sym} {s['days']}" for sym, s in summary.items() if too_few_targets(s["days"])]
    if few:
        notes.append(
            f"too few days for the DM test (under {MIN_TARGETS} independent 7-day targets): {', '.join(few)} days; "
            "verdict n/a, its p-value is no evidence (use more --folds)"
        )
    return ["symbol", "model QLIKE", "baseline", "its QLIKE", "ratio", "DM p", "verdict"], rows, notes


def _verdict_word(ratio, p) -> str:
    if ratio is None or p is None:
        return "n/a"
    if p < P_SIGNIFICANT:
        return "beats" if ratio < 1 else "LOSES" if ratio > 1 else "tie"
    return "tie" if ratio <= 1 else "tie, worse"
