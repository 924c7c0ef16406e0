"""Regime policy designs compared on the same out-of-sample calls (docs/regimes.md, "Decision policies").

Reads one `mltrain evaluate REGIME_MODEL --folds all --json --predictions CSV` run (its JSON on stdout saved to
a file, and the CSV) and prints, per design, the decision figures pooled over the folds (and from --from):
- every fixed candidate of decision_policy.candidates(), applied to every fold (state reset per fold);
- "selection block": each fold's policy, chosen on that fold's selection block inside its training span
  (recorded in the evaluation's folds[].policy.selection_choice);
- "earlier folds": each fold's policy chosen on the out-of-sample days of the earlier folds whose blocks lie
  inside its training window (the verdict for the first fold);
- the rule, buy-and-hold and the oracle for reference.
No choice here looks at the fold it scores.

    python scripts/decision_policies.py RUN.json RUN.csv [--from 2024-01-01] [--until 2025-01-01] [--window-folds 4]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from mltrain import decision as D
from mltrain import decision_policy as P

PROBS = [f"model_probs_{r}" for r in D.REGIMES]


def fold_parts(frame: pd.DataFrame) -> list[pd.DataFrame]:
    return [part for _, part in frame.groupby("fold", sort=True)]


def exposure_of(policy: dict, part: pd.DataFrame) -> np.ndarray:
    return P.exposure(policy, part[PROBS].to_numpy(), part["model"].to_numpy(int), part["rule"].to_numpy(int))


def sharpe(w: np.ndarray, r: np.ndarray) -> float:
    net = D.strategy_returns(w, r, D.DEFAULT_COST_BPS)
    sd = net.std(ddof=1)
    return float(net.mean() / sd * np.sqrt(365)) if sd > 0 else 0.0


def earlier_folds_choice(parts: list[pd.DataFrame], k: int, window: int) -> dict:
    """The candidate with the best Sharpe over folds k-window..k-1 (their out-of-sample days)."""
    if k == 0:
        return {"design": "verdict"}
    past = pd.concat(parts[max(0, k - window) : k])
    past = past[past["next_return"].notna()]
    best, best_sharpe = None, -np.inf
    for policy in P.candidates():
        s = sharpe(exposure_of(policy, past), past["next_return"].to_numpy(float))
        if s > best_sharpe + 1e-9:
            best, best_sharpe = policy, s
    return best


def _stop(close: np.ndarray, peak: np.ndarray, fall: float = 0.2, days: int = 50) -> np.ndarray:
    """Out once the close is `fall` below its 90-day high, back in once it closes above its `days`-day mean."""
    mean = pd.Series(close).rolling(days, min_periods=1).mean().to_numpy()
    out, state = np.zeros(len(close), dtype=bool), False
    for d in range(len(close)):
        if not state and close[d] <= (1 - fall) * peak[d]:
            state = True
        elif state and close[d] > mean[d]:
            state = False
        out[d] = state
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_json")
    parser.add_argument("csv")
    parser.add_argument("--from", dest="first", default=None)
    parser.add_argument("--until", default=None, help="only folds whose block starts before DATE")
    parser.add_argument("--window-folds", type=int, default=4)
    args = parser.parse_args()
    doc = json.load(open(args.run_json))["data"]
    frame = pd.read_csv(args.csv).sort_values(["fold", "date"])
    parts = fold_parts(frame)
    shipped = [f["policy"].get("selection_choice", f["policy"]) for f in doc["folds"]]
    designs: dict[str, list[dict]] = {P.label(p): [p] * len(parts) for p in P.candidates()}
    designs["selection block"] = shipped
    designs["earlier folds"] = [earlier_folds_choice(parts, k, args.window_folds) for k in range(len(parts))]
    keep = [(args.first or "") <= p["date"].iloc[0] < (args.until or "9999") for p in parts]
    chosen = pd.concat([p for p, k in zip(parts, keep) if k])
    mask = chosen["next_return"].notna().to_numpy()
    ret = chosen["next_return"].to_numpy(float)[mask]
    weights = {
        name: np.concatenate([exposure_of(pol, p) for pol, p, k in zip(policies, parts, keep) if k])[mask]
        for name, policies in designs.items()
    }
    weights["rule (exposure map)"] = chosen["exposure_rule"].to_numpy(float)[mask]
    # a price-only drawdown stop beside the verdict (not a detector design: measured here, not shipped)
    close = frame.groupby("date")["close"].first()
    peak = close.rolling(90, min_periods=1).max()
    stop = pd.Series(_stop(close.to_numpy(), peak.to_numpy()), index=close.index)
    out = stop.reindex(chosen["date"]).to_numpy()[mask]
    weights["verdict + drawdown stop"] = np.where(out, 0.0, weights["verdict"])
    labelled = chosen["truth"].notna().to_numpy()[mask]
    oracle = np.where(labelled, chosen["exposure_oracle"].to_numpy(float)[mask], np.nan)
    table = D.decision_table(ret, weights, model="selection block", baselines=[], oracle=oracle)
    bh = table["rows"][D.BUY_AND_HOLD]
    print(
        f"{len(ret)} days {chosen['date'].iloc[0]}..{chosen['date'].iloc[-1]}; buy-and-hold Sharpe "
        f"{bh['sharpe']}, max DD {bh['max_drawdown']}; oracle Sharpe {table['rows']['oracle']['sharpe']} "
        f"on {table['oracle_days']} labelled days"
    )
    print(
        f"{'design':34s} {'Sharpe':>7s} {'maxDD':>7s} {'ann.ret':>8s} {'in mkt':>7s} {'turn/yr':>7s}  "
        "vs buy-and-hold Sharpe [90%]"
    )
    for name in [*designs, "rule (exposure map)", "verdict + drawdown stop"]:
        f = table["rows"][name]
        net = D.strategy_returns(weights[name], ret, D.DEFAULT_COST_BPS)
        paired = D.paired_intervals(net, D.strategy_returns(np.ones(len(ret)), ret, D.DEFAULT_COST_BPS))
        print(
            f"{name:34s} {f['sharpe']:7.3f} {f['max_drawdown']:7.3f} {f['annual_return']:8.3f} "
            f"{f['time_in_market']:7.2f} {f['turnover_per_year']:7.2f}  {paired['sharpe_difference']:+.3f} "
            f"{paired['sharpe_ci']}"
        )
    print("selection-block choices per fold:", [P.label(p) for p in shipped])
    print("earlier-folds choices per fold:  ", [P.label(p) for p in designs["earlier folds"]])


if __name__ == "__main__":
    main()
