"""Statistical instruments for honest comparisons: per-observation losses, the Diebold-Mariano test, the Model
Confidence Set, and regime-detection scores with a block-bootstrap interval.

Pure functions on numpy arrays; arch is imported inside the one function that needs it (the MCS). Inputs that
describe days are in time order (one value per day); pooled series (folds or symbols concatenated) pass a
`segment` id so that a boundary between two pieces is never read as a regime change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .baselines import MissingExtra

# probabilities are clipped to [PROB_CLIP, 1] before log-loss, so one confident miss stays finite
PROB_CLIP = 1e-12
# regime runs last weeks to months: a month-long block keeps most of the day-to-day dependence
DEFAULT_BLOCK_DAYS = 30


# ---------------------------------------------------------------- volatility losses


def qlike_loss(actual_log_vol: np.ndarray, forecast_log_vol: np.ndarray) -> np.ndarray:
    """QLIKE per observation on variances: v/h - log(v/h) - 1 with v = exp(2*actual), h = exp(2*forecast)."""
    log_ratio = 2 * (np.asarray(actual_log_vol, float) - np.asarray(forecast_log_vol, float))
    return np.exp(log_ratio) - log_ratio - 1


def squared_error(actual_log_vol: np.ndarray, forecast_log_vol: np.ndarray) -> np.ndarray:
    """Squared error of log volatility per observation."""
    return (np.asarray(actual_log_vol, float) - np.asarray(forecast_log_vol, float)) ** 2


# ---------------------------------------------------------------- Student t tail (no scipy needed)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz method)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def student_t_two_sided_p(stat: float, df: float) -> float:
    """P(|T| >= |stat|) for Student's t with df degrees of freedom."""
    return _betainc(df / 2, 0.5, df / (df + stat * stat))


# ---------------------------------------------------------------- Diebold-Mariano


def newey_west_bandwidth(n: int, horizon: int) -> int:
    """Lags of the HAC variance: at least 2 x horizon (overlapping targets keep errors correlated longer than
    the horizon) and at least the Newey-West automatic floor(4 (n/100)^(2/9)); never more than n - 1."""
    automatic = int(np.floor(4 * (n / 100) ** (2 / 9))) if n > 0 else 0
    return max(0, min(max(2 * horizon, automatic), n - 1))


def hac_variance(d: np.ndarray, bandwidth: int) -> float:
    """Long-run variance of d: autocovariances weighted by the Bartlett kernel 1 - k/(bandwidth+1)."""
    centred = d - d.mean()
    n = len(d)
    total = float(centred @ centred) / n
    for k in range(1, bandwidth + 1):
        gamma = float(centred[k:] @ centred[:-k]) / n
        total += 2 * (1 - k / (bandwidth + 1)) * gamma
    return total


def worse_beyond_noise(dm: dict | None, p: float = 0.05) -> bool:
    """A Diebold-Mariano result ({stat, p_value}) says the first loss series is higher beyond noise: stat above
    0 and p below `p`. A p rounded to 0.0 is the strongest evidence, never a missing one (a `p or 1` test once
    read it as 1 and dropped the most certain alert)."""
    if not dm or dm.get("stat") is None or dm.get("p_value") is None:
        return False
    return dm["stat"] > 0 and dm["p_value"] < p


def diebold_mariano(
    loss_a: np.ndarray, loss_b: np.ndarray, horizon: int = 7, bandwidth: int | None = None
) -> dict:
    """Diebold-Mariano test of equal expected loss, two-sided; a negative stat means a has the lower loss.

    d = loss_a - loss_b after dropping pairs with a NaN; variance of mean(d) from a Newey-West (Bartlett) HAC
    estimate with `bandwidth` lags (default: newey_west_bandwidth); Harvey-Leybourne-Newbold small-sample factor
    sqrt((n + 1 - 2h + h(h-1)/n) / n); Student t with n - 1 degrees of freedom.
    Degenerate cases: fewer than 2 pairs gives stat and p_value None; a zero long-run variance gives stat 0
    and p_value 1 when every difference is 0 (identical losses), and stat and p_value None otherwise (a
    constant non-zero difference: no variance to test with).
    """
    a, b = np.asarray(loss_a, float), np.asarray(loss_b, float)
    if a.shape != b.shape:
        raise ValueError(f"loss arrays differ in shape: {a.shape} vs {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = a[keep] - b[keep]
    n = len(d)
    mean_diff = float(d.mean()) if n else None
    lags = newey_west_bandwidth(n, horizon) if bandwidth is None else max(0, min(int(bandwidth), n - 1))
    result = {"stat": None, "p_value": None, "mean_diff": mean_diff, "n": n, "bandwidth": lags}
    if n < 2:
        return result
    variance = hac_variance(d, lags)
    if not variance > 1e-300:
        if np.all(d == 0):
            result.update(stat=0.0, p_value=1.0)
        return result
    h = horizon
    correction = np.sqrt(max(n + 1 - 2 * h + h * (h - 1) / n, 0.0) / n)
    stat = correction * mean_diff / np.sqrt(variance / n)
    p_value = student_t_two_sided_p(stat, n - 1)
    return {**result, "stat": float(stat), "p_value": float(p_value)}


# ---------------------------------------------------------------- Model Confidence Set


def model_confidence_set(
    losses: Mapping[str, np.ndarray], size: float = 0.10, block_size: int = 7, reps: int = 1000, seed: int = 0
) -> dict:
    """Hansen-Lunde-Nason Model Confidence Set (arch.bootstrap.MCS, range statistic "R", stationary bootstrap).

    `losses` maps each forecaster to its per-day losses (same days, in time order); days where any loss is
    NaN are dropped. Returns the names kept at confidence 1 - size (in the input order) and each name's MCS
    p-value. Raises MissingExtra("arch") when arch is not installed.
    """
    try:
        from arch.bootstrap import MCS
    except ImportError as exc:
        raise MissingExtra("arch") from exc
    import pandas as pd

    if len(losses) < 2:
        raise ValueError(f"the MCS needs at least 2 forecasters, got {len(losses)}")
    if block_size < 7:
        raise ValueError(f"block_size must be at least 7 (the target horizon), got {block_size}")
    frame = pd.DataFrame({name: np.asarray(v, float) for name, v in losses.items()}).dropna()
    if len(frame) < 2 * block_size:
        raise ValueError(f"the MCS needs at least {2 * block_size} complete days, got {len(frame)}")
    mcs = MCS(
        frame, size=size, reps=reps, block_size=block_size, method="R", bootstrap="stationary", seed=seed
    )
    mcs.compute()
    pvalues = mcs.pvalues["Pvalue"]
    included = set(mcs.included)
    return {
        "included": [name for name in losses if name in included],
        "pvalues": {name: float(pvalues[name]) for name in losses},
    }


# ---------------------------------------------------------------- regime scores


def _labelled(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in shape: {true.shape} vs {pred.shape}")
    keep = true >= 0  # -1 marks a day without an ex-post label
    return true[keep], pred[keep]


def balanced_accuracy(true: np.ndarray, pred: np.ndarray, n_classes: int = 4) -> float:
    """Mean recall over the classes present in `true` (days labelled -1 are skipped); NaN when none is."""
    true, pred = _labelled(true, pred)
    recalls = [float(np.mean(pred[true == c] == c)) for c in range(n_classes) if np.any(true == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def per_regime_recall(true: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict:
    """Recall per regime name (index into names); None for a regime absent from `true`."""
    true, pred = _labelled(true, pred)
    return {
        name: (float(np.mean(pred[true == c] == c)) if np.any(true == c) else None)
        for c, name in enumerate(names)
    }


def balanced_accuracy_ci(
    true: np.ndarray,
    pred: np.ndarray,
    n_classes: int = 4,
    level: float = 0.90,
    block: int = DEFAULT_BLOCK_DAYS,
    reps: int = 1000,
    seed: int = 0,
    versus: np.ndarray | None = None,
) -> dict:
    """Balanced accuracy with a percentile interval from a circular moving-block bootstrap over days; with
    `versus` (another detector's labels for the same days), of the paired difference BA(pred) - BA(versus),
    both scored on the same resampled days in every replicate.

    Each replicate joins ceil(n / block) blocks of `block` consecutive labelled days (wrapping at the end) and
    is cut to n days, so the persistence of both truth and prediction is kept inside a block. Replicates
    where no class is present are impossible (every day is labelled); classes absent from a replicate are
    left out of its mean, as in the point estimate.
    """
    raw_true = np.asarray(true, int)
    true, pred = _labelled(raw_true, pred)
    value = balanced_accuracy(true, pred, n_classes)
    if versus is not None:
        other = _labelled(raw_true, versus)[1]
        value -= balanced_accuracy(true, other, n_classes)
    n = len(true)
    out = {"value": value, "low": None, "high": None, "level": level, "block": block, "reps": reps, "n": n}
    if n < 2:
        return out
    block = max(1, min(block, n))
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // block)
    # one-hot of truth and of hits per class: a replicate's recall per class is a ratio of sums
    support = np.zeros((n, n_classes))
    support[np.arange(n), true] = 1.0
    hits = support * (pred == true)[:, None]
    other_hits = None if versus is None else support * (other == true)[:, None]
    # the same draws as one replicate at a time; each block's class counts are differences of prefix sums over
    # the series twice over (a block wraps at the end; the last block is cut so a replicate has n days), so
    # the replicates are scored together instead of in a loop of small array operations (sums of 0/1 are exact)
    starts = np.stack([rng.integers(0, n, n_blocks) for _ in range(reps)])
    lengths = np.full(n_blocks, block)
    lengths[-1] = n - (n_blocks - 1) * block

    def counts(per_day: np.ndarray) -> np.ndarray:
        prefix = np.vstack([np.zeros((1, n_classes)), np.cumsum(np.vstack([per_day, per_day]), axis=0)])
        return (prefix[starts + lengths] - prefix[starts]).sum(axis=1)  # (reps, n_classes)

    s = counts(support)
    present = s > 0
    safe, classes = np.where(present, s, 1.0), present.sum(axis=1)

    def mean_recall(hit_counts: np.ndarray) -> np.ndarray:
        """Per replicate, the mean recall over the classes it holds (an absent class adds an exact 0.0)."""
        return np.where(present, hit_counts / safe, 0.0).sum(axis=1) / classes

    stats = mean_recall(counts(hits))
    if other_hits is not None:
        stats -= mean_recall(counts(other_hits))
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return {**out, "low": float(low), "high": float(high)}


def _runs(true: np.ndarray, segment: np.ndarray | None) -> list[tuple[int, int]]:
    """(start, end exclusive) of each observed regime run: a change of true label inside one segment, to a
    labelled regime. Runs already under way at a segment's first day are skipped (their start is unseen)."""
    n = len(true)
    seg = np.zeros(n, dtype=int) if segment is None else np.asarray(segment)
    if len(seg) != n:
        raise ValueError(f"segment has {len(seg)} days, true has {n}")
    runs = []
    for s in range(1, n):
        if true[s] < 0 or true[s] == true[s - 1] or seg[s] != seg[s - 1]:
            continue
        end = s + 1
        while end < n and true[end] == true[s] and seg[end] == seg[s]:
            end += 1
        runs.append((s, end))
    return runs


def detection_lags(
    true: np.ndarray, pred: np.ndarray, max_lag: int | None = None, segment: np.ndarray | None = None
) -> dict:
    """Days from each regime start to the first day inside that true run on which pred names the regime.

    A start is a day where the true label changes to regime r (within one segment). It is detected when
    pred == r on some day of the run (no later than max_lag days after the start, if given), otherwise
    missed. `mean_lag_detected` averages the detected starts only; `mean_lag_miss_as_run` averages all
    starts with a miss counted as the whole run length (the number of days the regime went unnamed).
    """
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in shape: {true.shape} vs {pred.shape}")
    lags, all_lags = [], []
    for start, end in _runs(true, segment):
        hits = np.nonzero(pred[start:end] == true[start])[0]
        if len(hits) and (max_lag is None or hits[0] <= max_lag):
            lags.append(int(hits[0]))
            all_lags.append(int(hits[0]))
        else:
            all_lags.append(end - start)
    return {
        "starts": len(all_lags),
        "detected": len(lags),
        "missed": len(all_lags) - len(lags),
        "mean_lag_detected": float(np.mean(lags)) if lags else None,
        "mean_lag_miss_as_run": float(np.mean(all_lags)) if all_lags else None,
    }


def false_alarms_per_year(
    true: np.ndarray, pred: np.ndarray, days_per_year: int = 365, segment: np.ndarray | None = None
) -> float:
    """Predicted switches into a regime that is not the true one on that day, per year of labelled days.

    A switch is a day whose prediction differs from the previous day's within one segment; unlabelled days
    (true -1) are neither counted nor part of the year count.
    """
    true, pred = np.asarray(true, int), np.asarray(pred, int)
    if true.shape != pred.shape:
        raise ValueError(f"true and pred differ in shape: {true.shape} vs {pred.shape}")
    seg = np.zeros(len(true), dtype=int) if segment is None else np.asarray(segment)
    labelled = int(np.sum(true >= 0))
    if labelled == 0:
        return 0.0
    switch = np.zeros(len(true), dtype=bool)
    switch[1:] = (pred[1:] != pred[:-1]) & (seg[1:] == seg[:-1])
    alarms = int(np.sum(switch & (true >= 0) & (pred != true)))
    return alarms / (labelled / days_per_year)


def _probs(true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, probs = np.asarray(true, int), np.asarray(probs, float)
    if probs.ndim != 2 or len(probs) != len(true):
        raise ValueError(f"probs must have shape (days, classes) = ({len(true)}, k), got {probs.shape}")
    keep = true >= 0
    true, probs = true[keep], np.clip(probs[keep], PROB_CLIP, 1.0)
    if np.any(true >= probs.shape[1]):
        raise ValueError(f"a true label is >= the number of probability columns ({probs.shape[1]})")
    return true, probs / probs.sum(axis=1, keepdims=True)


def log_loss(true: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log probability of the true class (probabilities clipped to [1e-12, 1], renormalised)."""
    true, probs = _probs(true, probs)
    return float(-np.mean(np.log(probs[np.arange(len(true)), true]))) if len(true) else float("nan")


def brier(true: np.ndarray, probs: np.ndarray) -> float:
    """Multiclass Brier score: mean over days of sum over classes (p - onehot)^2, from 0 (perfect) to 2."""
    true, probs = _probs(true, probs)
    if not len(true):
        return float("nan")
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(true)), true] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


# ---------------------------------------------------------------- resampling


def stationary_bootstrap_rows(n: int, mean_block: int, reps: int, seed: int = 0):
    """Politis-Romano stationary bootstrap: per replicate, `n` row indices made of runs of consecutive days
    (wrapping at the end) whose lengths are geometric with mean `mean_block`. Yields one index array per
    replicate; two series indexed by the same rows are resampled as pairs (the same days)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / max(1, mean_block)
    for _ in range(reps):
        starts = rng.random(n) < p  # a new block starts here
        starts[0] = True
        origin = rng.integers(0, n, n)
        block_id = np.cumsum(starts) - 1
        first = np.nonzero(starts)[0]
        offset = np.arange(n) - first[block_id]
        yield (origin[first][block_id] + offset) % n
