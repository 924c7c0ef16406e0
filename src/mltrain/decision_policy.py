"""Regime policies: the designs that turn a detector's probabilities, its verdict and the rule's call into a
daily exposure, and the choice among them on a selection block (never on the days that are scored).

A policy is a plain dict (stored in a version's metadata): {"design": NAME, ...its parameters}. Designs:
- verdict: the exposure map on the shipped verdict (the plain policy);
- network: the exposure map on the network's most likely regime;
- rule: the exposure map on the causal rule's call (the detector adds nothing);
- verdict_or_rule: out (the Bear exposure) when the verdict or the causal rule says Bear (the shipped
  verdict drops the rule's Bear calls; this keeps them);
- expected: the exposure expected under the network's probabilities, sum_k p_k x exposure_k;
- bear_threshold: Bear exposure once P(Bear) reaches `exit`, back in once it falls below `enter`
  (hysteresis), each position held at least `min_hold_days`;
- hold: always in (no signal worth acting on was found on the selection block).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .decision import DEFAULT_EXPOSURE, REGIMES, regime_weights, strategy_returns

BEAR = 0
# What ships: the exposure map on the verdict. The chooser below (a policy picked on each fold's selection
# block) lost to it on the design period (BTC folds before 2024-12-19, docs/regimes.md "Decision policies"):
# about 117 selection days pick among near-equal candidates by noise. It is still run and recorded.
SHIPPED = {"design": "verdict"}


def candidates() -> list[dict]:
    """Every policy the selection block chooses from, simplest first (a tie keeps the earlier one)."""
    out: list[dict] = [
        {"design": "verdict"},
        {"design": "verdict_or_rule"},
        {"design": "network"},
        {"design": "rule"},
    ]
    out.append({"design": "expected"})
    for exit_at in (0.3, 0.5, 0.7):
        for hold in (1, 7):
            out.append(
                {
                    "design": "bear_threshold",
                    "exit": exit_at,
                    "enter": round(exit_at - 0.2, 2),
                    "min_hold_days": hold,
                }
            )
    out.append({"design": "hold"})
    return out


def _hysteresis(p_bear: np.ndarray, exit_at: float, enter: float, min_hold: int) -> np.ndarray:
    out, held, state = np.zeros(len(p_bear), dtype=bool), min_hold, False  # state True: out of the market
    for d, p in enumerate(p_bear):
        if held >= min_hold and ((not state and p >= exit_at) or (state and p < enter)):
            state, held = not state, 0
        out[d] = state
        held += 1
    return out


def exposure(
    policy: Mapping,
    probs: Sequence[Sequence[float]],
    verdict: Sequence[int],
    rule: Sequence[int],
    exposure_map: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The policy's exposure for each day, from the network's probabilities (columns in REGIMES order), the
    shipped verdict and the rule (regime indices); state (hysteresis) starts fresh on the first day."""
    emap = dict(exposure_map or DEFAULT_EXPOSURE)
    probs, verdict, rule = np.asarray(probs, float), np.asarray(verdict, int), np.asarray(rule, int)
    design = policy["design"]
    if design == "verdict":
        return regime_weights(verdict, emap)
    if design == "network":
        return regime_weights(probs.argmax(axis=1), emap)
    if design == "rule":
        return regime_weights(rule, emap)
    if design == "verdict_or_rule":
        return np.where((verdict == BEAR) | (rule == BEAR), emap["Bear"], regime_weights(verdict, emap))
    if design == "expected":
        return probs @ np.asarray([emap[r] for r in REGIMES], float)
    if design == "bear_threshold":
        out = _hysteresis(probs[:, BEAR], policy["exit"], policy["enter"], policy["min_hold_days"])
        in_market = np.maximum(emap["Correction"], emap["Bull"])  # the map's exposure outside Bear
        return np.where(out, emap["Bear"], in_market)
    if design == "hold":
        return np.ones(len(verdict))
    raise ValueError(f"unknown policy design {design!r}")


def choose(
    probs: Sequence[Sequence[float]],
    verdict: Sequence[int],
    rule: Sequence[int],
    next_returns: Sequence[float],
    exposure_map: Mapping[str, float] | None = None,
    cost_bps: float = 10.0,
) -> dict:
    """The candidate with the highest Sharpe (after costs) on these days, which must be a selection block
    before the scored days; returns the policy with its selection Sharpe and every candidate's."""
    ret = np.asarray(next_returns, float)
    known = ~np.isnan(ret)
    tried = []
    for policy in candidates():
        w = exposure(policy, probs, verdict, rule, exposure_map)[known]
        r = strategy_returns(w, ret[known], cost_bps)
        sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
        tried.append((float(np.mean(r) / sd * np.sqrt(365)) if sd > 0 else 0.0, policy))
    best_sharpe, best = tried[0]
    for sharpe, policy in tried[1:]:
        if sharpe > best_sharpe + 1e-9:
            best_sharpe, best = sharpe, policy
    return {
        **best,
        "selection_sharpe": round(best_sharpe, 4),
        "selection_days": int(known.sum()),
        "tried": [{"policy": label(p), "selection_sharpe": round(s, 4)} for s, p in tried],
    }


def label(policy: Mapping) -> str:
    """A short name: verdict, bear_threshold(0.5/0.3, 7d), ..."""
    if policy["design"] == "bear_threshold":
        return f"bear_threshold({policy['exit']}/{policy['enter']}, {policy['min_hold_days']}d)"
    return str(policy["design"])
