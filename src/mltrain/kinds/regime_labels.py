"""Which ex-post label thresholds a regime run uses: BTC's fixed ones for every asset, or the same thresholds
widened by each asset's trailing volatility relative to BTC's (`label_thresholds: volatility_scaled`).

The scale of day t uses returns up to day t only (features.label_scale), so the labels of a price prefix are
the labels of the full series wherever the prefix has confirmed them, as with fixed thresholds; BTC's scale is
exactly 1, so BTC's labels never change. Measured in docs/regimes.md ("Volatility-scaled thresholds").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import TrainingConfig
    from ..data.store import DataStore
    from .regime_data import Asset

REFERENCE = "BTC"  # the asset the fixed thresholds were drawn for


def scaled(config: TrainingConfig) -> bool:
    return config.label_thresholds == "volatility_scaled"


def scale_labels(store: DataStore, config: TrainingConfig, assets: list[Asset]) -> None:
    """Give each real asset its per-day threshold scale when the config asks for scaled thresholds."""
    import pandas as pd

    from .. import features as F
    from ..pipeline import history

    if not scaled(config):
        return
    reference = history(store.load(REFERENCE))[0]["close"]
    for a in assets:
        if a.truth is None:
            a.label_scale = F.label_scale(pd.Series(a.close, a.dates), reference)


def label_statistics(labels) -> dict:
    """How a label sequence reads to a user: switches a year, mean spell length in days, share of days per
    regime, over its labelled days (-1 before the first and after the last confirmed turning point)."""
    import numpy as np

    from ..features import REGIMES

    known = np.asarray(labels)[np.asarray(labels) >= 0]
    switches = int(np.count_nonzero(np.diff(known)))
    shares = np.bincount(known, minlength=len(REGIMES)) / max(len(known), 1)
    return {
        "days": int(len(known)),
        "switches_per_year": round(switches / (len(known) / 365), 2) if len(known) else 0.0,
        "mean_spell_days": round(len(known) / (switches + 1), 1) if len(known) else 0.0,
        "share": {name: round(float(s), 3) for name, s in zip(REGIMES, shares)},
    }


def compare_thresholds(store: DataStore) -> list[dict]:
    """Per real series of the store: label statistics under fixed and under volatility-scaled thresholds,
    and the median scale; BTC (the reference) first."""
    import numpy as np

    from .. import features as F
    from ..pipeline import history

    reference = history(store.load(REFERENCE))[0]["close"]
    symbols = [REFERENCE, *(s for s in store.symbols() if s != REFERENCE)]
    rows = []
    for symbol in symbols:
        series = store.load(symbol)
        if series.source.startswith("synthetic"):
            continue
        close = history(series)[0]["close"]
        scale = F.label_scale(close, reference)
        fixed = F.regime_labels(close.to_numpy())
        scaled_labels = F.regime_labels(close.to_numpy(), scale=scale)
        rows.append(
            {
                "symbol": symbol,
                "median_scale": round(float(np.median(scale)), 2),
                "fixed": label_statistics(fixed),
                "scaled": label_statistics(scaled_labels),
                "identical": bool(np.array_equal(fixed, scaled_labels)),
            }
        )
    return rows
