"""The regime detector's design: a network trained on the regime spells of every series in the store, and a
decision that starts from the causal rule and lets the network name Bear markets.

Blocks of the scored asset, in time order: *fit* | *selection* | *validation*, `PURGE_DAYS` apart. The last
`days` labelled days of the asset hold the selection and validation blocks; the network learns from every
labelled day of every series in the store (the asset included) before the selection block, with labels
computed from prices before the selection block only; the epoch is chosen on the selection days of all
series (labels from prices before the validation block); the validation block is scored once against the
full ex-post labels. A regime is a property of a price path, so another asset's bear market in another
year is a valid training spell: one asset's two years rarely hold every regime.

The decision (`DECISION`): the network's Bear overrides the rule; where the rule says Bear and the network
does not, the network's Expansion stands and anything else reads Correction; otherwise the rule's verdict.
Measured under walk-forward on BTC it beats the rule alone (docs/regimes.md); the network alone names
Bear markets well but confuses Correction and Bull.

Opt-in designs measured and not shipped (docs/regimes.md, "What was tried"): the network's inputs
(`encoder`, regime_seq.py) and sim-to-real pretraining (`pretrain_markets`, regime_pretrain.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..lazyimport import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..config import TrainingConfig
    from ..data.store import DataStore, Series
    from ..pipeline import RunResult
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py

ARCH = "regime_mlp"  # spec["kind"] of stored versions: never rename
DECISION = "rule_with_network_bear"  # spec["decision"]; absent in versions that took the network's argmax
PURGE_DAYS = 7  # between fit and selection and between selection and validation
SELECTION_SHARE = 0.2  # of the asset's training span
MIN_SELECTION_DAYS = 30
MIN_SPELLS = 3  # fewer spells of a regime in the training data: the network barely knows it (a warning)
OOD_MARGIN = 0.05  # share of a feature's training range beyond which an input counts as unseen


def regime_symbol(model_name: str) -> str:
    """A regime model is scored on the asset its name starts with: btc_regime_detector -> BTC."""
    return model_name.split("_", 1)[0].upper()


def decide(network: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """The shipped verdict from the network's and the rule's regime indices (Bear 0, Correction 1, Bull 2,
    Expansion 3)."""
    network, rule = np.asarray(network, int), np.asarray(rule, int)
    rule_bear = np.where(network == 3, 3, 1)  # the rule's Bear, overruled by the network
    return np.where(network == 0, 0, np.where(rule == 0, rule_bear, rule)).astype(int)


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


def pool_assets(store: DataStore, target: Series) -> list[Asset]:
    """Every real series in the store (the target first); generated markets never join the pool."""
    out = [asset(target)]
    for symbol in store.symbols():
        if symbol == target.symbol:
            continue
        series = store.load(symbol)
        if series.source.startswith("synthetic"):
            continue
        out.append(asset(series))
    return out


def train_regime(
    store: DataStore,
    config: TrainingConfig,
    symbol: str,
    *,
    seed: int,
    device: str,
    on_epoch=None,
    stop=None,
    end: pd.Timestamp | None = None,
    series: Series | None = None,
    truth: np.ndarray | None = None,
    held_out: tuple[str, ...] = (),
) -> RunResult:
    """`series` and `truth` let evaluation train on a synthetic market (alone, its true regimes as labels);
    series named in `held_out` (cross-asset evaluation: the scored asset itself) give no fit or selection row,
    the scored asset still sets the blocks' dates."""
    import torch
    from torch import nn

    from .. import features as F
    from .. import metrics
    from ..errors import DataError
    from ..pipeline import MIN_TRAIN_SAMPLES, Clock, RunResult, fit_symbol, tensors, window
    from ..train import Split
    from . import regime_seq as S
    from .regime_labels import scale_labels
    from .regime_pretrain import run_pretraining

    clock = Clock()
    target_series = series or store.load(symbol)
    assets = [asset(target_series, truth)] if truth is not None else pool_assets(store, target_series)
    scale_labels(store, config, assets)
    b = blocks(assets[0], config, end)
    fit_parts, sel_parts, fit_spells, pool = [], [], [], []  # (asset, rows, labels) per series
    for a in assets:
        if a.symbol in held_out:
            continue
        before_sel, before_val = labels_before(a, b.selection_start), labels_before(a, b.validation_start)
        fit_rows = np.nonzero(a.ok & (before_sel >= 0) & (a.dates < b.fit_end))[0]
        in_sel = (a.dates >= b.selection_start) & (a.dates <= b.target.dates[b.selection[-1]])
        sel_rows = np.nonzero(a.ok & (before_val >= 0) & in_sel)[0]
        if len(fit_rows) == 0:
            continue
        fit_parts.append((a, fit_rows, before_sel))
        sel_parts.append((a, sel_rows, before_val))
        fit_spells.append(before_sel[fit_rows[0] : fit_rows[-1] + 1])
        pool.append(a.symbol)
    y_fit = np.concatenate([labels[rows] for _, rows, labels in fit_parts])
    y_sel = np.concatenate([labels[rows] for _, rows, labels in sel_parts])
    if len(y_fit) < MIN_TRAIN_SAMPLES or len(y_sel) == 0:
        raise DataError(
            f"{symbol}: only {len(y_fit)} labelled training days before "
            f"{b.selection_start.date()}; use fewer --days or import more history"
        )
    enc = config.encoder or "mlp"
    raw = np.concatenate([a.values[rows] for a, rows, _ in fit_parts])
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    mean, std = S.normalisation([S.channels(enc, a.values, a.path)[rows] for a, rows, _ in fit_parts])

    def encode(parts) -> np.ndarray:
        columns = [(S.channels(enc, a.values, a.path), rows) for a, rows, _ in parts]
        return np.concatenate([S.inputs(enc, c, rows, mean, std) for c, rows in columns])

    x_fit, x_sel = encode(fit_parts), encode(sel_parts)
    counts = np.bincount(y_fit, minlength=4).astype(float)
    weights = np.where(counts > 0, len(y_fit) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    seen = {name: sum(spells(s)[name] for s in fit_spells) for name in F.REGIMES}
    torch.manual_seed(seed)
    model = S.new_network(enc, x_fit.shape[-1]).to(device)
    pretrained = run_pretraining(model, fit_parts, config, encode, seed, device, stop, ex_post=truth is None)
    split = Split(
        *tensors(device, x_fit),
        *tensors(device, y_fit, dtype=torch.long),
        *tensors(device, x_sel),
        *tensors(device, y_sel, dtype=torch.long),
    )
    class_weights = torch.as_tensor(weights, dtype=torch.float32, device=device)

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out, y, weight=class_weights)

    def balanced(out: torch.Tensor) -> float:
        return metrics.classification_scores(y_sel, out.argmax(dim=1).cpu().numpy(), F.REGIMES)[
            "balanced_accuracy"
        ]

    fitted = fit_symbol(
        model,
        split,
        config,
        symbol=symbol,
        seed=seed,
        loss_fn=loss_fn,
        metric_fn=balanced,
        on_epoch=on_epoch,
        stop=stop,
        select_on_metric=True,
    )
    run = RunResult(model_type="regime")
    run.add_fit(symbol, model, fitted)
    if run.interrupted:
        return run
    model.eval()
    val = b.validation
    x_val = torch.as_tensor(encode([(b.target, val, None)]), device=device)
    with torch.no_grad():
        probs = torch.softmax(model(x_val), dim=1).cpu().numpy()
    network, rule, true = probs.argmax(axis=1), b.target.rule[val], b.labels[val]
    pred = decide(network, rule)
    majority = int(np.argmax(counts))
    run.metrics = {
        **metrics.classification_scores(true, pred, F.REGIMES),
        "network": metrics.classification_scores(true, network, F.REGIMES),
    }
    run.baselines = {
        "majority": metrics.classification_scores(true, np.full_like(true, majority), F.REGIMES),
        "rule": metrics.classification_scores(true, rule, F.REGIMES),
    }
    few = [name for name, n in seen.items() if n < MIN_SPELLS]
    if few:
        run.warnings.append(
            f"the training data holds fewer than {MIN_SPELLS} spells of {', '.join(few)} "
            f"({', '.join(f'{k} {v}' for k, v in seen.items())}): the network has barely seen "
            f"{'it' if len(few) == 1 else 'them'}; trust the rule's verdict there"
        )
    run.spec = {
        "kind": ARCH,
        "decision": DECISION,
        "n_features": len(F.REGIME_FEATURES),
        "n_classes": 4,
        "features": list(F.REGIME_FEATURES),
        "regimes": list(F.REGIMES),
        "symbol": symbol,
        "label_rule": F.LabelRule().as_dict(),
        "label_thresholds": config.label_thresholds or "fixed",
        "warmup_days": F.REGIME_WARMUP_DAYS,
        **S.spec_fields(enc, mean, std),
        "pretraining": pretrained,
        "feature_min": lo.tolist(),
        "feature_max": hi.tolist(),
        "class_weights": weights.tolist(),
        "pool": pool,
        "training_spells": seen,
        "training_rows": int(len(x_fit)),
        "validation_last": str(b.target.dates[val[-1]].date()),
    }
    used = window(
        target_series,
        b.target.frame,
        b.idx,
        train=int(len(x_fit)),
        val=int(len(val)),
        dropped=0,
        filled=0,
        rows_before=F.REGIME_WARMUP_DAYS,
    )
    run.windows = {symbol: {**used.as_dict(), **_block_dates(b, fit_x=y_fit)}}
    from .regime_decision import network_probs, regime_decision

    decision = regime_decision(b, config, lambda rows: network_probs(model, encode([(b.target, rows, None)])))
    run.spec["policy"] = decision.pop("policy")
    run.predictions = {
        symbol: {
            **decision,
            "dates": [str(d.date()) for d in b.target.dates[val]],
            "classes": list(F.REGIMES),
            "actual": true.tolist(),
            "model": pred.tolist(),
            "network": network.tolist(),
            "model_probs": np.round(probs, 5).tolist(),
            "rule": rule.tolist(),
            "majority": np.full_like(true, majority).tolist(),
            "close": b.target.close[val].tolist(),
            "window_first": int(b.idx[0]),
            "selection_last": int(b.selection[-1]),
        }
    }
    run.total_seconds = clock.seconds()
    return run


def _block_dates(b: Blocks, fit_x: np.ndarray) -> dict:
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
