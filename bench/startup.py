"""CLI start-up: `mltrain --help`, `defaults`, `presets` and a TAB completion beside `python -c pass` and
`import torch`, side by side. Goal (issue 16): `--help`, `defaults` and completion under 150 ms.

Run: python bench/startup.py [repeats]

Round 0 is not timed: it writes the bytecode (PYTHONDONTWRITEBYTECODE is dropped for the commands, as an
installed package has its bytecode) and warms the file cache. `cpu s` is the user + system time of the
command; on a busy machine wall times stretch with the load while it barely moves.

Measured 2026-11-30 on the project's 2-core machine in a quiet minute (`python -c pass` 9 ms), 7 runs each,
bytecode cached, median seconds wall / cpu, before (3fc5017) and after issue 16's start-up work:

    command                                 before          after
    python -c pass                          0.009 / 0.009   0.009 / 0.009
    python -c 'import torch'                1.212 / 1.146   1.132 / 1.092
    mltrain --help                          0.239 / 0.237   0.099 / 0.098   ok
    mltrain defaults btc_regime_detector    0.276 / 0.275   0.107 / 0.105   ok
    mltrain presets                         0.281 / 0.279   0.176 / 0.175
    TAB: mltrain train btc<TAB>             0.239 / 0.238   0.073 / 0.072   ok

With other jobs keeping the load average at 8-11 the same commands took 2-3x the wall time (--help 0.331 s,
defaults 0.395 s, TAB 0.232 s; `python -c pass` 0.028 s) while cpu rose by a third at most (0.128, 0.136,
0.089 s).

Measured in-process (CPU, best of 9): Python itself 9 ms, `import typer` 30 ms, `import mltrain.cli` 12 ms;
then --help 31 ms (Rich's console, panels and tables, the screen), defaults 35 ms (Rich, yaml for the
presets, the table; 10 ms with --json), a TAB 9 ms. What went: numpy at the kinds' import (lazyimport.py),
pydantic through Typer's conversion of every parameter (cli/coercion.py), rich.markdown and rich.traceback
through typer.rich_utils (cli/richhelp.py), the registry module for a catalogue name.
`presets` is not under the goal: it validates a config per preset (pydantic) for its estimates.
"""

from __future__ import annotations

import os
import resource
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


def child_cpu_seconds() -> float:
    """User + system CPU time of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(repeats: int = 5) -> None:
    # what an installed mltrain has: bytecode written once (pip compiles it), so no run pays for compiling
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["MLTRAIN_HOME"] = tempfile.mkdtemp()
    wall: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpu: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for round_ in range(repeats + 1):  # interleaved so that machine noise hits every command alike
        for name, cmd in COMMANDS.items():
            extra = COMPLETION if name.startswith("TAB") else {}
            cpu_start, start = child_cpu_seconds(), time.perf_counter()
            subprocess.run(cmd, env={**env, **extra}, stdout=subprocess.DEVNULL, check=True)
            if round_:  # round 0 writes the bytecode and warms the file cache
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(child_cpu_seconds() - cpu_start)
    base = statistics.median(wall["python -c pass"])
    torch_time = statistics.median(wall["python -c 'import torch'"])
    print(f"{'command':40} {'median s':>9} {'cpu s':>7} {'x python':>9} {'x torch':>8}  goal")
    for name, values in wall.items():
        m = statistics.median(values)
        goal = (
            ""
            if name.startswith("python") or "presets" in name
            else ("ok" if m < GOAL_SECONDS else f"over {GOAL_SECONDS * 1000:.0f} ms")
        )
        c = statistics.median(cpu[name])
        print(f"{name:40} {m:9.3f} {c:7.3f} {m / base:9.1f} {m / torch_time:8.2f}  {goal}")
    if base > 0.015:
        print(
            f"python -c pass took {base * 1000:.0f} ms: the machine is busy and wall times stretch; "
            "the cpu column (user + system time of the command) changes much less with load"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
