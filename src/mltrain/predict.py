"""Causal predictions from a stored version on the current data store, with the age of the data they use."""

from __future__ import annotations

import datetime

from .data.store import STALE_DATA_DAYS, DataStore
from .kinds import KINDS
from .registry import Registry


def predict(
    registry: Registry,
    store: DataStore,
    model: str,
    version: int | None,
    symbol: str | None,
    since: str | None,
) -> tuple[dict, str | None]:
    """The prediction rows of a version (production by default) and a warning when the data is behind."""
    v = registry.require_version(model, version)
    meta, tensors = registry.load(model, v)
    rows = KINDS[meta["model_type"]].predict(meta, tensors, store, symbol, since)
    for row in rows:  # on or before the version's validation end: inside what it was fitted or selected on
        row["in_sample"] = row["date"] <= validation_end(meta, row["symbol"])
    last = max(r["date"] for r in rows)
    age = (store.today.date() - datetime.date.fromisoformat(last)).days
    warning = None
    if age > STALE_DATA_DAYS:
        warning = (
            f"the latest candle is {last}, {age} days before today (UTC); these predictions are for "
            "that date. Fetch newer candles with `mltrain data update`, or import a file with `mltrain "
            "data import FILE --symbol SYMBOL --merge`"
        )
    return {
        "model_name": model,
        "model_type": meta["model_type"],
        "version": v,
        "last_data_date": last,
        "data_age_days": age,
        "predictions": rows,
    }, warning


def validation_end(meta: dict, symbol: str) -> str:
    """The last day of a version's validation block for a symbol (its data window's last day)."""
    window = meta["data_windows"][symbol]
    return (window.get("validation") or {}).get("last") or window["last"]
