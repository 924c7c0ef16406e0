"""The small declaration each model type makes below the config: its name, defaults and the optional fields it
applies. config.py layers and validates a run's values from these alone, so it never imports kinds/ (which sit
above it); each kind in kinds/ takes its declaration from here, and a kind registered later (a plug-in or a
test's toy kind) declares its own when it registers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KindSpec:
    """What the config needs to know of one model type."""

    name: str
    # every TrainingConfig field, but a field added later (label_thresholds) only in the kinds that use it
    defaults: dict[str, Any]
    uses: tuple[str, ...] = ()  # optional config fields this type applies; other types refuse them
    # defaults of fields kept out of `defaults` (its JSON keeps the old API's shape): shown in its text
    unlisted_defaults: dict[str, Any] = field(default_factory=dict)


SPECS: dict[str, KindSpec] = {}


def declare(spec: KindSpec) -> KindSpec:
    """Make a model type's defaults and fields known to the config (the last declaration of a name wins)."""
    SPECS[spec.name] = spec
    return spec


REGIME = declare(
    KindSpec(
        name="regime",
        defaults=dict(
            days=730,
            epochs=100,
            patience=15,
            batch_size=256,
            learning_rate=0.001,
            train_val_split=0.8,
            hidden_size=None,
            min_r2=None,
            symbols=None,
            label_thresholds="fixed",
            encoder="mlp",
            pretrain_markets=0,
        ),
        uses=("label_thresholds", "encoder", "pretrain_markets", "exposure", "cost_bps"),
        # the decision's fields (decision.py) stay out of `defaults --json` (the old API's shape)
        unlisted_defaults={
            "exposure": {"Bear": 0.0, "Correction": 1.0, "Bull": 1.0, "Expansion": 1.0},
            "cost_bps": 10.0,
        },
    )
)

# days 730 with 0.9 in training: 73 validation days, so --folds all gives 20+ blocks on BTC's history
VOLATILITY = declare(
    KindSpec(
        name="volatility",
        defaults=dict(
            days=730,
            epochs=100,
            patience=15,
            batch_size=64,
            learning_rate=0.001,
            train_val_split=0.9,
            hidden_size=64,
            min_r2=0.5,
            symbols=["BTC", "ETH", "SOL"],
        ),
        uses=("hidden_size", "min_r2", "symbols", "correction", "cost_bps", "target_vol", "max_leverage"),
        # off unless set; `defaults --json` keeps the old API's shape (the decision's fields too: decision.py)
        unlisted_defaults={
            "correction": "off",
            "cost_bps": 10.0,
            "target_vol": "the asset's median realized volatility over the training span",
            "max_leverage": 2.0,
        },
    )
)
