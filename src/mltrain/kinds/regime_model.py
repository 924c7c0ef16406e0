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
from .regime_data import (
    Asset,
    Blocks,
    asset,
    block_dates,
    blocks,
    decide,
    full_labels,
    labels_before,
    pool_assets,
    spells,
)

__all__ = [
    "asset",
    "blocks",
    "decide",
    "full_labels",
    "labels_before",
    "train_regime",
]  # tests and bench/ read them here

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
MIN_SPELLS = 3  # fewer spells of a regime in the training data: the network barely knows it (a warning)
OOD_MARGIN = 0.05  # share of a feature's training range beyond which an input counts as unseen


def regime_symbol(model_name: str) -> str:
    """A regime model is scored on the asset its name starts with: btc_regime_detector -> BTC."""
    return model_name.split("_", 1)[0].upper()


@dataclass
class TrainingRows:
    """The pooled fit and selection rows of a run: (asset, rows, labels) per series, labels as known then."""

    fit_parts: list
    sel_parts: list
    y_fit: np.ndarray
    y_sel: np.ndarray
    seen: dict[str, int]  # spells of each regime in the fit rows
    pool: list[str]


@dataclass
class Design:
    """The trained network's design as stored: its inputs (regime_seq.spec_fields), pretraining, class weights."""

    encoder_fields: dict
    pretraining: dict | None
    class_weights: list[float]


def training_rows(assets: list[Asset], b: Blocks, symbol: str, held_out: tuple[str, ...]) -> TrainingRows:
    """Every series' labelled days before the fit end (fit) and in the selection block (selection); series in
    `held_out` give none."""
    from .. import features as F
    from ..errors import DataError
    from ..pipeline import MIN_TRAIN_SAMPLES
    from ..specs import fewer_days

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
    if len(y_fit) < MIN_TRAIN_SAMPLES:
        raise DataError(
            f"{symbol}: only {len(y_fit)} labelled training days before "
            f"{b.selection_start.date()}; {fewer_days(len(b.idx))}"
        )
    if len(y_sel) == 0:  # every pooled series' selection days still await a confirmed turning point
        raise DataError(
            f"{symbol}: no day of the selection block from {b.selection_start.date()} has a regime label known "
            f"before the validation block in the pool ({', '.join(pool)}), so no epoch can be chosen; pool more "
            "series (`symbols`, unset: all of them) or score another span"
        )
    seen = {name: sum(spells(s)[name] for s in fit_spells) for name in F.REGIMES}
    return TrainingRows(fit_parts, sel_parts, y_fit, y_sel, seen, pool)


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

    from ..pipeline import Clock, RunResult
    from . import regime_seq as S
    from .regime_labels import scale_labels
    from .regime_pretrain import run_pretraining

    clock = Clock()
    target_series = series or store.load(symbol)
    assets = (
        [asset(target_series, truth)]
        if truth is not None
        else pool_assets(store, target_series, config.symbols)
    )
    scale_labels(store, config, assets)
    b = blocks(assets[0], config, end)
    rows = training_rows(assets, b, symbol, held_out)
    y_fit, y_sel = rows.y_fit, rows.y_sel
    enc = config.encoder or "mlp"
    mean, std = S.normalisation([S.channels(enc, a.values, a.path)[r] for a, r, _ in rows.fit_parts])

    def encode(parts) -> np.ndarray:
        columns = [(S.channels(enc, a.values, a.path), rows) for a, rows, _ in parts]
        return np.concatenate([S.inputs(enc, c, rows, mean, std) for c, rows in columns])

    x_fit, x_sel = encode(rows.fit_parts), encode(rows.sel_parts)
    counts = np.bincount(y_fit, minlength=4).astype(float)
    weights = np.where(counts > 0, len(y_fit) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    torch.manual_seed(seed)
    model = S.new_network(enc, x_fit.shape[-1]).to(device)
    pretrained = run_pretraining(
        model, rows.fit_parts, config, encode, seed, device, stop, ex_post=truth is None
    )
    fitted = _fit(model, (x_fit, y_fit, x_sel, y_sel), weights, config, symbol, seed, device, on_epoch, stop)
    run = RunResult(model_type="regime")
    run.add_fit(symbol, model, fitted)
    if run.interrupted:
        return run
    model.eval()
    x_val = torch.as_tensor(encode([(b.target, b.validation, None)]), device=device)
    with torch.no_grad():
        probs = torch.softmax(model(x_val), dim=1).cpu().numpy()
    design = Design(S.spec_fields(enc, mean, std), pretrained, weights.tolist())
    from .regime_decision import network_probs

    def days_probs(days) -> np.ndarray:  # the network's probabilities on any of the target's days
        return network_probs(model, encode([(b.target, days, None)]))

    _score_validation(run, b, rows, probs, counts, target_series, config, symbol, design, days_probs)
    run.total_seconds = clock.seconds()
    return run


def _fit(
    model, arrays: tuple, weights: np.ndarray, config, symbol: str, seed: int, device: str, on_epoch, stop
):
    """Fit the network on the fit rows with class-weighted cross-entropy, its epoch chosen by the selection
    rows' balanced accuracy. arrays: (x_fit, y_fit, x_sel, y_sel)."""
    import torch
    from torch import nn

    from .. import features as F
    from .. import metrics
    from ..pipeline import fit_symbol, tensors
    from ..train import Split

    x_fit, y_fit, x_sel, y_sel = arrays
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
    return fitted


def _score_validation(
    run: RunResult,
    b: Blocks,
    rows: TrainingRows,
    probs: np.ndarray,
    counts: np.ndarray,
    target_series: Series,
    config: TrainingConfig,
    symbol: str,
    design: Design,
    days_probs,
) -> None:
    """The validation block's scores beside the baselines, the warnings, the stored spec, the window, the
    decision policy (chosen on the selection block with `days_probs`, the network's probabilities on any of the
    target's days) and the predictions of a finished run."""
    from .. import features as F
    from .. import metrics
    from ..pipeline import window
    from .regime_decision import regime_decision

    val = b.validation
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
    few = [name for name, n in rows.seen.items() if n < MIN_SPELLS]
    if few:
        run.warnings.append(
            f"the training data holds fewer than {MIN_SPELLS} spells of {', '.join(few)} "
            f"({', '.join(f'{k} {v}' for k, v in rows.seen.items())}): the network has barely seen "
            f"{'it' if len(few) == 1 else 'them'}; trust the rule's verdict there"
        )
    run.spec = _spec(rows, config, symbol, design, b)
    used = window(
        target_series,
        b.target.frame,
        b.idx,
        train=int(len(rows.y_fit)),
        val=int(len(val)),
        dropped=0,
        filled=0,
        rows_before=F.REGIME_WARMUP_DAYS,
    )
    run.windows = {symbol: {**used.as_dict(), **block_dates(b, fit_x=rows.y_fit)}}
    decision = regime_decision(b, config, days_probs)
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


def _spec(rows: TrainingRows, config: TrainingConfig, symbol: str, design: Design, b: Blocks) -> dict:
    """Everything a stored version needs to be rebuilt and checked (the keys and their order unchanged)."""
    from .. import features as F

    raw = np.concatenate([a.values[r] for a, r, _ in rows.fit_parts])
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    return {
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
        **design.encoder_fields,
        "pretraining": design.pretraining,
        "feature_min": lo.tolist(),
        "feature_max": hi.tolist(),
        "class_weights": design.class_weights,
        "pool": rows.pool,
        "training_spells": rows.seen,
        "training_rows": int(len(rows.y_fit)),  # one input per labelled fit row
        "validation_last": str(b.target.dates[b.validation[-1]].date()),
    }
