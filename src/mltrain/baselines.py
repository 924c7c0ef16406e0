"""What the optional baselines share (forecasts.py holds the baselines themselves): the error raised when their
package (`pip install mltrain[baselines]`) is missing, the marker callers print instead of a number, and the
rule that maps fitted states to regimes."""

from __future__ import annotations

import numpy as np

NOT_INSTALLED = "not installed (pip install 'mltrain[baselines]')"


class MissingExtra(Exception):
    """An optional package is not installed."""


def map_states(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """State index -> regime index (into features.REGIMES) by the documented mean/volatility rule."""
    order = np.argsort(mu)
    low, high = order[:2], order[2:]
    mapping = np.empty(4, dtype=int)
    bear, correction = sorted(low, key=lambda s: -sigma[s])
    expansion, bull = sorted(high, key=lambda s: -sigma[s])
    mapping[[bear, correction, bull, expansion]] = [0, 1, 2, 3]
    return mapping
