"""Wall time of one walk-forward evaluation through the CLI on `--executor local:1` and `local:2`, side by
side in one run, with the machine's load beside it (the goal: >= 1.7x with 2 workers on an idle 2-core
machine).

The evaluation is the volatility forecaster's default config (730 days, up to 100 epochs, patience 15,
BTC/ETH/SOL pooled) over its 10 most recent folds, seed 42. Both runs must give the same numbers.

Run: PYTHONPATH=src python bench/evaluate_speed.py [--model volatility_forecaster] [--folds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run(model: str, folds: int, executor: str) -> tuple[float, dict]:
    env = {**os.environ, "MLTRAIN_HOME": tempfile.mkdtemp(prefix="mltrain-bench-")}
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mltrain",
            "evaluate",
            model,
            "--folds",
            str(folds),
            "--executor",
            executor,
            "--quiet",
            "--json",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, json.loads(proc.stdout)["data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="volatility_forecaster")
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"{args.model}, default config, {args.folds} folds, seed 42; {cores} cores; load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    times, docs = {}, {}
    for executor in ("local:1", "local:2"):
        times[executor], docs[executor] = run(args.model, args.folds, executor)
        print(
            f"  {executor:8} {times[executor]:8.1f} s   (load average after: "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})",
            flush=True,
        )
    same = all(docs["local:1"][k] == docs["local:2"][k] for k in ("folds", "summary"))
    print(
        f"speed-up local:2 over local:1: {times['local:1'] / times['local:2']:.2f}x (goal >= 1.7x on an "
        f"idle 2-core machine); identical results: {same}"
    )


if __name__ == "__main__":
    main()
