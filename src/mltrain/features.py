"""Causal features and ex-post targets/labels, each defined in one place.

Features for day t use prices up to and including day t only. Targets (future volatility) and regime
labels (turning points) look ahead by design; train.py makes sure no training target or label sees a
price inside the validation period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ANNUALIZATION_DAYS = 365  # crypto trades every day
HORIZON_DAYS = 7  # the volatility target: the next 7 days
VOL_LOOKBACK_DAYS = 30  # days of per-day features the GRU reads
HAR_WINDOWS = (1, 5, 22)
VAR_FLOOR = 1e-7  # daily variance floor (a 0.03% daily move): keeps log variance finite on flat days
EWMA_LAMBDA = 0.94  # RiskMetrics
VOL_FEATURES = ("log_var_1", "log_var_5", "log_var_22", "return_1", "return_5")

REGIMES = ("Bear", "Correction", "Bull", "Expansion")
REVERSAL = 0.25  # a turning point needs a reversal of at least 25% from the running extreme
BEAR_FALL = 0.40  # a peak-to-trough fall of 40% or more is a Bear, less is a Correction
RECOVERY_GAP = 0.15  # a rise out of a Bear is Expansion while price is >15% below the pre-Bear peak
LABEL_SCALE_DAYS = 365  # volatility-scaled labels: the trailing window of daily returns compared with BTC's
LABEL_SCALE_MIN_DAYS = 90
LABEL_SCALE_RANGE = (1.0, 3.0)  # never tighter than BTC's thresholds; at most 3x BTC's moves in log price
REGIME_FEATURES = (
    "return_5",
    "return_20",
    "return_60",
    "return_120",
    "drawdown",
    "rise_from_trough",
    "log_vol_20",
    "log_vol_60",
    "trend_50",
    "trend_200",
)
REGIME_WARMUP_DAYS = 200


# ---------------------------------------------------------------- daily variance and volatility


def daily_variance(frame: pd.DataFrame, has_ohlc: bool) -> np.ndarray:
    """Garman-Klass daily variance from OHLC, squared close-to-close log return otherwise (floored)."""
    close = frame["close"].to_numpy()
    if has_ohlc:
        hl = np.log(frame["high"].to_numpy() / frame["low"].to_numpy())
        co = np.log(close / frame["open"].to_numpy())
        var = 0.5 * hl**2 - (2 * np.log(2) - 1) * co**2
    else:
        var = np.concatenate([[np.nan], np.diff(np.log(close)) ** 2])
    return np.maximum(var, VAR_FLOOR)


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of values[t-window+1..t] (NaN until the window is full)."""
    return pd.Series(values).rolling(window, min_periods=window).mean().to_numpy()


def log_vol_from_var(daily_var: np.ndarray) -> np.ndarray:
    """Log annualized volatility from a mean daily variance."""
    return 0.5 * np.log(ANNUALIZATION_DAYS * daily_var)


def future_log_vol(daily_var: np.ndarray, horizon: int = HORIZON_DAYS) -> np.ndarray:
    """Target for day t: log annualized vol over days t+1..t+horizon (NaN where not yet known)."""
    forward = pd.Series(daily_var[::-1]).rolling(horizon, min_periods=horizon).mean().to_numpy()[::-1]
    return log_vol_from_var(np.concatenate([forward[1:], [np.nan]]))


def ewma_variance(daily_var: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """RiskMetrics recursion on the daily variance; value at t uses days up to t."""
    out = np.full_like(daily_var, np.nan)
    level = np.nan
    for t, v in enumerate(daily_var):
        if np.isnan(v):
            continue
        level = v if np.isnan(level) else lam * level + (1 - lam) * v
        out[t] = level
    return out


def volatility_features(frame: pd.DataFrame, has_ohlc: bool) -> pd.DataFrame:
    """Per-day causal inputs: log variance averages (HAR windows) and log returns."""
    var = daily_variance(frame, has_ohlc)
    log_close = np.log(frame["close"].to_numpy())
    log_var = np.log(var)
    return pd.DataFrame(
        {
            "log_var_1": log_var,
            "log_var_5": trailing_mean(log_var, 5),
            "log_var_22": trailing_mean(log_var, 22),
            "return_1": np.concatenate([[np.nan], np.diff(log_close)]),
            "return_5": pd.Series(log_close).diff(5).to_numpy(),
        },
        index=frame.index,
    )


# ---------------------------------------------------------------- regimes


@dataclass(frozen=True)
class LabelRule:
    reversal: float = REVERSAL
    bear_fall: float = BEAR_FALL
    recovery_gap: float = RECOVERY_GAP

    def as_dict(self) -> dict:
        return {"reversal": self.reversal, "bear_fall": self.bear_fall, "recovery_gap": self.recovery_gap}


def turning_points(
    close: np.ndarray, reversal: float, scale: np.ndarray | None = None
) -> list[tuple[int, str]]:
    """Confirmed peaks and troughs: an extreme counts once price has reversed `reversal` from it. With
    `scale`, the reversal in log price is scale[i] times as large on day i (known on the day it confirms)."""
    points: list[tuple[int, str]] = []
    hi_i = lo_i = 0
    direction = 0  # +1 rising (looking for a peak), -1 falling (looking for a trough), 0 unknown
    for i in range(1, len(close)):
        down, up = (1 - reversal, 1 + reversal) if scale is None else _scaled(reversal, scale[i])
        if close[i] > close[hi_i]:
            hi_i = i
        if close[i] < close[lo_i]:
            lo_i = i
        if direction >= 0 and close[i] <= close[hi_i] * down:
            if direction == 0 and lo_i < hi_i:
                points.append((lo_i, "trough"))
            points.append((hi_i, "peak"))
            direction, lo_i = -1, i
        elif direction <= 0 and close[i] >= close[lo_i] * up:
            if direction == 0 and hi_i < lo_i:
                points.append((hi_i, "peak"))
            points.append((lo_i, "trough"))
            direction, hi_i = 1, i
    return points


def _label_rise(
    labels: np.ndarray,
    close: np.ndarray,
    days: range,
    recovery_peak: float | None,
    rule: LabelRule,
    scale: np.ndarray | None = None,
) -> float | None:
    """Label a rise: Expansion while price is still far below the pre-Bear peak, Bull from then on.
    Returns the recovery peak still pending (None once price has come back near it)."""
    for t in days:
        below = 1 - rule.recovery_gap if scale is None else _scaled(rule.recovery_gap, scale[t])[0]
        if recovery_peak is not None and close[t] < below * recovery_peak:
            labels[t] = 3
        else:
            labels[t] = 2
            recovery_peak = None
    return recovery_peak


def regime_labels(
    close: np.ndarray, rule: LabelRule = LabelRule(), scale: np.ndarray | None = None
) -> np.ndarray:
    """Ex-post regime index per day (into REGIMES); -1 before the first and after the last turning point.
    `scale` (one factor per day, see label_scale) multiplies every threshold, as a move in log price, by the
    factor known on the day that decides it: a turning point's confirmation, a fall's trough, a day of a rise.
    A scale of 1 on every day gives exactly the fixed thresholds' labels."""
    if scale is not None and np.all(np.asarray(scale) == 1.0):
        scale = None  # exactly the fixed thresholds (BTC scaled by itself)
    labels = np.full(len(close), -1, dtype=int)
    points = turning_points(close, rule.reversal, scale)

    def is_bear(peak: int, trough: int) -> bool:
        if scale is None:
            return close[trough] / close[peak] - 1 <= -rule.bear_fall
        return close[trough] / close[peak] <= _scaled(rule.bear_fall, scale[trough])[0]

    recovery_peak = None  # the peak before the last Bear, while price has not come back near it
    for (a, kind_a), (b, _) in zip(points, points[1:]):
        if kind_a == "peak":
            bear = is_bear(a, b)
            labels[a + 1 : b + 1] = 0 if bear else 1
            if bear and (recovery_peak is None or close[a] > recovery_peak):
                recovery_peak = close[a]
        else:
            recovery_peak = _label_rise(labels, close, range(a + 1, b + 1), recovery_peak, rule, scale)
    if points:  # the unconfirmed tail: label only the days whose label no future price can change
        last, kind = points[-1]
        tail = close[last + 1 :]
        if len(tail):
            if kind == "trough":  # days up to the running maximum are part of the rise whatever comes next
                end = last + 1 + int(np.argmax(tail))
                _label_rise(labels, close, range(last + 1, end + 1), recovery_peak, rule, scale)
            else:  # a fall that is already deep enough is a Bear whatever comes next
                end = last + 1 + int(np.argmin(tail))
                if is_bear(last, end):
                    labels[last + 1 : end + 1] = 0
    return labels


def _scaled(move: float, factor: float) -> tuple[float, float]:
    """Price ratios of a fall and a rise of `move` made `factor` times as large in log price."""
    return (1 - move) ** factor, (1 + move) ** factor


def label_scale(close: pd.Series, reference: pd.Series) -> np.ndarray:
    """Per day of `close`: its trailing volatility relative to the reference asset's (BTC's) over the same
    days, from prices up to that day only; 1 until both have LABEL_SCALE_MIN_DAYS of returns, clipped to
    LABEL_SCALE_RANGE. The reference scaled by itself is exactly 1 on every day."""
    own = np.log(close).diff()
    ref = np.log(reference.reindex(close.index)).diff()
    window = dict(window=LABEL_SCALE_DAYS, min_periods=LABEL_SCALE_MIN_DAYS)
    both = own.notna() & ref.notna()
    ratio = own.where(both).rolling(**window).std() / ref.where(both).rolling(**window).std()
    return ratio.fillna(1.0).clip(*LABEL_SCALE_RANGE).to_numpy()


def regime_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Causal inputs for day t: returns, drawdown from the running peak, volatility and trend."""
    close = frame["close"]
    log_close = np.log(close)
    running_peak = close.cummax()
    # trough since the running peak was set: cumulative minimum restarted at each new peak
    new_peak = close.eq(running_peak)
    trough = close.groupby(new_peak.cumsum()).cummin()
    returns = log_close.diff()
    return pd.DataFrame(
        {
            "return_5": log_close.diff(5),
            "return_20": log_close.diff(20),
            "return_60": log_close.diff(60),
            "return_120": log_close.diff(120),
            "drawdown": close / running_peak - 1,
            "rise_from_trough": np.log(close / trough),
            "log_vol_20": np.log(returns.rolling(20).std() * np.sqrt(ANNUALIZATION_DAYS) + 1e-6),
            "log_vol_60": np.log(returns.rolling(60).std() * np.sqrt(ANNUALIZATION_DAYS) + 1e-6),
            "trend_50": log_close - np.log(close.rolling(50).mean()),
            "trend_200": log_close - np.log(close.rolling(200).mean()),
        },
        index=frame.index,
    )


def rule_detector(features: pd.DataFrame) -> np.ndarray:
    """Causal dashboard rule: drawdown from peak, rise from trough and trend thresholds."""
    dd, rise, trend = features["drawdown"], features["rise_from_trough"], features["trend_50"]
    peak_to_trough = (1 + dd) / np.exp(rise) - 1  # trough since the peak / peak - 1
    out = np.where(
        dd > -0.10,
        2,
        np.where(
            (peak_to_trough <= -BEAR_FALL) & (rise >= np.log(1 + REVERSAL)),
            3,
            np.where(dd <= -BEAR_FALL, 0, np.where(trend < 0, 1, 2)),
        ),
    )
    return out.astype(int)


def regime_stats(labels: np.ndarray) -> dict:
    """Share of labelled days per regime and label changes per year."""
    known = labels[labels >= 0]
    if len(known) == 0:
        return {"labelled_days": 0, "unlabelled_days": int(len(labels)), "share": {}, "changes_per_year": 0.0}
    changes = int((np.diff(known) != 0).sum())
    return {
        "labelled_days": int(len(known)),
        "unlabelled_days": int((labels < 0).sum()),
        "share": {name: round(float((known == i).mean()), 3) for i, name in enumerate(REGIMES)},
        "changes_per_year": round(changes / (len(known) / ANNUALIZATION_DAYS), 2),
    }
