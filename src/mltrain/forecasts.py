"""Baseline forecasters for honest comparisons (issues 11 and 12): log-HAR, its bias-corrected version and
GJR-GARCH for volatility; a statistical jump model and a forward-filtered Gaussian HMM for regimes.

Every function takes the split explicitly: the fit reads rows [fit_start, fit_end) only, and a forecast for row
t reads rows up to t only, so rows in `predict_idx` must be >= fit_end - 1 (ValueError otherwise). Rows are
positions in a gap-free daily series. Volatility forecasts are log annualized volatility over days t+1..t+h,
the definition of features.future_log_vol on Garman-Klass daily variance (features.daily_variance).

Duplicates, kept so every baseline shares one signature: `har` is pipeline.py's HAR (regression on the mean
log variance) and `garch` is GARCH(1,1)-t on the same signature.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import features as F
from .baselines import MissingExtra, map_states, memoized

JUMP_HALF_LIVES = (8, 21, 63)  # days: about a week and a half, a month and a quarter (Shu, Yu & Mulvey 2024)
JUMP_PENALTY = 50.0  # cost of one switch in squared standardized feature distance (9 features)
MAD_TO_SIGMA = 1.4826  # median absolute deviation to standard deviation of a normal
DOWNSIDE_FLOOR = 1e-4  # daily downside deviation floor: keeps the Sortino ratio finite in a calm rise


def _rows(n: int, fit_start: int, fit_end: int, predict_idx: np.ndarray) -> np.ndarray:
    predict_idx = np.asarray(predict_idx, dtype=int)
    if not 0 <= fit_start < fit_end <= n:
        raise ValueError(
            f"need 0 <= fit_start < fit_end <= {n}, got fit_start={fit_start}, fit_end={fit_end}"
        )
    if len(predict_idx) and (predict_idx.min() < fit_end - 1 or predict_idx.max() >= n):
        raise ValueError(
            f"forecast rows must lie in [{fit_end - 1}, {n - 1}] (on or after the last row the fit reads), "
            f"got {predict_idx.min()}..{predict_idx.max()}"
        )
    return predict_idx


# ---------------------------------------------------------------- volatility: HAR family


def har_design(daily_var: np.ndarray, log_of_mean: bool = True) -> np.ndarray:
    """Columns for the 1/5/22-day HAR windows at each day t (days up to t): log of the mean variance, or the
    mean of the log variance when log_of_mean is False (pipeline.py's HAR)."""
    daily_var = np.asarray(daily_var, float)
    if log_of_mean:
        return np.column_stack([np.log(F.trailing_mean(daily_var, w)) for w in F.HAR_WINDOWS])
    return np.column_stack([F.trailing_mean(np.log(daily_var), w) for w in F.HAR_WINDOWS])


@dataclass(frozen=True)
class HarFit:
    coef: np.ndarray  # intercept, then one slope per HAR window
    correction: float  # 0.5 log mean exp(2e) of the training residuals e: shift from mean log to log mean
    rows: int  # training samples

    def predict(self, design: np.ndarray, corrected: bool) -> np.ndarray:
        out = np.column_stack([np.ones(len(design)), design]) @ self.coef
        return out + self.correction if corrected else out


def fit_har(
    daily_var: np.ndarray,
    fit_end: int,
    fit_start: int = 0,
    horizon: int = F.HORIZON_DAYS,
    log_of_mean: bool = True,
    half_life_days: float | None = None,
    robust_correction: bool = False,
) -> HarFit:
    """Least squares of the target log vol on the HAR design over samples whose target ends before fit_end.
    `half_life_days`: weights halve every that many days back from the last sample (exponentially weighted
    least squares). `robust_correction`: the correction is the lognormal shift sigma^2 with sigma estimated
    as 1.4826 x the residuals' median absolute deviation, instead of 0.5 log mean exp(2e), which a few
    spikes dominate."""
    daily_var = np.asarray(daily_var, float)
    _rows(len(daily_var), fit_start, fit_end, np.array([], dtype=int))
    seen = daily_var[:fit_end]  # nothing at or after fit_end is read
    design = har_design(seen, log_of_mean)
    target = F.future_log_vol(seen, horizon)
    ok = np.isfinite(design).all(axis=1) & np.isfinite(target)
    ok[:fit_start] = False
    if ok.sum() < 2 * (design.shape[1] + 1):
        raise ValueError(
            f"only {int(ok.sum())} training samples with a known target in [{fit_start}, {fit_end})"
        )
    x = np.column_stack([np.ones(ok.sum()), design[ok]])
    root_w = np.ones(ok.sum())
    if half_life_days is not None:
        rows = np.nonzero(ok)[0]
        root_w = np.sqrt(0.5 ** ((rows[-1] - rows) / half_life_days))
    coef, *_ = np.linalg.lstsq(x * root_w[:, None], target[ok] * root_w, rcond=None)
    residuals = target[ok] - x @ coef
    if robust_correction:  # for e ~ N(m, s^2): 0.5 log E exp(2e) = m + s^2; least squares leaves m near 0
        correction = float((MAD_TO_SIGMA * np.median(np.abs(residuals - np.median(residuals)))) ** 2)
    else:
        correction = 0.5 * float(np.log(np.mean(np.exp(2 * residuals))))
    return HarFit(coef, correction, int(ok.sum()))


def _har_forecast(daily_var, fit_end, predict_idx, fit_start, horizon, log_of_mean, corrected) -> np.ndarray:
    daily_var = np.asarray(daily_var, float)
    rows = _rows(len(daily_var), fit_start, fit_end, predict_idx)
    fit = fit_har(daily_var, fit_end, fit_start, horizon, log_of_mean)
    last = rows.max() + 1 if len(rows) else 0
    return fit.predict(har_design(daily_var[:last], log_of_mean)[rows], corrected)


def log_har(
    daily_var: np.ndarray,
    fit_end: int,
    predict_idx: np.ndarray,
    fit_start: int = 0,
    horizon: int = F.HORIZON_DAYS,
) -> np.ndarray:
    """Corsi's HAR in logs on range-based variance: target on log of the 1/5/22-day mean variance."""
    return _har_forecast(daily_var, fit_end, predict_idx, fit_start, horizon, True, False)


def log_har_bc(
    daily_var: np.ndarray,
    fit_end: int,
    predict_idx: np.ndarray,
    fit_start: int = 0,
    horizon: int = F.HORIZON_DAYS,
) -> np.ndarray:
    """log_har plus 0.5 log mean(exp(2e)) of its training residuals e: least squares in logs forecasts the mean
    of the log variance, below the log of the mean variance that QLIKE rewards."""
    return _har_forecast(daily_var, fit_end, predict_idx, fit_start, horizon, True, True)


def har(
    daily_var: np.ndarray,
    fit_end: int,
    predict_idx: np.ndarray,
    fit_start: int = 0,
    horizon: int = F.HORIZON_DAYS,
) -> np.ndarray:
    """pipeline.py's HAR (target on the 1/5/22-day mean of log variance), on the shared signature."""
    return _har_forecast(daily_var, fit_end, predict_idx, fit_start, horizon, False, False)


# ---------------------------------------------------------------- volatility: GARCH family


def _garch(close, fit_end, predict_idx, fit_start, horizon, asymmetric: bool) -> np.ndarray:
    try:
        from arch import arch_model  # noqa: F401  (the extra is checked before the memo can answer)
    except ImportError as exc:
        raise MissingExtra("arch") from exc
    return _garch_fit(close, fit_end, predict_idx, fit_start, horizon, asymmetric)


@memoized
def _garch_fit(close, fit_end, predict_idx, fit_start, horizon, asymmetric: bool) -> np.ndarray:
    from arch import arch_model

    close = np.asarray(close, float)
    rows = _rows(len(close), fit_start, fit_end, predict_idx)
    if not len(rows):
        return np.array([])
    first = max(fit_start, 1)  # row t carries the return from t-1 to t
    returns = 100 * np.diff(np.log(close[first - 1 : rows.max() + 1]))  # position p = row first + p
    model = arch_model(returns, mean="Constant", vol="GARCH", p=1, o=int(asymmetric), q=1, dist="t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # last_obs is exclusive: the parameters see returns of rows before fit_end only
        fitted = model.fit(disp="off", last_obs=fit_end - first, show_warning=False)
        forecast = fitted.forecast(horizon=horizon, start=int(rows.min()) - first, reindex=True)
    daily_var = forecast.variance.to_numpy()[rows - first].mean(axis=1) / 1e4
    return F.log_vol_from_var(daily_var)


def gjr_garch(
    close: np.ndarray,
    fit_end: int,
    predict_idx: np.ndarray,
    fit_start: int = 0,
    horizon: int = F.HORIZON_DAYS,
) -> np.ndarray:
    """GJR-GARCH(1,1) with Student-t errors on daily close-to-close log returns; for each row t the mean of the
    1..horizon-day variance forecasts made with returns up to t. Raises MissingExtra when arch is absent."""
    return _garch(close, fit_end, predict_idx, fit_start, horizon, asymmetric=True)


def garch(
    close: np.ndarray,
    fit_end: int,
    predict_idx: np.ndarray,
    fit_start: int = 0,
    horizon: int = F.HORIZON_DAYS,
) -> np.ndarray:
    """GARCH(1,1) with Student-t errors, on the shared signature (gjr_garch without the asymmetry)."""
    return _garch(close, fit_end, predict_idx, fit_start, horizon, asymmetric=False)


# ---------------------------------------------------------------- regimes: statistical jump model


def jump_features(close: np.ndarray, half_lives: tuple[int, ...] = JUMP_HALF_LIVES) -> np.ndarray:
    """Per day, for each half-life: exponentially weighted log return, log downside deviation and Sortino
    ratio (days up to t only). Row 0 has no return and is NaN."""
    returns = pd.Series(np.diff(np.log(np.asarray(close, float))))
    columns = []
    for hl in half_lives:
        mean = returns.ewm(halflife=hl).mean()
        downside = np.sqrt(returns.clip(upper=0).pow(2).ewm(halflife=hl).mean()).clip(lower=DOWNSIDE_FLOOR)
        columns += [mean, np.log(downside), mean / downside]
    body = np.column_stack([c.to_numpy() for c in columns])
    return np.vstack([np.full((1, body.shape[1]), np.nan), body])


def _viterbi(cost: np.ndarray, penalty: float) -> np.ndarray:
    """State path minimising sum of cost[t, s_t] + penalty * (number of switches). The loop runs on Python
    floats: with a handful of states, numpy's per-call overhead made it four times slower (same float64
    arithmetic, same first-minimum ties)."""
    n, k = cost.shape
    rows = cost.tolist()
    value = rows[0][:]
    states = range(k)
    back: list[list[int]] = [[]] * n
    for t in range(1, n):
        low = min(value)
        best = value.index(low)
        switch = low + penalty
        back[t] = [s if value[s] <= switch else best for s in states]
        value = [(v if v <= switch else switch) + c for v, c in zip(value, rows[t])]
    path = np.empty(n, dtype=int)
    state = value.index(min(value))
    path[-1] = state
    for t in range(n - 1, 0, -1):
        state = back[t][state]
        path[t - 1] = state
    return path


def _online(cost: np.ndarray, penalty: float) -> np.ndarray:
    """At each t the last state of the best path over days up to t: the forward pass of _viterbi alone."""
    rows = cost.tolist()
    value = rows[0][:]
    out = np.empty(len(rows), dtype=int)
    out[0] = value.index(min(value))
    for t in range(1, len(rows)):
        cap = min(value) + penalty
        value = [min(v, cap) + c for v, c in zip(value, rows[t])]
        low = min(value)
        value = [v - low for v in value]  # only differences matter; keeps the numbers small over long series
        out[t] = value.index(min(value))
    return out


def _cost(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


def _fit_centers(x: np.ndarray, k: int, penalty: float, rng: np.random.Generator, n_init: int = 10):
    best = (np.inf, None, None)
    for _ in range(n_init):
        centers = x[[rng.integers(len(x))]]
        while len(centers) < k:  # k-means++ seeding
            dist = _cost(x, centers).min(axis=1)
            centers = np.vstack([centers, x[rng.choice(len(x), p=dist / dist.sum())]])
        path = None
        for _ in range(100):
            new_path = _viterbi(_cost(x, centers), penalty)
            if path is not None and np.array_equal(new_path, path):
                break
            path = new_path
            centers = np.array(
                [x[path == s].mean(axis=0) if np.any(path == s) else centers[s] for s in range(k)]
            )
        cost = _cost(x, centers)[np.arange(len(x)), path].sum() + penalty * np.sum(path[1:] != path[:-1])
        if cost < best[0]:
            best = (cost, centers, path)
    return best[1], best[2]


@dataclass(frozen=True)
class JumpModel:
    """A fitted jump model: feature standardisation and state centres from the fit rows, state -> regime."""

    half_lives: tuple[int, ...]
    penalty: float
    feature_mean: np.ndarray
    feature_std: np.ndarray
    centers: np.ndarray
    regime_of_state: np.ndarray  # index into features.REGIMES

    def online_regimes(self, close: np.ndarray, start: int, rows: np.ndarray) -> np.ndarray:
        """Causal regimes at `rows`, running the online inference from row `start` (row 0 has no return)."""
        start, rows = max(start, 1), np.asarray(rows, dtype=int)
        if not len(rows):
            return np.array([], dtype=int)
        if rows.min() < start:
            raise ValueError(
                f"regime rows must lie on or after the inference start {start}, got {rows.min()}"
            )
        stop = int(rows.max()) + 1
        x = jump_features(np.asarray(close, float)[:stop], self.half_lives)[start:] - self.feature_mean
        states = _online(_cost(x / self.feature_std, self.centers), self.penalty)
        return self.regime_of_state[states[np.asarray(rows) - start]]


def fit_jump_model(
    close: np.ndarray,
    fit_end: int,
    fit_start: int = 0,
    penalty: float = JUMP_PENALTY,
    half_lives: tuple[int, ...] = JUMP_HALF_LIVES,
    seed: int = 0,
) -> JumpModel:
    """Four-state jump model (Nystrup et al. 2020) fitted on rows [fit_start, fit_end); states are mapped to
    regimes by the mean and volatility of the fit days' returns in each state (baselines.map_states)."""
    close = np.asarray(close, float)
    _rows(len(close), fit_start, fit_end, np.array([], dtype=int))
    first = max(fit_start, 1)
    raw = jump_features(close[:fit_end], half_lives)[first:]
    mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-12
    centers, path = _fit_centers((raw - mean) / std, 4, penalty, np.random.default_rng(seed))
    returns = np.diff(np.log(close[first - 1 : fit_end]))
    mu = np.array([returns[path == s].mean() if np.sum(path == s) > 1 else returns.mean() for s in range(4)])
    sigma = np.array([returns[path == s].std() if np.sum(path == s) > 1 else returns.std() for s in range(4)])
    return JumpModel(half_lives, penalty, mean, std, centers, map_states(mu, sigma))


def jump_model_regimes(
    close: np.ndarray,
    fit_end: int,
    predict_idx: np.ndarray,
    fit_start: int = 0,
    penalty: float = JUMP_PENALTY,
    seed: int = 0,
) -> np.ndarray:
    """Regime index per row of predict_idx from a jump model fitted on [fit_start, fit_end), inferred online
    from the first fit row on (each day's regime is the last state of the best path up to that day)."""
    return _jump_model_regimes(close, fit_end, predict_idx, fit_start, penalty, seed)


@memoized
def _jump_model_regimes(close, fit_end, predict_idx, fit_start, penalty, seed) -> np.ndarray:
    rows = _rows(len(close), fit_start, fit_end, predict_idx)
    model = fit_jump_model(close, fit_end, fit_start, penalty, seed=seed)
    return model.online_regimes(close, fit_start, rows)


# ---------------------------------------------------------------- regimes: Gaussian HMM probabilities


def hmm_regime_probs(
    close: np.ndarray, fit_end: int, predict_idx: np.ndarray, fit_start: int = 0, seed: int = 0
) -> np.ndarray:
    """Forward-filtered regime probabilities (columns in features.REGIMES order) from a 4-state Gaussian HMM
    on daily log returns fitted on rows [fit_start, fit_end), scored with forward-filtered probabilities only.
    Raises MissingExtra when hmmlearn is absent."""
    try:
        from hmmlearn.hmm import GaussianHMM  # noqa: F401  (checked before the memo can answer)
    except ImportError as exc:
        raise MissingExtra("hmmlearn") from exc
    return _hmm_regime_probs(close, fit_end, predict_idx, fit_start, seed)


@memoized
def _hmm_regime_probs(close, fit_end, predict_idx, fit_start, seed) -> np.ndarray:
    import logging

    from hmmlearn.hmm import GaussianHMM

    from .data.synth import SwitchingParams, forward_filter

    close = np.asarray(close, float)
    rows = _rows(len(close), fit_start, fit_end, predict_idx)
    first = max(fit_start, 1)
    returns = np.diff(np.log(close[first - 1 : fit_end])).reshape(-1, 1)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # convergence chatter is not an error here
    model = GaussianHMM(n_components=4, covariance_type="diag", n_iter=200, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(returns)
    mu = model.means_.ravel()
    sigma = np.sqrt(np.asarray(model.covars_).reshape(4, -1)[:, 0])
    params = SwitchingParams(drift=tuple(mu), vol=tuple(sigma), transition=tuple(map(tuple, model.transmat_)))
    if not len(rows):
        return np.zeros((0, 4))
    state_probs = forward_filter(close[fit_start : rows.max() + 1], params)[rows - fit_start]
    out = np.empty_like(state_probs)
    out[:, map_states(mu, sigma)] = state_probs  # map_states is a permutation: state s -> its regime's column
    return out
