"""The regime detector's promotion figures: candidate, production and baselines pooled over the promotion
folds (validation days concatenated, balanced accuracy scored once), the gate against the rule baseline and
the paired block-bootstrap interval of candidate minus production on the days both cover. Days of one regime
only cannot rank detectors: then nothing is decided."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module
from .regime_eval import DETECTORS

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


def _days(folds: list[dict], key: str) -> dict[str, int] | None:
    out: dict[str, int] = {}
    for fold in folds:
        for pred in fold["predictions"].values():
            if pred.get(key) is None:
                return None
            out.update({d: int(v) for d, v in zip(pred["dates"], pred[key])})
    return out


def _ba(true: np.ndarray, pred: np.ndarray) -> float | None:
    from ..stats import balanced_accuracy

    known = true >= 0
    return round(float(balanced_accuracy(true[known], pred[known])), 4) if known.any() else None


# a detector as good as the rule passes (a strict >= would refuse a tie half the time); the same test as
# `models score`'s alert, on the candidate's pooled promotion days
GATE_RULE = (
    "balanced accuracy pooled over the promotion folds not below the rule baseline's beyond noise "
    "(the paired 90% block-bootstrap interval of the difference reaches 0)"
)


def _versus_rule(true: np.ndarray, model: np.ndarray, folds: list[dict], days: list[str]) -> dict | None:
    """The paired interval of the candidate's balanced accuracy minus the rule's on the labelled days."""
    from .. import stats

    found = _days(folds, "rule")
    known = true >= 0
    if not found or not known.any():
        return None
    rule = np.array([found[d] for d in days], dtype=int)
    return _paired(stats.balanced_accuracy_ci(true[known], model[known], versus=rule[known]))


def _paired(ci: dict) -> dict:
    """A paired balanced-accuracy interval (stats.balanced_accuracy_ci with `versus`) as the evidence keeps it."""
    return {
        "difference": round(float(ci["value"]), 4),
        "ci_low": None if ci["low"] is None else round(float(ci["low"]), 4),
        "ci_high": None if ci["high"] is None else round(float(ci["high"]), 4),
        "level": ci["level"],
    }


def interval_text(versus: dict | None) -> str:
    """'[-0.197, -0.069]' for a paired interval; '' when there is none."""
    if not versus or versus.get("ci_high") is None:
        return ""
    return f"[{versus['ci_low']:+.3f}, {versus['ci_high']:+.3f}]"


def _not_worse(versus: dict | None, value: float | None, rule: float) -> bool:
    if versus is None or versus["ci_high"] is None:  # no interval (one labelled day): the point comparison
        return (value or 0.0) >= rule - 1e-9
    return versus["ci_high"] >= 0


def promotion_figures(candidate: list[dict], production: list[dict] | None, config) -> dict:
    from .. import stats
    from ..features import REGIMES

    truth_by = _days(candidate, "actual") or {}
    days = sorted(truth_by)
    true = np.array([truth_by[d] for d in days], dtype=int)
    model_by = _days(candidate, "model") or {}
    model = np.array([model_by[d] for d in days], dtype=int)
    present = [REGIMES[i] for i in sorted(set(true[true >= 0].tolist()))]
    cand = {"balanced_accuracy": _ba(true, model), "days": int((true >= 0).sum()), "regimes": present}
    baselines = {}
    for who in DETECTORS:
        if who in ("model", "network"):
            continue
        found = _days(candidate, who)
        if found is not None and found:
            baselines[who] = {"balanced_accuracy": _ba(true, np.array([found[d] for d in days], dtype=int))}
    rule = (baselines.get("rule") or {}).get("balanced_accuracy")
    undecided = None
    if len(present) < 2:
        undecided = (
            f"every labelled day of the promotion folds is {present[0] if present else 'unlabelled'}: "
            "balanced accuracy is then one regime's recall and cannot rank detectors"
        )
    versus = _versus_rule(true, model, candidate, days)
    passed = rule is None or _not_worse(versus, cand["balanced_accuracy"], rule)
    gate = {
        "passed": passed,
        "rule": GATE_RULE,
        "threshold": rule,
        "value": cand["balanced_accuracy"],
        "candidate_minus_rule": versus,
        "regimes_in_validation": present,
        "note": undecided,
        "basis": "promotion folds",
    }
    reason = None
    if not passed:
        reason = f"balanced accuracy {cand['balanced_accuracy']} < the rule's {rule} over {cand['days']} days"
        if interval_text(versus):
            reason += f", paired 90% interval of the difference {interval_text(versus)}"
    prod_out, worse = None, None
    if production is not None:
        prod_by = _days(production, "model") or {}
        idx = np.array([i for i, d in enumerate(days) if d in prod_by], dtype=int)
        if len(idx):
            prod = np.array([prod_by[days[i]] for i in idx], dtype=int)
            t, m = true[idx], model[idx]
            known = t >= 0
            ci = stats.balanced_accuracy_ci(t[known], m[known], versus=prod[known])
            prod_out = {
                "balanced_accuracy": _ba(t, prod),
                "candidate_on_same_days": _ba(t, m),
                "days": int(known.sum()),
                "candidate_minus_production": _paired(ci),
            }
            if ci["high"] is not None and ci["high"] < 0:
                worse = (
                    f"balanced accuracy {prod_out['candidate_on_same_days']} vs production "
                    f"{prod_out['balanced_accuracy']}, paired 90% interval of the difference "
                    f"[{ci['low']:+.3f}, {ci['high']:+.3f}]"
                )
    return {
        "candidate": cand,
        "production": prod_out,
        "baselines": baselines,
        "gate": gate,
        "gate_reason": reason,
        "worse_than_production": worse,
        "undecided": undecided,
    }


def promotion_classes(store, symbol: str, config):
    """The scored asset's ex-post labels by day (the truth the folds score against, thresholds as the config
    sets them), the four regimes, and the labelled days of each the promotion folds must hold
    (`promotion_regime_days`): folds without a Bear day measure false alarms only, never a detector's hits."""
    import pandas as pd

    from ..features import REGIMES
    from .regime_data import asset, full_labels
    from .regime_labels import scale_labels

    need = config.promotion_regime_days
    if not need:
        return None
    target = asset(store.load(symbol))
    scale_labels(store, config, [target])
    labels = full_labels(target)
    names = pd.Series([REGIMES[v] if v >= 0 else None for v in labels], index=target.dates)
    return names[target.ok], list(REGIMES), int(need)


def promotion_lines(evidence: dict) -> list[str]:
    c = evidence.get("candidate") or {}
    text = (
        f"candidate balanced accuracy {c.get('balanced_accuracy')} over {c.get('days')} days "
        f"({', '.join(c.get('regimes') or [])})"
    )
    rule = (evidence.get("baselines") or {}).get("rule")
    if rule:
        text += f"; rule {rule['balanced_accuracy']}"
        versus = (evidence.get("gate") or {}).get("candidate_minus_rule")
        if interval_text(versus):
            text += f" (difference {versus['difference']:+.3f}, paired 90% {interval_text(versus)})"
    prod = evidence.get("production")
    if prod:
        d = prod["candidate_minus_production"]
        text += (
            f"; production {prod['balanced_accuracy']} vs candidate {prod['candidate_on_same_days']} on "
            f"{prod['days']} common days (difference {d['difference']:+.3f}, paired 90% "
            f"[{d['ci_low']}, {d['ci_high']}])"
        )
    return [text]
