"""The `decision` entry of the promotion evidence: what acting on the candidate's pooled fold predictions
would have done. ISOLATED ON PURPOSE (issue 23): one function, `promotion_decision`, that the coordinator can
swap for decision.py's policy figures (issue 22) at merge; nothing else in the promotion check reads it.

Regime: the "out when Bear" policy (hold the asset the next day unless the day's verdict is Bear), 10 bps per
change of position, its annualized Sharpe ratio and maximum drawdown beside buy-and-hold on the same days.
Volatility: the volatility-targeting weight (target / forecast, capped at 1): how steady the weighted
position's realized volatility is (std of its 30-day realized vol) beside buy-and-hold's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .data.store import DataStore

COST = 0.001  # 10 bps per change of position
DAYS_PER_YEAR = 365  # crypto trades every day
STEADY_WINDOW = 30  # days of the rolling realized volatility


def _returns(store: DataStore, symbol: str):
    """Next-day close-to-close simple returns by date (the return earned by a position held after day t)."""
    close = store.load(symbol).frame["close"]
    return (close.shift(-1) / close - 1).dropna()


def _policy(returns, weights) -> dict:
    import numpy as np

    r = np.asarray(returns, float)
    w = np.asarray(weights, float)
    changes = np.abs(np.diff(np.concatenate([[1.0], w])))
    net = w * r - COST * changes
    equity = np.cumprod(1 + net)
    drawdown = float(np.max(1 - equity / np.maximum.accumulate(equity))) if len(equity) else 0.0
    sd = float(np.std(net))
    sharpe = float(np.mean(net) / sd * np.sqrt(DAYS_PER_YEAR)) if sd > 0 else None
    return {
        "sharpe": None if sharpe is None else round(sharpe, 3),
        "max_drawdown": round(drawdown, 4),
        "total_return": round(float(equity[-1] - 1), 4) if len(equity) else 0.0,
        "exposure": round(float(np.mean(w)), 3) if len(w) else None,
    }


def _steadiness(returns, weights) -> float | None:
    import pandas as pd

    realized = (
        (pd.Series(weights, dtype=float) * pd.Series(returns, dtype=float)).rolling(STEADY_WINDOW).std()
    )
    realized = realized.dropna() * (DAYS_PER_YEAR**0.5)
    return round(float(realized.std()), 4) if len(realized) > 1 else None


def promotion_decision(store: DataStore, folds: list[dict]) -> dict:
    """Policy figures from the candidate's pooled fold predictions and the next-day returns (see above)."""
    import numpy as np

    out = {}
    for symbol in dict.fromkeys(s for f in folds for s in f["predictions"]):
        by_day: dict[str, float] = {}
        regime = "train_mean" not in next(
            f["predictions"][symbol] for f in folds if symbol in f["predictions"]
        )
        for fold in folds:
            pred = fold["predictions"].get(symbol)
            if pred is not None:
                by_day.update(zip(pred["dates"], pred["model"]))
        try:
            nxt = _returns(store, symbol)
        except Exception:  # noqa: BLE001 - a figure beside the decision, never a reason to fail it
            continue
        days = [d for d in sorted(by_day) if d in set(nxt.index.strftime("%Y-%m-%d"))]
        if len(days) < 2:
            continue
        r = nxt.loc[[np.datetime64(d) for d in days]].to_numpy()
        hold = np.ones(len(days))
        if regime:  # Bear is regime index 0 (features.REGIMES)
            weights = np.array([0.0 if int(by_day[d]) == 0 else 1.0 for d in days])
            out[symbol] = {
                "policy": "out when Bear, 10 bps per change",
                "days": len(days),
                "strategy": _policy(r, weights),
                "buy_and_hold": _policy(r, hold),
            }
        else:
            vol = np.exp(np.array([by_day[d] for d in days]))
            weights = np.minimum(1.0, float(np.median(vol)) / vol)
            out[symbol] = {
                "policy": "volatility target (median forecast) / forecast, capped at 1",
                "days": len(days),
                "realized_vol_std": {
                    "targeted": _steadiness(r, weights),
                    "buy_and_hold": _steadiness(r, hold),
                },
                "strategy": _policy(r, weights),
                "buy_and_hold": _policy(r, hold),
            }
    return out
