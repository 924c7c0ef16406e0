"""Every config field's bounds and meaning (FIELDS), and the small declaration each model type makes below the
config: its name, defaults and the optional fields it applies. config.py layers and validates a run's values
from these alone, so it never imports kinds/ (which sit above it); each kind in kinds/ takes its declaration
from here, and a kind registered later (a plug-in or a test's toy kind) declares its own when it registers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# name: (lowest, highest, meaning); plain data, so help texts and `defaults` need no pydantic (start-up time)
FIELDS: dict[str, tuple[Any, Any, str]] = {
    "days": (90, 1825, "days of history used as samples"),
    "train_val_split": (0.6, 0.9, "chronological train share"),
    "epochs": (10, 500, "most passes over the training data; early stopping may end sooner"),
    "patience": (5, 50, "early-stopping patience in epochs"),
    "batch_size": (8, 256, "samples per optimizer step"),
    "learning_rate": (0.0001, 0.1, "Adam step size"),
    "hidden_size": (32, 256, "volatility models only: width of the correction network"),
    "min_r2": (
        -1.0,
        1.0,
        "volatility models only: promotion gate on every symbol's out-of-sample r2 of log vol, pooled over the "
        "promotion folds",
    ),
    "symbols": (
        None,
        None,
        "comma-separated, e.g. BTC,ETH; volatility models: the series forecast; regime models: the series the "
        "network learns from besides the scored asset (unset: every real series in the store)",
    ),
    "label_thresholds": (
        None,
        None,
        "regime models only: ex-post label thresholds, fixed (BTC's for every asset) or volatility_scaled "
        "(widened by the asset's trailing volatility relative to BTC's)",
    ),
    "encoder": (None, None, "regime models only: mlp (the day's summary features) or gru (the last 20 days)"),
    "pretrain_markets": (0, 64, "regime models only: generated markets to pretrain on"),
    "correction": (
        None,
        None,
        "volatility models only: off (forecast = the log-HAR base) or on (add the network's correction "
        "for a symbol whose selection QLIKE it cut by 2%)",
    ),
    "exposure": (
        None,
        None,
        "regime models only: the position held in each regime for the decision figures and predict "
        "(default Bear 0, Correction 1, Bull 1, Expansion 1)",
    ),
    "cost_bps": (0.0, 500.0, "decision figures: trading cost in basis points per unit of turnover"),
    "target_vol": (
        0.01,
        5.0,
        "volatility models only: annualized volatility that volatility targeting aims at (default: the "
        "asset's median realized volatility over the training span)",
    ),
    "max_leverage": (0.1, 10.0, "volatility models only: the highest weight volatility targeting takes"),
    "promotion_folds": (
        1,
        20,
        "walk-forward folds (the most recent) on which train compares the new version with production and "
        "the baselines before promoting it",
    ),
    "promotion_regime_days": (
        0,
        365,
        "regime models only: labelled days of every regime the promotion folds must hold; the check reaches "
        "back one older fold at a time (20 at most) until they do (0: the last promotion_folds folds, whatever "
        "they hold)",
    ),
}


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


def owned_fields() -> set[str]:
    """Fields some model types read their own way (a type's `uses`): kept in a type's section of a preset,
    searchable only for the types that use them."""
    return {f for spec in SPECS.values() for f in spec.uses}


def fewer_days(days: int | None) -> str:
    """The advice when the history is too short for `days`: fewer --days only while days is above its lowest."""
    if days is not None and days <= FIELDS["days"][0]:
        return f"import more history (--days {days} is the lowest allowed)"
    return "use fewer --days or import more history"


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
        uses=(
            "symbols",
            "label_thresholds",
            "encoder",
            "pretrain_markets",
            "exposure",
            "cost_bps",
            "promotion_regime_days",
        ),
        unlisted_defaults={
            "label_thresholds": "fixed",
            "encoder": "mlp",
            "pretrain_markets": 0,
            "promotion_folds": 4,
            # promotion evidence holds every regime: folds with no Bear day measure false alarms only
            "promotion_regime_days": 30,
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
        unlisted_defaults={
            "correction": "off",
            "promotion_folds": 4,
            "cost_bps": 10.0,
            # unset: volatility targeting aims at the asset's median realized volatility over the training
            # span (volatility_decision.py); listed so that `defaults` shows the field
            "target_vol": None,
            "max_leverage": 2.0,
        },
    )
)
