"""What a stored regime version says for each day: its verdict, the network's own, the probabilities, the
rule's verdict beside it, the exposure its policy holds from that close, and which features lie outside the
range it was trained on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyimport import lazy_module
from .regime_model import DECISION, OOD_MARGIN

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")  # imported at first use: see lazyimport.py


def out_of_distribution(spec: dict, x: np.ndarray) -> list[list[str]]:
    """Per row, the features outside the range the version was trained on (by more than OOD_MARGIN of it)."""
    if "feature_min" not in spec:
        return [[] for _ in x]
    lo, hi = np.asarray(spec["feature_min"]), np.asarray(spec["feature_max"])
    margin = OOD_MARGIN * (hi - lo)
    outside = (x < lo - margin) | (x > hi + margin)
    return [[spec["features"][j] for j in np.nonzero(row)[0]] for row in outside]


def predict_rows(model, meta: dict, store, since: str | None) -> list[dict]:
    """The version's regime, probabilities, the rule's verdict and the exposure to hold, per day."""
    import torch

    from .. import features as F
    from ..errors import DataError
    from ..pipeline import history, since_positions
    from .regime_data import decide
    from .regime_decision import decided_exposure
    from .regime_seq import predict_inputs

    spec = meta["spec"]
    symbol = spec["symbol"]
    frame, _, _ = history(store.load(symbol))
    table = F.regime_features(frame)
    rule = F.rule_detector(table)  # the causal rule, shown beside the model for every date
    feats = table[spec["features"]].to_numpy()  # the columns, in the order, the version was trained on
    first_ok = int(np.argmax(~np.isnan(feats).any(axis=1)))
    if np.isnan(feats[-1]).any():
        raise DataError(f"{symbol}: not enough history for regime features ({len(frame)} days)")
    first = max(first_ok, F.REGIME_WARMUP_DAYS)
    pos = since_positions(frame.index, since, first)
    # the policy's exposure may depend on earlier days (hysteresis): it runs from the first usable day
    every = np.arange(first, len(frame)) if "policy" in spec else pos
    x = predict_inputs(spec, frame, feats, every)
    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(x, dtype=torch.float32)), dim=1).numpy()
    network = probs.argmax(axis=1)
    verdict = decide(network, rule[every]) if spec.get("decision") == DECISION else network
    exposure = decided_exposure(spec, meta.get("config") or {}, probs, verdict, rule[every])
    keep = np.searchsorted(every, pos)
    probs, network, verdict, exposure = probs[keep], network[keep], verdict[keep], exposure[keep]
    unseen = out_of_distribution(spec, feats[pos])
    regimes = spec["regimes"]
    return [
        {
            "symbol": symbol,
            "date": str(frame.index[p].date()),
            "regime": regimes[int(v)],
            "network_regime": regimes[int(n)],
            "probabilities": {r: round(float(q), 4) for r, q in zip(regimes, row)},
            "rule_regime": F.REGIMES[int(rule[p])],
            "exposure": round(float(e), 4),  # the position to hold from this day's close
            "out_of_distribution": bool(u),
            "unseen_features": u,
        }
        for p, v, n, row, u, e in zip(pos, verdict, network, probs, unseen, exposure)
    ]
