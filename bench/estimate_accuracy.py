"""Estimated vs actual duration for each preset and model type: from the probe alone, then from history.

Run: python bench/estimate_accuracy.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

PRESETS = ("quick", "standard", "full", "deep")
MODELS = (("btc_regime_detector", []), ("volatility_forecaster", ["--min-r2", "0"]))


def train(home: str, model: str, preset: str, extra: list[str]) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltrain",
            "train",
            model,
            "--preset",
            preset,
            "--yes",
            "--json",
            "--device",
            "cpu",
            *extra,
        ],
        env={**os.environ, "MLTRAIN_HOME": home},
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["data"]


def main() -> None:
    """Pass 1: a fresh home per run, so every estimate is the probe's. Pass 2: one home that already holds
    the pass-1 runs of every preset, so estimates come from history."""
    warm = tempfile.mkdtemp()
    print(f"{'model':24} {'preset':9} {'basis':8} {'estimated s':>12} {'actual s':>9} {'ratio':>6}")
    for label in ("probe", "history"):
        for model, extra in MODELS:
            for preset in PRESETS:
                home = tempfile.mkdtemp() if label == "probe" else warm
                data = train(home, model, preset, extra)
                if label == "probe":
                    train(warm, model, preset, extra)  # history for pass 2
                est, act = data["estimated_seconds"], data["duration_seconds"]
                print(f"{model:24} {preset:9} {label:8} {est:12.1f} {act:9.1f} {est / max(act, 1e-9):6.2f}")


if __name__ == "__main__":
    main()
