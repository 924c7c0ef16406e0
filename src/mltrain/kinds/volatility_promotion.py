"""The volatility forecaster's promotion figures: candidate, production and baselines pooled over the
promotion folds (each symbol's validation days concatenated, scored once), QLIKE against the best baseline
with a Diebold-Mariano test, the pooled out-of-sample R² of log volatility (benchmark: each fold's
training-span mean) and the gate on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module
from .volatility_eval import BASELINES

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

NOISE_P = 0.05  # a QLIKE difference is beyond noise when the DM test's two-sided p is below this
HORIZON = 7  # overlapping 7-day targets: the DM test's HAC bandwidth follows it


def _days(folds: list[dict], symbol: str, key: str) -> dict[str, float] | None:
    """One forecaster's pooled values by date (None when any fold lacks it: an optional package)."""
    out: dict[str, float] = {}
    for fold in folds:
        pred = fold["predictions"].get(symbol)
        if pred is None:
            continue
        if pred.get(key) is None:
            return None
        values = pred["train_mean"] if key == "train_mean" else pred[key]
        for i, day in enumerate(pred["dates"]):
            out[day] = float(values if key == "train_mean" else values[i])
    return out


def _scores(actual: np.ndarray, forecast: np.ndarray, benchmark: np.ndarray) -> dict:
    from ..stats import qlike_loss

    sst = float(np.sum((actual - benchmark) ** 2))
    return {
        "r2": round(1 - float(np.sum((actual - forecast) ** 2)) / sst, 4) if sst > 0 else None,
        "qlike": round(float(np.mean(qlike_loss(actual, forecast))), 4),
        "days": int(len(actual)),
    }


def _dm(actual: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """DM of forecaster a against b on QLIKE (stat > 0: a's loss is higher)."""
    from ..stats import diebold_mariano, qlike_loss

    if np.array_equal(a, b):
        return {"stat": 0.0, "p_value": 1.0}
    found = diebold_mariano(qlike_loss(actual, a), qlike_loss(actual, b), horizon=HORIZON)
    stat, p = found["stat"], found["p_value"]
    return {
        "stat": None if stat is None or not np.isfinite(stat) else round(float(stat), 4),
        "p_value": None if p is None or not np.isfinite(p) else round(float(p), 4),
    }


def _worse(dm: dict) -> bool:
    from ..stats import worse_beyond_noise

    return worse_beyond_noise(dm, NOISE_P)


def promotion_figures(candidate: list[dict], production: list[dict] | None, config) -> dict:
    symbols = list(dict.fromkeys(s for f in candidate for s in f["predictions"]))
    cand_out, prod_out, base_out, best_out = {}, {}, {}, {}
    failing, lost_to, worse = {}, {}, []
    for symbol in symbols:
        actual_by = _days(candidate, symbol, "actual") or {}
        days = sorted(actual_by)
        actual = np.array([actual_by[d] for d in days])
        bench_by = _days(candidate, symbol, "train_mean") or {}
        bench = np.array([bench_by[d] for d in days])
        model_by = _days(candidate, symbol, "model") or {}
        model = np.array([model_by[d] for d in days])
        cand_out[symbol] = _scores(actual, model, bench)
        forecasts = {}
        for name in BASELINES:
            found = _days(candidate, symbol, name)
            if found is not None:
                forecasts[name] = np.array([found[d] for d in days])
                base_out.setdefault(name, {})[symbol] = _scores(actual, forecasts[name], bench)
        if forecasts:
            best = min(forecasts, key=lambda n: base_out[n][symbol]["qlike"])
            dm = _dm(actual, model, forecasts[best])
            best_out[symbol] = {"name": best, **base_out[best][symbol], "dm_candidate_vs_it": dm}
            if _worse(dm):
                lost_to[symbol] = {best: base_out[best][symbol]["qlike"]}
        r2 = cand_out[symbol]["r2"]
        if config.min_r2 is not None and (r2 is None or r2 < config.min_r2):
            best_r2 = max(forecasts, key=lambda n: base_out[n][symbol]["r2"] or -1e9) if forecasts else None
            failing[symbol] = {
                "r2": r2,
                "best_baseline": best_r2,
                "best_baseline_r2": None if best_r2 is None else base_out[best_r2][symbol]["r2"],
            }
        if production is not None:
            prod_by = _days(production, symbol, "model") or {}
            common = [i for i, d in enumerate(days) if d in prod_by]
            if common:
                prod = np.array([prod_by[days[i]] for i in common])
                idx = np.array(common)
                dm = _dm(actual[idx], model[idx], prod)
                prod_out[symbol] = {
                    **_scores(actual[idx], prod, bench[idx]),
                    "candidate_on_same_days": _scores(actual[idx], model[idx], bench[idx]),
                    "dm_candidate_vs_production": dm,
                }
                if _worse(dm):
                    worse.append(
                        f"{symbol} QLIKE {prod_out[symbol]['candidate_on_same_days']['qlike']} vs production "
                        f"{prod_out[symbol]['qlike']}, DM p={dm['p_value']}"
                    )
    gate = {
        "passed": not failing,
        "rule": "every symbol's out-of-sample r2 of log vol, pooled over the promotion folds, >= min_r2",
        "threshold": config.min_r2,
        "failing": failing,
        "lost_to": lost_to,
        "basis": "promotion folds",
    }
    reason = "; ".join(
        f"{s} pooled r2 {f['r2']} < min_r2 {config.min_r2} (best baseline by r2: {f['best_baseline']} r2 "
        f"{f['best_baseline_r2']})"
        for s, f in failing.items()
    )
    return {
        "candidate": cand_out,
        "production": prod_out if production is not None else None,
        "baselines": base_out,
        "best_baseline": best_out,
        "gate": gate,
        "gate_reason": reason or None,
        "worse_than_production": "; ".join(worse) or None,
        "undecided": None,
    }


def promotion_lines(evidence: dict) -> list[str]:
    """The evidence as `train` and `models show` print it: one line per symbol."""
    lines = []
    prod = evidence.get("production") or {}
    for symbol, c in (evidence.get("candidate") or {}).items():
        best = (evidence.get("best_baseline") or {}).get(symbol)
        text = f"{symbol}: candidate QLIKE {c['qlike']} r2 {c['r2']} over {c['days']} days"
        if best:
            dm = best["dm_candidate_vs_it"]
            text += (
                f"; best baseline by QLIKE {best['name']} QLIKE {best['qlike']} r2 {best['r2']} "
                f"(DM p={dm['p_value']})"
            )
        if symbol in prod:
            p = prod[symbol]
            text += (
                f"; production QLIKE {p['qlike']} vs candidate {p['candidate_on_same_days']['qlike']} on "
                f"{p['days']} common days (DM p={p['dm_candidate_vs_production']['p_value']})"
            )
        lines.append(text)
    return lines
