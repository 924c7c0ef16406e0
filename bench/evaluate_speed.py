"""Wall time of a 5-fold walk-forward evaluation of each built-in model at the standard preset on CPU,
with one worker and with every core, measured side by side in one run.

Run: python bench/evaluate_speed.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

MODELS = ("btc_regime_detector", "volatility_forecaster")


def wall(model: str, workers: int) -> float:
    env = {**os.environ, "MLTRAIN_HOME": tempfile.mkdtemp()}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mltrain", "evaluate", model, "--folds", "5", "--preset", "standard",
                    "--workers", str(workers), "--json"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    cores = os.cpu_count() or 1
    print(f"{'model':24} {'1 worker s':>11} {f'{cores} workers s':>12} {'speed-up':>9}")
    for model in MODELS:
        one, many = wall(model, 1), wall(model, cores)
        print(f"{model:24} {one:11.1f} {many:12.1f} {one / many:9.2f}x")


if __name__ == "__main__":
    main()
