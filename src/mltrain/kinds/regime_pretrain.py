"""Sim-to-real pretraining for the regime network: the `pretrain_markets` config field.

Before the network sees real data it is trained for `PRETRAIN_EPOCHS` passes over `pretrain_markets` generated
markets (data/synth.py's four-regime Markov-switching process). Their dynamics (each regime's daily log-return
drift and volatility, and the daily transition matrix) are fitted to the run's **fit rows only**: the labelled
days of the pooled series strictly before the fit end, labelled from prices before the selection block. So no
selection or validation price shapes them. The generated markets are labelled the way the scored series is:
by the same ex-post label function (features.regime_labels, fixed thresholds even under
`label_thresholds: volatility_scaled`) on a real asset, by their generating regimes when
the scored series is itself a generated market with known regimes. Then the usual training (fine-tuning)
starts from the pretrained weights, its epoch chosen on the selection block as always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

# labelled days of each generated market (after the features' warm-up) and passes over them: kept in
# regime_data.py, where regime.py's time estimate counts them without importing numpy
from .regime_data import PRETRAIN_DAYS, PRETRAIN_EPOCHS

if TYPE_CHECKING:
    from ..data.synth import SwitchingParams

PSEUDO_COUNT = 0.1  # per cell of the transition counts: a regime change never seen is rare, not impossible


@dataclass
class FittedDynamics:
    """The switching parameters and what they were fitted on."""

    params: SwitchingParams
    rows: int  # labelled returns used
    last_day: str  # the latest day whose return was used: before the run's fit end
    missing: list[str]  # regimes with no fit rows, left at the generator's defaults

    def as_dict(self) -> dict:
        return {
            "drift": list(self.params.drift),
            "vol": list(self.params.vol),
            "transition": [list(r) for r in self.params.transition],
            "rows": self.rows,
            "last_day": self.last_day,
            "defaults_for": self.missing,
        }


def fit_dynamics(series: list[tuple]) -> FittedDynamics:
    """Drift, volatility and transitions per regime from (dates, close, labels, rows) of each series, where
    `rows` are its fit rows and `labels` their labels; a return counts when both its days are fit rows."""
    from .. import features as F
    from ..data.synth import SwitchingParams

    returns: list[list[float]] = [[] for _ in F.REGIMES]
    counts = np.full((4, 4), PSEUDO_COUNT)
    used, last = 0, None
    for dates, close, labels, rows in series:
        rows = np.asarray(rows, dtype=int)
        pairs = rows[1:][np.diff(rows) == 1]  # day t with day t-1 also a fit row
        for t in pairs:
            a, b = labels[t - 1], labels[t]
            returns[b].append(float(np.log(close[t] / close[t - 1])))
            counts[a, b] += 1
        if len(pairs):
            used += len(pairs)
            day = dates[pairs[-1]]
            last = day if last is None or day > last else last
    default = SwitchingParams()
    seen = [len(r) >= 2 for r in returns]
    drift = tuple(float(np.mean(r)) if ok else d for r, ok, d in zip(returns, seen, default.drift))
    vol = tuple(float(np.std(r)) if ok else v for r, ok, v in zip(returns, seen, default.vol))
    rows_t = [
        tuple((c / c.sum()).tolist()) if ok else tuple(d)
        for c, ok, d in zip(counts, seen, default.transition)
    ]
    missing = [F.REGIMES[k] for k, ok in enumerate(seen) if not ok]
    return FittedDynamics(
        SwitchingParams(drift, vol, tuple(rows_t)),
        used,
        str(last.date()) if last is not None else "",
        missing,
    )


def generated_assets(fitted: FittedDynamics, markets: int, seed: int, ex_post: bool) -> list:
    """`markets` generated series with their labels: ex-post labels (ex_post) or the generating regimes."""
    from .. import features as F
    from ..data.store import Series
    from ..data.synth import generate
    from .regime_data import asset

    out = []
    for k in range(markets):
        frame, states = generate(F.REGIME_WARMUP_DAYS + PRETRAIN_DAYS, seed * 1000 + k, fitted.params)
        gen = asset(Series(f"PRE{k}", frame, "synthetic pretraining", True, {}), states)
        labels = F.regime_labels(gen.close) if ex_post else states
        out.append((gen, np.asarray(labels, dtype=int)))
    return out


def pretrain(model, x: np.ndarray, y: np.ndarray, config, seed: int, device: str, stop=None) -> int:
    """PRETRAIN_EPOCHS class-weighted passes over the generated rows; returns the epochs run."""
    import torch
    from torch import nn

    counts = np.bincount(y, minlength=4).astype(float)
    weights = np.where(counts > 0, len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    loss_weights = torch.as_tensor(weights, dtype=torch.float32, device=device)
    xt = torch.as_tensor(x, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(PRETRAIN_EPOCHS):
        if stop is not None and stop.requested:
            return epoch
        order = torch.randperm(len(yt), generator=gen)
        for start in range(0, len(yt), config.batch_size):
            batch = order[start : start + config.batch_size].to(device)
            loss = nn.functional.cross_entropy(model(xt[batch]), yt[batch], weight=loss_weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return PRETRAIN_EPOCHS


def run_pretraining(model, fit_parts, config, encode, seed, device, stop, ex_post: bool) -> dict | None:
    """Pretrain `model` in place when config.pretrain_markets > 0; returns what the version's spec records.
    fit_parts: (asset, fit rows, their labels) of each pooled series; encode: parts -> network inputs
    (normalised with the real fit rows' statistics)."""
    if not config.pretrain_markets:
        return None
    fitted = fit_dynamics([(a.dates, a.close, labels, rows) for a, rows, labels in fit_parts])
    generated = generated_assets(fitted, config.pretrain_markets, seed, ex_post)
    parts = [(g, np.nonzero(g.ok & (labels >= 0))[0], labels) for g, labels in generated]
    x = encode(parts)
    y = np.concatenate([labels[rows] for _, rows, labels in parts])
    epochs = pretrain(model, x, y, config, seed, device, stop)
    return {
        "markets": config.pretrain_markets,
        "days_each": PRETRAIN_DAYS,
        "rows": int(len(y)),
        "epochs": epochs,
        "labels": "ex-post (features.regime_labels)" if ex_post else "generating regimes",
        "dynamics": fitted.as_dict(),
    }
