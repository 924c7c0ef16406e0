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


# the seed values `defaults --json` pins (scripts read them); the built-in presets carry the improvements
# (presets/*.yaml, a `regime:` or `volatility:` section with a reason per value). Fields added later are
# applied to every run from `unlisted_defaults`, shown by `defaults` (text, --all), kept out of its JSON.
REGIME = declare(
    KindSpec(
        name="regime",
        defaults=dict(
            days=730,
            epochs=100,
            patience=15,
            batch_size=32,
            learning_rate=0.001,
            train_val_split=0.8,
            hidden_size=None,
            min_r2=None,
            symbols=None,
        ),
        # symbols: the training pool besides the scored asset (None, the seed's value: every real series)
        uses=("symbols", "label_thresholds", "encoder", "pretrain_markets", "exposure", "cost_bps"),
        unlisted_defaults={
            "label_thresholds": "fixed",
            "encoder": "mlp",
            "pretrain_markets": 0,
            "promotion_folds": 4,
            # the decision's fields (decision.py)
            "exposure": {"Bear": 0.0, "Correction": 1.0, "Bull": 1.0, "Expansion": 1.0},
            "cost_bps": 10.0,
        },
    )
)

VOLATILITY = declare(
    KindSpec(
        name="volatility",
        defaults=dict(
            days=365,
            epochs=100,
            patience=15,
            batch_size=32,
            learning_rate=0.001,
            train_val_split=0.8,
            hidden_size=64,
            min_r2=0.5,
            symbols=["BTC", "ETH", "SOL"],
        ),
        uses=("hidden_size", "min_r2", "symbols", "correction", "cost_bps", "target_vol", "max_leverage"),
        # target_vol stays unset: volatility targeting then aims at the asset's median realized volatility
        # over the training span (decision.py)
        unlisted_defaults={
            "correction": "off",
            "promotion_folds": 4,
            "cost_bps": 10.0,
            "max_leverage": 2.0,
        },
    )
)
