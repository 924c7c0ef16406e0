"""What acting on a model would have earned: the position each forecast or regime call decides, its daily
returns after costs, and the figures a holder reads (return, volatility, Sharpe, Sortino, drawdown, Calmar,
turnover, time in market), beside buy-and-hold and the oracle, with paired block-bootstrap intervals.

Timing: the position is decided at day d's close (weights[d]) and earns day d+1's close-to-close return
(next_returns[d]); changing the position costs `cost_bps` basis points per unit of turnover, paid on day d.
Every strategy starts flat, so the first day's position is bought at the same cost for all of them.

Machinery level: numpy and stats only; the kinds hand in plain arrays, this module knows no model type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

REGIMES = ("Bear", "Correction", "Bull", "Expansion")  # features.REGIMES (kept here: machinery level)
DEFAULT_EXPOSURE = {"Bear": 0.0, "Correction": 1.0, "Bull": 1.0, "Expansion": 1.0}
DEFAULT_COST_BPS = 10.0
DEFAULT_MAX_LEVERAGE = 2.0
DAYS_PER_YEAR = 365  # crypto trades every day
BLOCK_DAYS = 20  # mean block length of the stationary bootstrap
STEADY_WINDOW_DAYS = 30  # realized volatility window of the risk-steadiness figure
LEVEL = 0.90
REPS = 1000
BOOTSTRAP_CHUNK = 250  # replicates scored together in paired_intervals
BUY_AND_HOLD, ORACLE = "buy_and_hold", "oracle"


# ---------------------------------------------------------------- positions


def next_day_returns(close: Sequence[float]) -> np.ndarray:
    """close[d+1] / close[d] - 1 for each day; NaN on the last day (not known yet)."""
    close = np.asarray(close, dtype=float)
    out = np.full(len(close), np.nan)
    out[:-1] = close[1:] / close[:-1] - 1
    return out


def regime_weights(labels: Sequence[int], exposure: Mapping[str, float] | None = None) -> np.ndarray:
    """The exposure of each day's regime index (0 Bear .. 3 Expansion) under the exposure map."""
    table = np.asarray([(exposure or DEFAULT_EXPOSURE)[r] for r in REGIMES], dtype=float)
    return table[np.asarray(labels, dtype=int)]


def volatility_weights(
    forecast_vol: Sequence[float], target_vol: float | Sequence[float], max_leverage: float | None = None
) -> np.ndarray:
    """Volatility targeting: min(max_leverage, target / forecast), forecasts and target annualized."""
    forecast = np.asarray(forecast_vol, dtype=float)
    cap = DEFAULT_MAX_LEVERAGE if max_leverage is None else max_leverage
    return np.minimum(cap, np.asarray(target_vol, dtype=float) / np.maximum(forecast, 1e-12))


def strategy_returns(weights: Sequence[float], next_returns: Sequence[float], cost_bps: float) -> np.ndarray:
    """Daily simple returns of holding weights[d] over day d+1, less the cost of reaching it from the
    previous day's weight (the first from flat)."""
    w = np.asarray(weights, dtype=float)
    turnover = np.abs(np.diff(w, prepend=0.0))
    return w * np.asarray(next_returns, dtype=float) - turnover * cost_bps / 1e4


# ---------------------------------------------------------------- figures


def _sharpe(r: np.ndarray) -> float | None:
    """Annualized; 0 for a position flat throughout (cash earns 0 here), None for other spreadless returns. A
    flat strategy once had no Sharpe and dropped out of the best-baseline pick and the oracle's share."""
    sd = float(np.std(r, ddof=1)) if len(r) > 1 else 0.0
    if sd == 0:
        return 0.0 if len(r) > 1 and not np.any(r) else None
    return float(np.mean(r) / sd * np.sqrt(DAYS_PER_YEAR))


def _max_drawdown(r: np.ndarray) -> float:
    equity = np.concatenate([[1.0], np.cumprod(1 + r)])
    return float(np.min(equity / np.maximum.accumulate(equity) - 1))


def _sharpes(r: np.ndarray) -> np.ndarray:
    """_sharpe of each row (0 where a row is flat, nan where it has no spread otherwise)."""
    sd = np.std(r, axis=1, ddof=1)
    flat = ~np.any(r, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            flat, 0.0, np.where(sd == 0, np.nan, np.mean(r, axis=1) / sd * np.sqrt(DAYS_PER_YEAR))
        )


def _max_drawdowns(r: np.ndarray) -> np.ndarray:
    """_max_drawdown of each row."""
    equity = np.hstack([np.ones((len(r), 1)), np.cumprod(1 + r, axis=1)])
    return np.min(equity / np.maximum.accumulate(equity, axis=1) - 1, axis=1)


def equity_curve(r: Sequence[float]) -> np.ndarray:
    """Growth of 1 after each day."""
    return np.cumprod(1 + np.asarray(r, dtype=float))


def drawdown_curve(r: Sequence[float]) -> np.ndarray:
    """Each day's distance below the running peak of the equity curve (0 at a new high, -0.3 for 30% below)."""
    equity = np.concatenate([[1.0], equity_curve(r)])
    return (equity / np.maximum.accumulate(equity) - 1)[1:]


def steadiness(r: Sequence[float], target_vol: float | Sequence[float]) -> float | None:
    """Risk steadiness: mean |30-day realized volatility of the strategy - target| / target (annualized),
    over every full 30-day window; lower is steadier. None below one window."""
    r = np.asarray(r, dtype=float)
    n, k = len(r), STEADY_WINDOW_DAYS
    if n < k:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(r, k)
    realized = windows.std(axis=1, ddof=1) * np.sqrt(DAYS_PER_YEAR)
    target = np.broadcast_to(np.asarray(target_vol, dtype=float), (n,))[k - 1 :]
    return float(np.mean(np.abs(realized - target) / target))


def figures(
    weights: Sequence[float], next_returns: Sequence[float], cost_bps: float = DEFAULT_COST_BPS
) -> dict:
    """The holder's figures of one strategy over its days (all annualized with 365 days a year): return,
    volatility, Sharpe of daily simple returns x sqrt(365), Sortino (downside deviation against 0), max
    drawdown, Calmar (annual return / |max drawdown|), turnover per year, time in market (share of days with a
    position above 0) and mean exposure."""
    w = np.asarray(weights, dtype=float)
    r = strategy_returns(w, next_returns, cost_bps)
    n = len(r)
    total = float(np.prod(1 + r)) if n else 1.0
    annual = total ** (DAYS_PER_YEAR / n) - 1 if n and total > 0 else -1.0
    downside = float(np.sqrt(np.mean(np.minimum(r, 0) ** 2))) if n else 0.0
    mdd = _max_drawdown(r) if n else 0.0
    return {
        "days": n,
        "total_return": _r(total - 1),
        "annual_return": _r(annual),
        "annual_vol": _r(float(np.std(r, ddof=1) * np.sqrt(DAYS_PER_YEAR)) if n > 1 else None),
        "sharpe": _r(_sharpe(r)),
        "sortino": _r(None if downside == 0 else float(np.mean(r) / downside * np.sqrt(DAYS_PER_YEAR))),
        "max_drawdown": _r(mdd),
        "calmar": _r(None if mdd == 0 else annual / abs(mdd)),
        "turnover_per_year": _r(
            float(np.sum(np.abs(np.diff(w, prepend=0.0)))) * DAYS_PER_YEAR / n if n else None
        ),
        "time_in_market": _r(float(np.mean(w > 0)) if n else None),
        "mean_exposure": _r(float(np.mean(w)) if n else None),
    }


def _r(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def paired_intervals(
    returns_a: Sequence[float],
    returns_b: Sequence[float],
    *,
    block: int = BLOCK_DAYS,
    reps: int = REPS,
    seed: int = 0,
) -> dict:
    """A minus B in Sharpe and in max drawdown (positive: A's is shallower), with percentile intervals at
    LEVEL from a paired stationary block bootstrap (both series resampled on the same days)."""
    from .stats import stationary_bootstrap_rows

    a, b = np.asarray(returns_a, dtype=float), np.asarray(returns_b, dtype=float)
    sharpe_a, sharpe_b = _sharpe(a), _sharpe(b)
    out = {
        "sharpe_difference": _r(None if sharpe_a is None or sharpe_b is None else sharpe_a - sharpe_b),
        "max_drawdown_difference": _r(_max_drawdown(a) - _max_drawdown(b)),
        "level": LEVEL,
        "block_days": block,
        "reps": reps,
    }
    if len(a) < 2 * block:
        return {**out, "sharpe_ci": None, "max_drawdown_ci": None}
    # the replicates scored together, a chunk at a time (a loop of small array operations per replicate was
    # most of a promotion check's decision figures; chunks keep memory at a few MB for long histories)
    sharpe, drawdown = [], []
    replicates = stationary_bootstrap_rows(len(a), block, reps, seed)
    while chunk := [rows for _, rows in zip(range(BOOTSTRAP_CHUNK), replicates)]:
        rows = np.stack(chunk)
        sa, sb = _sharpes(a[rows]), _sharpes(b[rows])
        sharpe.extend(sa - sb)  # nan where either has no spread
        drawdown.extend(_max_drawdowns(a[rows]) - _max_drawdowns(b[rows]))
    alpha = (1 - LEVEL) / 2

    def interval(values: list[float]) -> list[float] | None:
        values = np.asarray(values)[~np.isnan(values)]
        return [_r(v) for v in np.quantile(values, [alpha, 1 - alpha])] if len(values) else None

    return {**out, "sharpe_ci": interval(sharpe), "max_drawdown_ci": interval(drawdown)}


# ---------------------------------------------------------------- one table


def decision_table(
    next_returns: Sequence[float],
    weights: Mapping[str, Sequence[float] | None],
    *,
    model: str = "model",
    baselines: Sequence[str] = (),
    cost_bps: float = DEFAULT_COST_BPS,
    oracle: Sequence[float] | None = None,
    target_vol: float | Sequence[float] | None = None,
) -> dict:
    """The decision figures of every strategy over the same days, for evaluate and the promotion gate.

    next_returns: per day, the next day's close-to-close return (days without one are dropped everywhere);
    weights: name -> that strategy's position per day (None: the forecaster is not installed), buy-and-hold
    (1 every day) is added; model: the row the intervals are about; baselines: the rows the best baseline is
    picked from (highest Sharpe); oracle: the oracle's position per day, NaN on days it does not cover;
    target_vol: volatility targeting's target (annualized, one value or one per day) for risk steadiness.

    Returns {"days", "rows": {name: figures or None}, "oracle_days", "model_vs_buy_and_hold",
    "model_vs_best_baseline", "best_baseline", and for an oracle "oracle_share": the share of the oracle's
    Sharpe gain over buy-and-hold that the model captures, all three measured on the oracle's days}.
    """
    ret = np.asarray(next_returns, dtype=float)
    known = ~np.isnan(ret)
    ret = ret[known]
    rows: dict[str, dict | None] = {}
    net: dict[str, np.ndarray] = {}
    for name, w in {**weights, BUY_AND_HOLD: np.ones(len(known))}.items():
        if w is None:
            rows[name] = None
            continue
        w = np.asarray(w, dtype=float)[known]
        rows[name] = figures(w, ret, cost_bps)
        net[name] = strategy_returns(w, ret, cost_bps)
        if target_vol is not None:
            target = np.broadcast_to(np.asarray(target_vol, dtype=float), known.shape)[known]
            rows[name]["risk_steadiness"] = _r(steadiness(net[name], target))
    out = {"days": int(len(ret)), "cost_bps": cost_bps, "rows": rows, "oracle_days": None}
    if oracle is not None:
        full = np.asarray(oracle, dtype=float)[known]
        mask = ~np.isnan(full)
        w_oracle = full[mask]
        rows[ORACLE] = figures(w_oracle, ret[mask], cost_bps)
        out["oracle_days"] = int(mask.sum())
        if model in net:
            model_w = np.asarray(weights[model], dtype=float)[known][mask]
            out["oracle_share"] = _oracle_share(model_w, w_oracle, ret[mask], cost_bps)
    ranked = [b for b in baselines if net.get(b) is not None and rows[b]["sharpe"] is not None]
    best = max(ranked, key=lambda b: rows[b]["sharpe"]) if ranked else None
    out["best_baseline"] = best
    out["model_vs_buy_and_hold"] = paired_intervals(net[model], net[BUY_AND_HOLD]) if model in net else None
    out["model_vs_best_baseline"] = paired_intervals(net[model], net[best]) if model in net and best else None
    return out


def _oracle_share(
    model_w: np.ndarray, oracle_w: np.ndarray, ret: np.ndarray, cost_bps: float
) -> float | None:
    """(Sharpe of the model - buy-and-hold's) / (the oracle's - buy-and-hold's), all on the same days."""
    s = [_sharpe(strategy_returns(w, ret, cost_bps)) for w in (model_w, np.ones(len(ret)), oracle_w)]
    if None in s or s[2] - s[1] <= 0:
        return None
    return _r((s[0] - s[1]) / (s[2] - s[1]))


# ---------------------------------------------------------------- one fold's rows (promotion evidence)


def regime_figures(
    next_returns: Sequence[float],
    calls: Mapping[str, Sequence[int] | None],
    truth: Sequence[int] | None = None,
    exposure: Mapping[str, float] | None = None,
    cost_bps: float | None = None,
) -> dict:
    """Decision figures of a fold's out-of-sample regime calls. next_returns: per day, the next day's
    close-to-close return (NaN where unknown); calls: name -> regime index per day (0 Bear .. 3 Expansion),
    "model" among them, every other name a baseline; truth: ex-post labels (-1 where unknown) for the oracle
    row. Returns decision_table's dict: rows (figures per name, buy_and_hold, oracle), model_vs_buy_and_hold,
    model_vs_best_baseline (Sharpe and max-drawdown differences with 90% paired block-bootstrap intervals),
    best_baseline, oracle_share."""
    weights = {k: None if v is None else regime_weights(v, exposure) for k, v in calls.items()}
    oracle = None
    if truth is not None:
        labels = np.asarray(truth, dtype=int)
        oracle = np.where(labels >= 0, regime_weights(np.maximum(labels, 0), exposure), np.nan)
    return decision_table(
        next_returns,
        weights,
        baselines=[k for k in calls if k != "model"],
        cost_bps=DEFAULT_COST_BPS if cost_bps is None else cost_bps,
        oracle=oracle,
    )


def volatility_figures(
    next_returns: Sequence[float],
    forecasts: Mapping[str, Sequence[float] | None],
    target_vol: float,
    realized: Sequence[float] | None = None,
    max_leverage: float | None = None,
    cost_bps: float | None = None,
) -> dict:
    """Decision figures of a fold's out-of-sample volatility forecasts under volatility targeting.
    forecasts: name -> annualized volatility forecast per day ("model" among them); target_vol: annualized
    target (e.g. the median realized volatility of the training span); realized: the realized volatility the
    forecasts aimed at, for the oracle row. Same dict as regime_figures, each row with risk_steadiness."""
    weights = {
        k: None if v is None else volatility_weights(v, target_vol, max_leverage)
        for k, v in forecasts.items()
    }
    oracle = None if realized is None else volatility_weights(realized, target_vol, max_leverage)
    return decision_table(
        next_returns,
        weights,
        baselines=[k for k in forecasts if k != "model"],
        cost_bps=DEFAULT_COST_BPS if cost_bps is None else cost_bps,
        oracle=oracle,
        target_vol=target_vol,
    )
