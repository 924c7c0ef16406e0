"""Synthetic daily OHLCV from a four-regime Markov-switching model, with the true regime of each day."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..features import REGIMES  # noqa: F401  (the regime names, defined once)

STEPS_PER_DAY = 24  # intraday steps that make each day's high and low


@dataclass(frozen=True)
class SwitchingParams:
    """Daily log-return drift and volatility per regime, and the daily transition matrix."""

    drift: tuple[float, ...] = (-0.006, -0.002, 0.003, 0.006)
    vol: tuple[float, ...] = (0.050, 0.030, 0.025, 0.045)
    transition: tuple[tuple[float, ...], ...] = (
        (0.975, 0.005, 0.000, 0.020),  # Bear ends mostly in a recovery
        (0.010, 0.960, 0.030, 0.000),
        (0.003, 0.012, 0.975, 0.010),
        (0.005, 0.000, 0.020, 0.975),
    )


def generate(
    days: int,
    seed: int,
    params: SwitchingParams = SwitchingParams(),
    start: str = "2018-01-01",
    start_price: float = 10_000.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Return daily candles and the true regime index (into REGIMES) of each day."""
    rng = np.random.default_rng(seed)
    trans = np.asarray(params.transition)
    states = np.empty(days, dtype=int)
    states[0] = 2
    for t in range(1, days):
        states[t] = rng.choice(4, p=trans[states[t - 1]])
    drift = np.asarray(params.drift)[states] / STEPS_PER_DAY
    vol = np.asarray(params.vol)[states] / np.sqrt(STEPS_PER_DAY)
    steps = rng.standard_normal((days, STEPS_PER_DAY)) * vol[:, None] + drift[:, None]
    log_path = np.log(start_price) + np.cumsum(steps.ravel()).reshape(days, STEPS_PER_DAY)
    open_ = np.concatenate([[np.log(start_price)], log_path[:-1, -1]])
    high = np.maximum(log_path.max(axis=1), open_)
    low = np.minimum(log_path.min(axis=1), open_)
    frame = pd.DataFrame(
        {
            "open": np.exp(open_),
            "high": np.exp(high),
            "low": np.exp(low),
            "close": np.exp(log_path[:, -1]),
            "volume": rng.lognormal(10, 0.3, days),
        },
        index=pd.date_range(start, periods=days, freq="D", name="date"),
    )
    return frame, states


def forward_filter(close: np.ndarray, params: SwitchingParams = SwitchingParams()) -> np.ndarray:
    """Filtered regime probabilities P(state_t | returns up to t): causal, never smoothed.

    With the true parameters this is the best any causal detector can do on the process.
    """
    returns = np.diff(np.log(close))
    log_trans = np.log(np.asarray(params.transition) + 1e-300)
    mu, sigma = np.asarray(params.drift), np.asarray(params.vol)
    k = len(mu)
    probs = np.zeros((len(close), k))
    log_belief = np.full(k, -np.log(k))
    probs[0] = np.exp(log_belief)
    for t, r in enumerate(returns, start=1):
        log_prior = np.logaddexp.reduce(log_belief[:, None] + log_trans, axis=0)
        log_post = log_prior - 0.5 * ((r - mu) / sigma) ** 2 - np.log(sigma)
        log_belief = log_post - np.logaddexp.reduce(log_post)
        probs[t] = np.exp(log_belief)
    return probs


def market(days: int, seed: int):
    """A generated market as a data-store Series named SYN, with the true regime of each day."""
    from .store import Series

    frame, states = generate(days, seed)
    return Series("SYN", frame, f"synthetic seed={seed}", True, {}), states


def store_synthetic(
    store, symbol: str, days: int, seed: int, wait: bool = False, on_wait=None, replace: bool = False
) -> dict:
    """Generate a market and keep it in the data store like an import, its true regimes beside it (one lock
    over both files); a real series of that symbol is replaced only with `replace`."""
    from ..errors import UsageError
    from ..textutil import SYMBOL_RE
    from .store import fingerprint

    if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
        raise UsageError(f"symbol {symbol[:40]!r} must be upper-case letters and digits, e.g. SYN")
    if not 300 <= days <= 20000:
        raise UsageError(f"--days {days} is out of range; allowed 300..20000")
    # from 2018-01-01 (same dates for the same seed), moved back when that would run past yesterday
    start = min(pd.Timestamp("2018-01-01"), store.today - pd.Timedelta(days=days))
    frame, states = generate(days, seed, start=str(start.date()))
    regimes_csv = "date,regime\n" + "".join(f"{d.date()},{REGIMES[s]}\n" for d, s in zip(frame.index, states))
    store.save_synthetic(
        symbol,
        frame,
        regimes_csv,
        {
            "symbol": symbol,
            "source": f"synthetic seed={seed}",
            "format": "synthetic",
            "has_ohlc": True,
            "aggregated": False,
            "rows": days,
            "seed": seed,
            "fingerprint": fingerprint(frame),
            "true_regimes": f"{symbol}.regimes.csv",
        },
        wait=wait,
        on_wait=on_wait,
        replace=replace,
    )
    return {**store.summary(symbol), "seed": seed, "true_regimes": str(store.root / f"{symbol}.regimes.csv")}
