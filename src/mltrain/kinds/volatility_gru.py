"""Versions saved before the HAR-residual design (spec kind "volatility_gru"): one GRU per symbol. They are
still loaded and predict as they did; new versions are never trained with this design."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

ARCH = "volatility_gru"  # spec["kind"] of stored versions: never rename


def build_network(spec: dict):
    from ..models import VolatilityNet

    return VolatilityNet(spec["n_features"], spec["hidden_size"])


def predict(meta, tensors, store, symbol, since):
    import torch

    from .. import features as F
    from ..data.validate import fill_short_gaps
    from ..errors import DataError, UsageError
    from ..pipeline import since_positions, state_of

    spec = meta["spec"]
    trained = list(spec["symbols"])
    if symbol is not None and symbol not in trained:
        raise UsageError(
            f"version {meta['version']} of {meta['name']} was not trained on {symbol!r}; "
            f"it knows {', '.join(trained)}"
        )
    out = []
    lookback, horizon = spec["lookback_days"], spec["horizon_days"]
    for name in [symbol] if symbol else trained:
        stats = spec["symbols"][name]
        model = build_network(spec)
        model.load_state_dict(state_of(tensors, name))
        model.eval()
        series = store.load(name)
        frame, _, _ = fill_short_gaps(series.frame)
        values = F.volatility_features(frame, series.has_ohlc).to_numpy()
        var = F.daily_variance(frame, series.has_ohlc)
        trailing = np.exp(F.log_vol_from_var(F.trailing_mean(var, horizon)))
        ok = ~np.isnan(values).any(axis=1)
        first_ok = int(np.argmax(ok)) + lookback - 1
        if len(frame) <= first_ok:
            raise DataError(f"{name}: not enough history for a forecast ({len(frame)} days)")
        pos = since_positions(frame.index, since, first_ok)
        normed = (values - np.asarray(stats["feature_mean"])) / np.asarray(stats["feature_std"])
        x = np.stack([normed[p - lookback + 1 : p + 1] for p in pos]).astype(np.float32)
        with torch.no_grad():
            pred = model(torch.as_tensor(x)).numpy() * stats["target_std"] + stats["target_mean"]
        for p, value in zip(pos, pred):
            out.append(
                {
                    "symbol": name,
                    "date": str(frame.index[p].date()),
                    "horizon_days": horizon,
                    "forecast_annualized_vol": round(float(np.exp(value)), 4),
                    "trailing_realized_vol": round(float(trailing[p]), 4),
                    "estimator": series.estimator,
                }
            )
    return out
