"""The regime network's inputs and how it is built: the `encoder` config field.

- `mlp` (the default): today's summary features (features.REGIME_FEATURES) into a two-layer MLP.
- `gru`: the recent path, the last `SEQ_DAYS` days of each day's summary features plus its log return and
  log high/low range, into a small GRU whose last state, beside the last day's inputs, feeds a linear head.

Both read only day t and earlier. Inputs are normalised with the mean and standard deviation of the fit
rows (one value per input channel), stored in the version's spec so `predict` rebuilds them exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

SEQ_ARCH = "regime_gru"  # spec["kind"] of versions trained with encoder gru: never rename
SEQ_DAYS = 20  # days of path the GRU reads, today included
SEQ_HIDDEN = 16
PATH_CHANNELS = ("log_return", "log_range")  # added to the summary features for each day of the path


def day_channels(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """Per day: the summary features, the close-to-close log return and the log of high over low."""
    close = frame["close"].to_numpy(dtype=float)
    log_return = np.concatenate([[np.nan], np.diff(np.log(close))])
    log_range = np.log(frame["high"].to_numpy(dtype=float) / frame["low"].to_numpy(dtype=float))
    return np.column_stack([values, log_return, log_range])


def channels(encoder: str, values: np.ndarray, path: np.ndarray) -> np.ndarray:
    """The per-day columns the encoder normalises: the summary features (mlp) or the path channels (gru)."""
    return values if encoder == "mlp" else path


def normalisation(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over the fit rows (NaN before a channel is known: skipped)."""
    stacked = np.concatenate(rows)
    if not np.isnan(stacked).any():  # the mlp's fit rows: exactly the statistics versions before gru used
        return stacked.mean(axis=0), stacked.std(axis=0) + 1e-8
    return np.nanmean(stacked, axis=0), np.nanstd(stacked, axis=0) + 1e-8


def inputs(
    encoder: str, columns: np.ndarray, rows: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """Network inputs for `rows` of one series: (rows, channels) for mlp, (rows, SEQ_DAYS, channels) for gru.
    Days before the series starts, or before a channel is known, read as the fit mean (0 once normalised)."""
    normed = np.nan_to_num((columns - mean) / std, nan=0.0).astype(np.float32)
    rows = np.asarray(rows, dtype=int)
    if encoder == "mlp":
        return normed[rows]
    padded = np.concatenate([np.zeros((SEQ_DAYS - 1, normed.shape[1]), np.float32), normed])
    return padded[rows[:, None] + np.arange(SEQ_DAYS)[None, :]]


def build_network(spec: dict):
    """The network a stored spec describes (versions from before `encoder` existed are MLPs)."""
    from ..models import RegimeNet, RegimeSeqNet

    if spec.get("encoder", "mlp") == "gru":
        return RegimeSeqNet(spec["n_channels"], spec["hidden_size"], spec["n_classes"])
    return RegimeNet(spec["n_features"], spec["hidden_size"], spec["n_classes"])


def new_network(encoder: str, n_channels: int):
    from ..models import REGIME_HIDDEN, RegimeNet, RegimeSeqNet

    return RegimeSeqNet(n_channels) if encoder == "gru" else RegimeNet(n_channels, REGIME_HIDDEN)


def spec_fields(encoder: str, mean: np.ndarray, std: np.ndarray) -> dict:
    """What predict needs to rebuild the inputs and the network."""
    from .. import features as F
    from ..models import REGIME_HIDDEN

    if encoder == "mlp":
        return {"encoder": "mlp", "hidden_size": REGIME_HIDDEN, "feature_mean": mean.tolist(),
                "feature_std": std.tolist()}  # fmt: skip
    return {
        "kind": SEQ_ARCH,
        "encoder": "gru",
        "hidden_size": SEQ_HIDDEN,
        "sequence_days": SEQ_DAYS,
        "channels": [*F.REGIME_FEATURES, *PATH_CHANNELS],
        "n_channels": len(mean),
        "channel_mean": mean.tolist(),
        "channel_std": std.tolist(),
    }


def predict_inputs(spec: dict, frame: pd.DataFrame, feats: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The stored version's inputs for days `pos` of a series (feats: its summary features, spec order)."""
    if spec.get("encoder", "mlp") == "gru":
        path = day_channels(frame, feats)
        mean, std = np.asarray(spec["channel_mean"]), np.asarray(spec["channel_std"])
        return inputs("gru", path, pos, mean, std)
    return inputs("mlp", feats, pos, np.asarray(spec["feature_mean"]), np.asarray(spec["feature_std"]))
