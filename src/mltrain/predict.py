"""Causal predictions from a stored version on the current data store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import features as F
from .data.store import DataStore
from .data.validate import fill_short_gaps
from .errors import DataError, UsageError
from .models import build


def _state(tensors: dict, prefix: str) -> dict:
    return {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _since_positions(index: pd.DatetimeIndex, since: str | None, first_ok: int) -> np.ndarray:
    if since is None:
        return np.array([len(index) - 1])
    try:
        start = pd.Timestamp(since)
    except ValueError as exc:
        raise UsageError(f"--since {since!r} is not a date; use YYYY-MM-DD") from exc
    pos = np.nonzero(index >= start)[0]
    pos = pos[pos >= first_ok]
    if len(pos) == 0:
        raise UsageError(f"--since {since}: no dates with enough history from then on "
                         f"(data ends {index[-1].date()})")
    return pos


def predict_regime(meta: dict, tensors: dict, store: DataStore, since: str | None = None) -> list[dict]:
    spec = meta["spec"]
    symbol = spec["symbol"]
    model = build(spec)
    model.load_state_dict(_state(tensors, symbol))
    model.eval()
    frame, _, _ = fill_short_gaps(store.load(symbol).frame)
    table = F.regime_features(frame)
    rule = F.rule_detector(table)  # the causal rule baseline, shown beside the model for every date
    feats = table[spec["features"]].to_numpy()  # the columns, in the order, the version was trained on
    first_ok = int(np.argmax(~np.isnan(feats).any(axis=1)))
    if np.isnan(feats[-1]).any():
        raise DataError(f"{symbol}: not enough history for regime features ({len(frame)} days)")
    pos = _since_positions(frame.index, since, max(first_ok, F.REGIME_WARMUP_DAYS))
    x = (feats[pos] - np.asarray(spec["feature_mean"])) / np.asarray(spec["feature_std"])
    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(x, dtype=torch.float32)), dim=1).numpy()
    regimes = spec["regimes"]
    return [{"symbol": symbol, "date": str(frame.index[p].date()), "regime": regimes[int(row.argmax())],
             "probabilities": {r: round(float(v), 4) for r, v in zip(regimes, row)},
             "rule_regime": F.REGIMES[int(rule[p])]} for p, row in zip(pos, probs)]


def predict_volatility(meta: dict, tensors: dict, store: DataStore, symbols: list[str] | None,
                       since: str | None = None) -> list[dict]:
    spec = meta["spec"]
    trained = list(spec["symbols"])
    for symbol in symbols or []:
        if symbol not in trained:
            raise UsageError(f"version {meta['version']} of {meta['name']} was not trained on {symbol}; "
                             f"it knows {', '.join(trained)}")
    out = []
    lookback, horizon = spec["lookback_days"], spec["horizon_days"]
    for symbol in symbols or trained:
        stats = spec["symbols"][symbol]
        model = build(spec)
        model.load_state_dict(_state(tensors, symbol))
        model.eval()
        series = store.load(symbol)
        frame, _, _ = fill_short_gaps(series.frame)
        values = F.volatility_features(frame, series.has_ohlc).to_numpy()
        var = F.daily_variance(frame, series.has_ohlc)
        trailing = np.exp(F.log_vol_from_var(F.trailing_mean(var, horizon)))
        ok = ~np.isnan(values).any(axis=1)
        first_ok = int(np.argmax(ok)) + lookback - 1
        if len(frame) <= first_ok:
            raise DataError(f"{symbol}: not enough history for a forecast ({len(frame)} days)")
        pos = _since_positions(frame.index, since, first_ok)
        normed = (values - np.asarray(stats["feature_mean"])) / np.asarray(stats["feature_std"])
        x = np.stack([normed[p - lookback + 1:p + 1] for p in pos]).astype(np.float32)
        with torch.no_grad():
            pred = model(torch.as_tensor(x)).numpy() * stats["target_std"] + stats["target_mean"]
        for p, value in zip(pos, pred):
            out.append({"symbol": symbol, "date": str(frame.index[p].date()), "horizon_days": horizon,
                        "forecast_annualized_vol": round(float(np.exp(value)), 4),
                        "trailing_realized_vol": round(float(trailing[p]), 4), "estimator": series.estimator})
    return out
