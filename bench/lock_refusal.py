"""How long a second `train` of a model that is training takes to be refused (issue 13.4: < 1 s idle, < 5 s
under load): with the lock held by an idle process, while a training run uses the cores, and with one more
CPU-burning process per core on top.

Run: python bench/lock_refusal.py [repeats]
A long training run of btc_regime_detector is started in a temporary home (through tests/child_train.py, so
that should it finish first it stays paused in its commit, still holding the lock); once its job record says
"running" (an observable event), `mltrain train btc_regime_detector ... --yes` is started `repeats`
times, each timed from process start to exit (it must exit 2). Then one CPU-burning process per core is added
and the measure repeated. The first run is stopped with SIGTERM at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [
    "train",
    "btc_regime_detector",
    "--preset",
    "quick",
    "--days",
    "1825",
    "--epochs",
    "500",
    "--patience",
    "50",
    "--yes",
    "--quiet",
]


def burn(stop) -> None:  # type: ignore[no-untyped-def]
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def wait_running(home: Path, proc: subprocess.Popen) -> None:
    """Until the first run's job record says running (it holds the lock from before that point)."""
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the first training run ended early: {proc.communicate()}")
        for record in (home / "jobs").glob("*.json"):
            try:
                if json.loads(record.read_text()).get("status") == "running":
                    return
            except ValueError:  # being replaced right now
                pass
        time.sleep(0.05)  # polling an event, not synchronising on time


def refusals(env: dict, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "mltrain", *TRAIN], env=env, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 2:
            raise SystemExit(f"expected exit 2 (locked), got {done.returncode}: {done.stderr.strip()}")
    return times


def report(label: str, times: list[float]) -> None:
    print(f"{label:38} median {statistics.median(times):6.3f} s   max {max(times):6.3f} s   (n={len(times)})")


def main(repeats: int = 5) -> None:
    home = Path(tempfile.mkdtemp(prefix="mltrain-lock-bench-"))
    env = {
        **os.environ,
        "MLTRAIN_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    sys.path.insert(0, str(ROOT / "src"))
    from mltrain.paths import Home
    from mltrain.registry import Registry

    with Registry(Home(home)).lock("btc_regime_detector", {"job_id": "bench-holder"}):  # an idle holder
        report("refused, lock held by an idle process", refusals(env, repeats))
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.child_train", str(home / "signals"), *TRAIN],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_running(home, first)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        python_s = time.perf_counter() - start
        print(f"cores: {os.cpu_count()}; a bare `python -c pass`: {python_s:.3f} s")
        report("refused while a train runs", refusals(env, repeats))
        stop = multiprocessing.Event()
        burners = [multiprocessing.Process(target=burn, args=(stop,)) for _ in range(os.cpu_count() or 1)]
        for p in burners:
            p.start()
        try:
            report(f"... and {len(burners)} CPU burners", refusals(env, repeats))
        finally:
            stop.set()
            for p in burners:
                p.join()
    finally:
        first.send_signal(signal.SIGTERM)
        (home / "signals").mkdir(exist_ok=True)
        (home / "signals" / "release").touch()  # in case it was paused in its commit
        first.wait()
    print(f"first run after SIGTERM: exit {first.returncode} (130 expected)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
