"""Scoring a model's logged predictions once their outcome is known (`mltrain models score`): the
volatility forecaster against the realized volatility of the 7 days after each forecast day and against
persistence and EWMA forecasts made from the same candles; the regime detector against the ex-post labels
confirmed since, beside the causal rule's verdict logged with it. Pure: candles in, figures out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

NOISE_P = 0.05
MIN_SCORED = 10  # fewer scored days: figures are shown, no verdict is drawn from them


def volatility(rows: list[dict], store) -> dict:
    """rows: logged predictions ({symbol, date, forecast_annualized_vol}) of one version."""
    from .. import features as F
    from ..data.validate import fill_short_gaps
    from ..stats import diebold_mariano, qlike_loss, worse_beyond_noise

    out, worse = {}, []
    for symbol in sorted({r["symbol"] for r in rows}):
        if not store.has(symbol):
            continue
        series = store.load(symbol)
        frame, _, _ = fill_short_gaps(series.frame)
        var = F.daily_variance(frame, series.has_ohlc)
        horizon = F.HORIZON_DAYS
        actual_all = F.future_log_vol(var, horizon)
        forecasts = {
            "persistence": F.log_vol_from_var(F.trailing_mean(var, horizon)),
            "ewma": F.log_vol_from_var(F.ewma_variance(var)),
        }
        index = {str(d.date()): i for i, d in enumerate(frame.index)}
        mine = [r for r in rows if r["symbol"] == symbol and r["date"] in index]
        known = [r for r in mine if np.isfinite(actual_all[index[r["date"]]])]
        if not known:
            out[symbol] = {"scored": 0, "pending": len(mine)}
            continue
        pos = np.array([index[r["date"]] for r in known])
        actual = actual_all[pos]
        model = np.log([r["forecast_annualized_vol"] for r in known])
        losses = {"model": qlike_loss(actual, model)}
        losses.update({k: qlike_loss(actual, v[pos]) for k, v in forecasts.items()})
        qlike = {k: round(float(np.mean(v)), 4) for k, v in losses.items()}
        best = min(forecasts, key=lambda k: qlike[k])
        dm, untested = None, None
        if len(known) < MIN_SCORED:
            untested = f"under {MIN_SCORED} scored days"
        elif np.array_equal(losses["model"], losses[best]):
            untested = f"the same losses as {best}"
        else:
            found = diebold_mariano(losses["model"], losses[best], horizon=horizon)
            dm = {"stat": _r(found["stat"]), "p_value": _r(found["p_value"])}
            if worse_beyond_noise(dm, NOISE_P):
                worse.append(
                    f"{symbol} QLIKE {qlike['model']} vs {best} {qlike[best]} (DM p={dm['p_value']})"
                )
        out[symbol] = {
            "scored": len(known),
            "pending": len(mine) - len(known),
            "first": known[0]["date"],
            "last": known[-1]["date"],
            "qlike": qlike,
            "best_baseline": best,
            "dm_model_vs_best": dm,
            **({"dm_untested": untested} if untested else {}),
        }
    return {"symbols": out, "worse_than_baseline": "; ".join(worse) or None}


def regime(rows: list[dict], store) -> dict:
    """rows: logged predictions ({symbol, date, regime, rule_regime}) of one version."""
    from .. import features as F
    from ..data.validate import fill_short_gaps
    from ..stats import balanced_accuracy, balanced_accuracy_ci

    out, worse = {}, []
    names = list(F.REGIMES)
    for symbol in sorted({r["symbol"] for r in rows}):
        if not store.has(symbol):
            continue
        frame, _, _ = fill_short_gaps(store.load(symbol).frame)
        labels = F.regime_labels(frame["close"].to_numpy())
        index = {str(d.date()): i for i, d in enumerate(frame.index)}
        mine = [r for r in rows if r["symbol"] == symbol and r["date"] in index]
        known = [r for r in mine if labels[index[r["date"]]] >= 0]
        if not known:
            out[symbol] = {"scored": 0, "pending": len(mine)}
            continue
        true = np.array([labels[index[r["date"]]] for r in known])
        model = np.array([names.index(r["regime"]) for r in known])
        rule = np.array([names.index(r["rule_regime"]) for r in known])
        figures = {
            "scored": len(known),
            "pending": len(mine) - len(known),
            "first": known[0]["date"],
            "last": known[-1]["date"],
            "balanced_accuracy": {
                "model": _r(balanced_accuracy(true, model)),
                "rule": _r(balanced_accuracy(true, rule)),
            },
            "accuracy": {"model": _r(np.mean(model == true)), "rule": _r(np.mean(rule == true))},
            "regimes": [names[i] for i in sorted(set(true.tolist()))],
        }
        if len(known) >= MIN_SCORED and len(figures["regimes"]) > 1:
            ci = balanced_accuracy_ci(true, model, versus=rule)
            figures["model_minus_rule"] = {
                "difference": _r(ci["value"]),
                "low": _r(ci["low"]),
                "high": _r(ci["high"]),
            }
            if ci["high"] is not None and ci["high"] < 0:
                worse.append(
                    f"{symbol} balanced accuracy {figures['balanced_accuracy']['model']} vs the rule's "
                    f"{figures['balanced_accuracy']['rule']} (paired 90% high {ci['high']:+.3f})"
                )
        out[symbol] = figures
    return {"symbols": out, "worse_than_baseline": "; ".join(worse) or None}


def _r(value, digits: int = 4):
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None
