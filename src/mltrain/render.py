"""JSON envelopes for scripts; the tables people read are in cli/render.py."""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import MltrainError


def _non_finite(value: Any, where: str) -> tuple[str, float] | None:
    """The first NaN or infinity in a JSON-bound value, with its path (data.metrics.r2)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where, value
    if isinstance(value, dict):
        items = value.items()
    else:
        items = enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _non_finite(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}")
        if found:
            return found
    return None


def envelope(data: Any) -> str:
    """One JSON document; never NaN or Infinity (not JSON): a non-finite number is a bug to fix at its cause,
    so it fails here naming the key instead of reaching a script as invalid JSON."""
    try:
        return json.dumps({"ok": True, "data": data}, default=str, allow_nan=False)
    except ValueError:
        found = _non_finite(data, "data")
        if found is None:
            raise
        raise MltrainError(
            f"internal error: {found[0]} is {found[1]}, which JSON cannot represent; nothing was printed"
        ) from None


def error_envelope(message: str) -> str:
    return json.dumps({"ok": False, "error": message}, allow_nan=False)
