"""The regime detector's decision in a run: the policy chosen on the selection block (decision_policy.py),
and for the validation days and the unlabelled days after the last fold the next-day returns and the
policy's exposure, so evaluate can score what acting on the calls would have earned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np

    from ..config import TrainingConfig
    from .regime_data import Blocks
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py


def network_probs(model, x: np.ndarray) -> np.ndarray:
    """The network's regime probabilities for encoded inputs (on the network's device)."""
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(x, device=device)), dim=1).cpu().numpy()


def tail_rows(b: Blocks) -> np.ndarray:
    """Days after the window with features but no ex-post label yet, when no later day has one (the last
    fold): a decision needs only the next day's return, so they are scored for decision value."""
    after = np.arange(b.idx[-1] + 1, len(b.target.close))
    if len(after) == 0 or (b.labels[after] >= 0).any():
        return after[:0]
    return after[b.target.ok[after]]


def regime_decision(b: Blocks, config: TrainingConfig, probs_of) -> dict:
    """The shipped policy with the one the selection block picks (decision_policy.py) and, for the validation
    days (and the unlabelled tail after the last fold), the days' next returns, the picked policy's exposure
    (the shipped verdict's is the model's row) and the tail's calls.
    `probs_of(rows)`: the network's probabilities for those rows of the scored asset."""
    from .. import decision_policy as P
    from ..decision import next_day_returns
    from .regime_data import decide

    nxt = next_day_returns(b.target.close)
    sel = b.selection
    sel_probs = probs_of(sel)
    sel_verdict = decide(sel_probs.argmax(axis=1), b.target.rule[sel])
    chosen = P.choose(sel_probs, sel_verdict, b.target.rule[sel], nxt[sel], config.exposure, _cost(config))
    tail = tail_rows(b)
    rows = np.concatenate([b.validation, tail])
    probs = probs_of(rows)
    network, rule = probs.argmax(axis=1), b.target.rule[rows]
    verdict = decide(network, rule)
    exposure = P.exposure(chosen, probs, verdict, rule, config.exposure)
    n = len(b.validation)
    out = {
        # what ships (predict's exposure), and what the selection block would have picked (scored beside it)
        "policy": {**P.SHIPPED, "selection_choice": chosen},
        "policy_label": P.label(chosen),
        "next_return": _nan_none(nxt[b.validation]),
        "exposure_selected_policy": exposure[:n].round(4).tolist(),
    }
    if len(tail):
        out["tail"] = {
            "dates": [str(d.date()) for d in b.target.dates[tail]],
            "rows": tail.tolist(),
            "model": verdict[n:].tolist(),
            "network": network[n:].tolist(),
            "model_probs": np.round(probs[n:], 5).tolist(),
            "rule": rule[n:].tolist(),
            "close": b.target.close[tail].tolist(),
            "next_return": _nan_none(nxt[tail]),
            "exposure_selected_policy": exposure[n:].round(4).tolist(),
        }
    return out


def _cost(config: TrainingConfig) -> float:
    from ..decision import DEFAULT_COST_BPS

    return DEFAULT_COST_BPS if config.cost_bps is None else config.cost_bps


def _nan_none(values: np.ndarray) -> list:
    return [None if np.isnan(v) else float(v) for v in values]


DECIDERS = (
    "model",
    "network",
    "selected_policy",
    "rule",
    "majority",
    "hmm",
    "jump_model",
    "forward_filter_true_params",
)
BASELINES = ("rule", "majority", "hmm", "jump_model")  # the best baseline is the best of these on Sharpe


def add_exposures(pred: dict, config: TrainingConfig, close: np.ndarray, seed: int) -> list[str]:
    """Each detector's exposure per day under the config's exposure map (and the oracle's, from the ex-post
    labels), beside its calls; on the unlabelled tail after the last fold the baselines' calls first (fitted
    as on the validation block). `pred` is one fold's predictions of the scored asset. Returns missing extras."""
    from ..decision import regime_weights
    from .regime_eval import add_baselines

    missing, tail = [], pred.get("tail")
    if tail:
        rows = np.asarray(tail.pop("rows"))
        missing = add_baselines(
            tail, close, pred["window_first"], pred["selection_last"] + 1, rows, seed, False
        )
        tail["majority"] = [pred["majority"][0]] * len(rows)

    for part in (pred, pred.get("tail") or {}):
        for who in DECIDERS:
            if who in part:
                calls = part[who]
                part[f"exposure_{who}"] = (
                    None if calls is None else regime_weights(calls, config.exposure).tolist()
                )
    pred["exposure_oracle"] = regime_weights(pred["actual"], config.exposure).tolist()
    pred["decision_config"] = {"exposure": config.exposure, "cost_bps": _cost(config)}
    return missing


def _series(folds: list[dict], symbol: str, key: str) -> list | None:
    """A key's values over every fold's validation days, then the last fold's tail (NaN where it lacks it)."""
    out: list = []
    preds = [f["predictions"][symbol] for f in folds if symbol in f["predictions"]]
    if any(p.get(key, 0) is None for p in preds) or all(key not in p for p in preds):
        return None
    for p in preds:
        out += p.get(key, [None] * len(p["dates"]))
    for p in preds:
        tail = p.get("tail") or {}
        if tail:
            out += tail.get(key, [None] * len(tail["dates"]))
    return out


def decision_summary(folds: list[dict]) -> dict:
    """Per symbol, the decision figures of every detector, buy-and-hold and the oracle, pooled over the
    folds' days and the unlabelled tail after the last fold (decision.decision_table)."""
    from ..decision import decision_table

    out = {}
    for symbol in dict.fromkeys(s for f in folds for s in f["predictions"]):
        preds = [f["predictions"][symbol] for f in folds if symbol in f["predictions"]]
        if "next_return" not in preds[0]:
            continue  # a fold recorded before the decision layer
        nxt = np.asarray([np.nan if v is None else v for v in _series(folds, symbol, "next_return")], float)
        weights = {}
        for who in DECIDERS:
            values = _series(folds, symbol, f"exposure_{who}")
            if values is not None or any(f"exposure_{who}" in p for p in preds):
                weights[who] = None if values is None else np.asarray(values, dtype=float)
        oracle = np.asarray(
            [np.nan if v is None else v for v in _series(folds, symbol, "exposure_oracle")], float
        )
        cost = preds[0]["decision_config"]["cost_bps"]
        table = decision_table(nxt, weights, baselines=BASELINES, oracle=oracle, cost_bps=cost)
        dates = _series(folds, symbol, "dates")
        known = ~np.isnan(nxt)
        # the tail's days with a known next-day return, as scored: the last candle has none (it counted one more)
        tail_days = sum(v is not None for p in preds for v in (p.get("tail") or {}).get("next_return", []))
        out[symbol] = {
            **table,
            "first": dates[int(np.argmax(known))],
            "last": dates[len(dates) - 1 - int(np.argmax(known[::-1]))],
            "unlabelled_days": tail_days,
            "oracle_note": "the oracle acts on the ex-post labels, known only on the labelled days",
            "policies": [p.get("policy_label") for p in preds],
        }
    return out


def decided_exposure(spec: dict, config: dict, probs, verdict, rule) -> np.ndarray:
    """predict's position per day: the version's shipped policy on its calls (the exposure map on its verdict
    for a version saved before policies)."""
    from .. import decision_policy as P

    policy = spec.get("policy") or P.SHIPPED
    return P.exposure(policy, probs, verdict, rule, config.get("exposure"))
