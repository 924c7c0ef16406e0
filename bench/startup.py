"""CLI start-up: `mltrain --help`, `defaults`, `presets` and a TAB completion beside `python -c pass` and
`import torch`, side by side. Goal (issue 16): `--help`, `defaults` and completion under 150 ms.

Run: python bench/startup.py [repeats]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "mltrain --help": [sys.executable, "-m", "mltrain", "--help"],
    "mltrain defaults btc_regime_detector": [
        sys.executable,
        "-m",
        "mltrain",
        "defaults",
        "btc_regime_detector",
    ],
    "mltrain presets": [sys.executable, "-m", "mltrain", "presets"],
    "TAB: mltrain train btc<TAB>": [sys.executable, "-m", "mltrain"],
}
# what a shell's completion script sets for `mltrain train btc<TAB>`
COMPLETION = {"_MLTRAIN_COMPLETE": "complete_bash", "COMP_WORDS": "mltrain train btc", "COMP_CWORD": "2"}
GOAL_SECONDS = 0.150


def main(repeats: int = 5) -> None:
    env = {**os.environ, "MLTRAIN_HOME": tempfile.mkdtemp()}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(repeats):  # interleaved so that machine noise hits every command alike
        for name, cmd in COMMANDS.items():
            start = time.perf_counter()
            extra = COMPLETION if name.startswith("TAB") else {}
            subprocess.run(cmd, env={**env, **extra}, stdout=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    torch_time = statistics.median(times["python -c 'import torch'"])
    print(f"{'command':40} {'median s':>9} {'x python':>9} {'x torch':>8}  goal")
    for name, values in times.items():
        m = statistics.median(values)
        goal = (
            ""
            if name.startswith("python") or "presets" in name
            else ("ok" if m < GOAL_SECONDS else f"over {GOAL_SECONDS * 1000:.0f} ms")
        )
        print(f"{name:40} {m:9.3f} {m / base:9.1f} {m / torch_time:8.2f}  {goal}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
