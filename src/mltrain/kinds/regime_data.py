"""The regime detector's data: each series prepared once (features, the rule, the labels each block may see),
the scored asset's blocks (fit | selection | validation, `PURGE_DAYS` apart) and the pool of real series.
regime_model.py trains on them; regime_labels.py and regime_pretrain.py read them too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..config import TrainingConfig
    from ..data.store import DataStore, Series
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

PURGE_DAYS = 7  # between fit and selection and between selection and validation
SELECTION_SHARE = 0.2  # of the asset's training span
MIN_SELECTION_DAYS = 30
# labelled days of each generated market (after the features' warm-up) and passes over them
# (regime_pretrain.py): kept here, where regime.py's time estimate counts them without importing numpy
PRETRAIN_DAYS, PRETRAIN_EPOCHS = 3000, 10


@dataclass
class Asset:
    """One series prepared for a run: features, the rule's verdict and the labels each block may use."""

    symbol: str
    frame: pd.DataFrame  # gap-filled candles
    dates: pd.DatetimeIndex
    close: np.ndarray
    values: np.ndarray  # features, one row per day
    rule: np.ndarray
    ok: np.ndarray  # features known (after the warm-up)
    truth: np.ndarray | None  # the generating regimes of a synthetic market, else None
    path: np.ndarray  # per day: features, log return, log range (regime_seq.day_channels)
    label_scale: np.ndarray | None = None  # per-day threshold scale (regime_labels.py); None: fixed ones


def asset(series: Series, truth: np.ndarray | None = None) -> Asset:
    from .. import features as F
    from ..errors import DataError
    from ..pipeline import history
    from .regime_seq import day_channels

    frame, filled, _ = history(series)
    if truth is not None and filled:
        raise DataError(f"{series.symbol}: a series with known regimes must have no missing days")
    table = F.regime_features(frame)
    values = table[list(F.REGIME_FEATURES)].to_numpy()
    ok = ~np.isnan(values).any(axis=1)
    ok[: F.REGIME_WARMUP_DAYS] = False
    return Asset(
        series.symbol,
        frame,
        frame.index,
        frame["close"].to_numpy(),
        values,
        F.rule_detector(table),
        ok,
        None if truth is None else np.asarray(truth, dtype=int),
        day_channels(frame, values),
    )


def labels_before(a: Asset, day: pd.Timestamp) -> np.ndarray:
    """Ex-post labels computed from prices strictly before `day` (-1 where unknown then), full length."""
    from .. import features as F

    cut = int(a.dates.searchsorted(day))
    out = np.full(len(a.close), -1, dtype=int)
    if a.truth is not None:
        out[:cut] = a.truth[:cut]
    elif cut > 1:
        scale = None if a.label_scale is None else a.label_scale[:cut]
        out[:cut] = F.regime_labels(a.close[:cut], scale=scale)
    return out


def full_labels(a: Asset) -> np.ndarray:
    from .. import features as F

    return a.truth if a.truth is not None else F.regime_labels(a.close, scale=a.label_scale)


@dataclass
class Blocks:
    """The scored asset's selection and validation rows, its window, and the day each block starts."""

    target: Asset
    idx: np.ndarray  # the last `days` labelled rows
    selection: np.ndarray
    validation: np.ndarray
    labels: np.ndarray  # full ex-post labels: the validation truth
    fit_end: pd.Timestamp  # fit rows lie strictly before this day (selection start - PURGE_DAYS)
    selection_start: pd.Timestamp
    validation_start: pd.Timestamp


def blocks(a: Asset, config: TrainingConfig, end: pd.Timestamp | None) -> Blocks:
    """The last `days` days (with known features) up to `end`, default the last day with an ex-post label.
    Which days form the window depends on dates only, never on labels that later prices decide."""
    import pandas as pd

    from ..errors import DataError
    from ..pipeline import too_short

    labels = full_labels(a)
    labelled = np.nonzero(labels >= 0)[0]
    if len(labelled) == 0:
        raise DataError(f"{a.symbol}: no day has an ex-post regime label yet (no confirmed turning point)")
    last = labelled[-1] if end is None else int(a.dates.searchsorted(end, side="right")) - 1
    candidates = np.nonzero(a.ok[: last + 1])[0]
    if len(candidates) < config.days:
        raise too_short(a.symbol, len(candidates), config.days, None, "sample days")
    idx = candidates[-config.days :]
    span = int(round(config.days * config.train_val_split))
    n_sel = max(int(round(span * SELECTION_SHARE)), MIN_SELECTION_DAYS)
    validation = idx[span:]
    validation = validation[labels[validation] >= 0]  # scored against the full ex-post labels
    selection = idx[max(span - PURGE_DAYS - n_sel, 0) : max(span - PURGE_DAYS, 0)]
    if len(validation) < 2 or len(selection) < 2:
        raise DataError(
            f"{a.symbol}: days={config.days} leaves {len(selection)} selection and {len(validation)} "
            "labelled validation days; use more --days"
        )
    purge = pd.Timedelta(days=PURGE_DAYS)
    return Blocks(
        a,
        idx,
        selection,
        validation,
        labels,
        a.dates[selection[0]] - purge,
        a.dates[selection[0]],
        a.dates[idx[span]],
    )


def sample_span(a: Asset, config: TrainingConfig) -> tuple:
    """The first and last day a validation block can end on."""
    from ..pipeline import too_short

    labels = full_labels(a)
    last = np.nonzero(labels >= 0)[0][-1]
    candidates = np.nonzero(a.ok[: last + 1])[0]
    if len(candidates) < config.days:
        raise too_short(a.symbol, len(candidates), config.days, None, "sample days")
    return a.dates[candidates[config.days - 1]], a.dates[candidates[-1]]


def spells(labels: np.ndarray) -> dict[str, int]:
    """Runs of each regime in a label sequence (-1 breaks a run)."""
    from .. import features as F

    counts = dict.fromkeys(F.REGIMES, 0)
    previous = -1
    for value in labels:
        if value >= 0 and value != previous:
            counts[F.REGIMES[value]] += 1
        previous = value
    return counts


def pool_assets(store: DataStore, target: Series, only: list[str] | None = None) -> list[Asset]:
    """Every real series in the store, or those named in `only` (the config's `symbols`), the target first;
    generated markets never join the pool."""
    out = [asset(target)]
    for symbol in store.symbols():
        if symbol == target.symbol or (only is not None and symbol not in only):
            continue
        series = store.load(symbol)
        if series.source.startswith("synthetic"):
            continue
        out.append(asset(series))
    return out


def block_dates(b: Blocks, fit_x: np.ndarray) -> dict:
    """The first and last day and the rows of the fit, selection and validation blocks."""
    import pandas as pd

    def span(rows: np.ndarray) -> dict:
        return {
            "first": str(b.target.dates[rows[0]].date()),
            "last": str(b.target.dates[rows[-1]].date()),
            "rows": int(len(rows)),
        }

    fit_rows = np.nonzero(b.target.ok & (b.target.dates < b.fit_end))[0]
    fit = {
        "first": str(b.target.dates[fit_rows[0]].date()) if len(fit_rows) else None,
        "last": str((b.fit_end - pd.Timedelta(days=1)).date()),
        "rows": int(len(fit_x)),
        "pooled": True,
    }
    return {"fit": fit, "selection": span(b.selection), "validation": span(b.validation)}


def decide(network: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """The shipped verdict from the network's and the rule's regime indices (Bear 0, Correction 1, Bull 2,
    Expansion 3)."""
    network, rule = np.asarray(network, int), np.asarray(rule, int)
    rule_bear = np.where(network == 3, 3, 1)  # the rule's Bear, overruled by the network
    return np.where(network == 0, 0, np.where(rule == 0, rule_bear, rule)).astype(int)
