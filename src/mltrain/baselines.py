"""What the optional baselines share (forecasts.py holds the baselines themselves): the error raised when their
package (`pip install mltrain[baselines]`) is missing, the marker callers print instead of a number, the
rule that maps fitted states to regimes, and the memo of their fits."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

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


MEMO_SIZE = 256  # fitted forecasts kept per process: a few KiB each
_memo: OrderedDict[tuple, np.ndarray] = OrderedDict()
_memo_lock = threading.Lock()  # a sweep or Dask worker may fit on several threads


def memoized(fit: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """A baseline fit `fit(close, fit_end, predict_idx, *rest)` is a pure function of its arguments (fixed
    seeds, deterministic optimizers), so within one process a repeated call returns a copy of the first
    result instead of fitting again: a sweep's trials share their folds' baselines, and so do a train's
    validation block and its promotion check, or the same fold evaluated twice. The key holds a digest of the
    prices, so a changed candle is a new fit."""

    @functools.wraps(fit)
    def wrapper(close, fit_end, predict_idx, *rest):
        prices = np.ascontiguousarray(close, dtype=float)
        rows = np.ascontiguousarray(predict_idx, dtype=np.int64)
        digest = hashlib.blake2b(prices.tobytes(), digest_size=16).digest()
        key = (fit.__qualname__, digest, len(prices), fit_end, rows.tobytes(), rest)
        with _memo_lock:
            found = _memo.get(key)
            if found is not None:
                _memo.move_to_end(key)
        if found is None:  # fitted outside the lock: two threads may both fit a new key, with one result
            found = np.asarray(fit(prices, fit_end, predict_idx, *rest))
            with _memo_lock:
                _memo[key] = found
                while len(_memo) > MEMO_SIZE:
                    _memo.popitem(last=False)
        return found.copy()

    return wrapper
