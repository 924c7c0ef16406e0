"""Optional strong baselines: GARCH(1,1) with Student-t errors (arch) and a Gaussian HMM (hmmlearn).

Both come with `pip install mltrain[baselines]`. When a package is missing the functions raise
MissingExtra, and callers report "not installed" instead of a number.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from . import features as F
from .data.synth import SwitchingParams, forward_filter

NOT_INSTALLED = "not installed (pip install 'mltrain[baselines]')"


class MissingExtra(Exception):
    """An optional package is not installed."""


def _import(name: str):
    try:
        return __import__(name)
    except ImportError as exc:
        raise MissingExtra(name) from exc


def garch_log_vol(
    close: pd.Series, train_first: pd.Timestamp, val_dates: pd.DatetimeIndex, horizon: int = F.HORIZON_DAYS
) -> np.ndarray:
    """GARCH(1,1)-t fitted on daily log returns of the training part; for each validation day t, the mean of
    the 1..horizon-day variance forecasts made with data up to t, as log annualized volatility."""
    _import("arch")
    from arch import arch_model

    returns = 100 * np.log(close).diff().dropna()
    returns = returns.loc[train_first : val_dates[-1]]
    model = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, dist="t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # last_obs is exclusive: parameters see returns strictly before the first validation day
        fitted = model.fit(disp="off", last_obs=val_dates[0], show_warning=False)
        forecast = fitted.forecast(horizon=horizon, start=val_dates[0], reindex=False)
    daily_var = forecast.variance.loc[val_dates].mean(axis=1).to_numpy() / 1e4
    return F.log_vol_from_var(daily_var)


def hmm_regimes(close: np.ndarray, train: slice, val_positions: np.ndarray, seed: int) -> np.ndarray:
    """A 4-state Gaussian HMM on daily log returns, fitted on the training part, scored with forward-filtered
    probabilities only (no smoothing, no Viterbi). States map to regimes by mean return and volatility:
    of the two lowest-mean states the more volatile is Bear, the other Correction; of the two highest-mean
    states the more volatile is Expansion, the other Bull."""
    _import("hmmlearn")
    from hmmlearn.hmm import GaussianHMM

    returns = np.diff(np.log(close))
    fit_returns = returns[max(train.start - 1, 0) : train.stop - 1].reshape(-1, 1)
    import logging

    logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # convergence chatter is not an error here
    model = GaussianHMM(n_components=4, covariance_type="diag", n_iter=200, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(fit_returns)
    mu = model.means_.ravel()
    sigma = np.sqrt(np.asarray(model.covars_).reshape(4, -1)[:, 0])
    params = SwitchingParams(drift=tuple(mu), vol=tuple(sigma), transition=tuple(map(tuple, model.transmat_)))
    start = train.start
    probs = forward_filter(close[start : val_positions[-1] + 1], params)
    states = probs.argmax(axis=1)[val_positions - start]
    return map_states(mu, sigma)[states]


def map_states(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """State index -> regime index (into features.REGIMES) by the documented mean/volatility rule."""
    order = np.argsort(mu)
    low, high = order[:2], order[2:]
    mapping = np.empty(4, dtype=int)
    bear, correction = sorted(low, key=lambda s: -sigma[s])
    expansion, bull = sorted(high, key=lambda s: -sigma[s])
    mapping[[bear, correction, bull, expansion]] = [0, 1, 2, 3]
    return mapping
