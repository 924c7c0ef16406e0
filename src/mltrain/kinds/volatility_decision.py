"""The volatility forecaster's decision: volatility targeting (decision.volatility_weights) driven by each
forecaster's forecast, its target the asset's median realized volatility over the training span unless the
config's `target_vol` sets it, capped at `max_leverage`; scored beside buy-and-hold and the oracle (the
realized volatility of the next days known in advance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np

    from ..config import TrainingConfig
    from .volatility_model import Panel
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

BASELINES = ("persistence", "ewma", "har", "log_har", "log_har_bc", "garch", "gjr_garch")


def add_decision(pred: dict, p: Panel, config: TrainingConfig) -> None:
    """Beside one symbol's validation forecasts (log annualized vol): each day's next-day return, the target
    and every forecaster's weight (and the oracle's, from the realized volatility)."""
    from ..decision import DEFAULT_COST_BPS, next_day_returns, volatility_weights

    val = p.validation
    train_rows = np.concatenate([p.fit, p.selection])
    target = config.target_vol or float(np.median(np.exp(p.target[train_rows])))
    nxt = next_day_returns(p.close)[val]
    pred["next_return"] = [None if np.isnan(v) else float(v) for v in nxt]
    pred["target_vol"] = [round(target, 5)] * len(val)
    for who in ("model", *BASELINES, "actual"):
        values = pred.get(who)
        name = "exposure_oracle" if who == "actual" else f"exposure_{who}"
        weights = None if values is None else volatility_weights(np.exp(values), target, config.max_leverage)
        pred[name] = None if weights is None else np.round(weights, 5).tolist()
    pred["decision_config"] = {
        "cost_bps": DEFAULT_COST_BPS if config.cost_bps is None else config.cost_bps,
        "target_vol": config.target_vol,
        "max_leverage": config.max_leverage,
    }


def decision_summary(folds: list[dict]) -> dict:
    """Per symbol, every forecaster's volatility targeting pooled over the folds' days (decision_table),
    with risk steadiness: mean |30-day realized volatility - target| / target."""
    from ..decision import decision_table

    out = {}
    for symbol in dict.fromkeys(s for f in folds for s in f["predictions"]):
        preds = [f["predictions"][symbol] for f in folds if symbol in f["predictions"]]
        if any("next_return" not in p for p in preds):
            continue

        def joined(key: str, preds: list[dict] = preds):
            if any(p.get(key) is None for p in preds):
                return None
            return np.asarray([np.nan if v is None else v for p in preds for v in p[key]], dtype=float)

        weights = {
            who: joined(f"exposure_{who}") for who in ("model", *BASELINES) if f"exposure_{who}" in preds[0]
        }
        nxt, target = joined("next_return"), joined("target_vol")
        table = decision_table(
            nxt,
            weights,
            baselines=[b for b in BASELINES if b in weights],
            oracle=joined("exposure_oracle"),
            cost_bps=preds[0]["decision_config"]["cost_bps"],
            target_vol=target,
        )
        table.pop("oracle_share", None)  # a regime figure
        if table["rows"].get("oracle"):  # the oracle covers every day here: its steadiness too
            from ..decision import steadiness, strategy_returns

            known = ~np.isnan(nxt)
            net = strategy_returns(joined("exposure_oracle")[known], nxt[known], table["cost_bps"])
            steady = steadiness(net, target[known])  # None below one 30-day window: never a made-up 0
            table["rows"]["oracle"]["risk_steadiness"] = None if steady is None else round(steady, 4)
        dates = [d for p in preds for d in p["dates"]]
        known = ~np.isnan(nxt)
        out[symbol] = {
            **table,
            "first": dates[int(np.argmax(known))],
            "last": dates[len(dates) - 1 - int(np.argmax(known[::-1]))],
            "target_vol": sorted({round(float(t), 4) for t in target}),
            "oracle_note": "the oracle sizes by the realized volatility of the next 7 days, known in advance",
            "steadiest_baseline": _steadiest(table["rows"]),
        }
    return out


def _steadiest(rows: dict) -> str | None:
    ranked = [
        (r["risk_steadiness"], b)
        for b, r in rows.items()
        if b in BASELINES and r and r.get("risk_steadiness") is not None
    ]
    return min(ranked)[1] if ranked else None
