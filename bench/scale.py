"""Scale-out benchmark: the same 20 walk-forward fold trainings on 1 and 2 local workers and on a 2-worker
Dask cluster started here on 127.0.0.1, speed-ups side by side, plus a paper estimate for a big sweep.

    PYTHONPATH=src python bench/scale.py [--tasks 20] [--stand-in] [--no-dask]

Each task is a real fold: a regime model trained and scored through the kinds API (KINDS[kind].fold) in a
throw-away home rebuilt from the candles the task carries, like a remote worker would. If that API is not
callable here (it is being rewritten), or with --stand-in, a torch stand-in of similar cost runs instead and
the output says so. Every task uses one torch thread, so the speed-up measures parallel tasks only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mltrain.executors import make_executor, run_tasks  # noqa: E402

MODEL, KIND = "btc_regime_detector", "regime"
QUICK = {"days": 365, "epochs": 100, "patience": 50}  # patience 50: most folds run (nearly) all epochs


def fold_task(payload: dict) -> dict:
    """One real walk-forward fold, pure: candles in, metrics out; nothing outside a temp folder is written."""
    import pandas as pd
    import torch

    from mltrain.config import TrainingConfig
    from mltrain.data.carry import unpacked
    from mltrain.data.store import DataStore
    from mltrain.kinds import KINDS

    torch.set_num_threads(1)
    config = TrainingConfig.model_validate_json(payload["config"])
    with unpacked(payload["candles"]) as home:
        fold = KINDS[payload["kind"]].fold(
            DataStore(home),
            payload["model"],
            config,
            payload["seed"],
            pd.Timestamp(payload["end"]),
            None,
            payload["folds"],
        )
    return json.loads(json.dumps({"metrics": fold["metrics"]}, default=str))


def stand_in_task(payload: dict) -> dict:
    """A torch stand-in: a small MLP trained for a fixed number of steps on seeded random data."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(payload["seed"])
    x, y = torch.randn(2048, 32), torch.randn(2048, 1)
    net = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(payload["steps"]):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    return {"loss": round(float(loss), 10)}


def real_tasks(count: int) -> list[dict]:
    from mltrain.config import TrainingConfig
    from mltrain.data.carry import pack
    from mltrain.data.store import DataStore
    from mltrain.evaluate import fold_ends
    from mltrain.kinds import KINDS
    from mltrain.paths import Home

    config = TrainingConfig(**{**KINDS[KIND].defaults, **QUICK})
    with tempfile.TemporaryDirectory() as folder:
        store = DataStore(Home(Path(folder)))
        first, last = KINDS[KIND].evaluation_span(store, MODEL, config, None, count)
        candles = pack(store, KINDS[KIND].symbols(MODEL, config))
    return [
        {
            "kind": KIND,
            "model": MODEL,
            "config": config.model_dump_json(),
            "seed": 42,
            "end": str(end.date()),
            "folds": count,
            "candles": candles,
        }
        for end in fold_ends(first, last, config, count)
    ]


def start_cluster(workers: int, folder: Path) -> tuple[str, list[subprocess.Popen]]:
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "bench")])}
    file = folder / "scheduler.json"
    procs = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(file),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    while not (file.exists() and file.stat().st_size):
        time.sleep(0.05)  # polls for the scheduler file
    address = json.loads(file.read_text())["address"]
    for k in range(workers):
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{k}",
                    "--host",
                    "127.0.0.1",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address.removeprefix("tcp://"), procs


def timed(spec: str, fn, tasks: list[dict]) -> tuple[float, list]:
    with make_executor(spec) as pool:
        # start the workers (and let them import torch) outside the timing
        run_tasks(pool, stand_in_task, [{"seed": -k, "steps": 1} for k in range(4)])
        start = time.perf_counter()
        out = run_tasks(
            pool, fn, tasks, on_done=lambda k, n: print(f"  {spec}: {k}/{n}", end="\r", file=sys.stderr)
        )
        return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--stand-in", action="store_true", help="Use the torch stand-in, not real folds.")
    parser.add_argument("--steps", type=int, default=400, help="Stand-in optimizer steps per task.")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    fn, what, tasks = stand_in_task, "torch stand-in (no real fold)", None
    if not args.stand_in:
        try:
            tasks = real_tasks(args.tasks)
            fold_task(tasks[-1])  # also checks the kinds API is callable as this bench expects
            fn, what = fold_task, f"real walk-forward folds ({MODEL}, {QUICK})"
        except (TypeError, KeyError, AttributeError, ImportError) as exc:
            print(
                f"real fold not callable here ({type(exc).__name__}: {exc}); using the stand-in",
                file=sys.stderr,
            )
    if fn is stand_in_task:
        tasks = [{"seed": k, "steps": args.steps} for k in range(args.tasks)]
    print(f"workload: {len(tasks)} tasks of {what}; {os.cpu_count()} cores; 1 torch thread per task")
    rows, results = [], {}
    for spec in ("local:1", "local:2"):
        seconds, results[spec] = timed(spec, fn, tasks)
        rows.append((spec, seconds))
    procs: list[subprocess.Popen] = []
    if not args.no_dask:
        try:
            with tempfile.TemporaryDirectory() as folder:
                address, procs = start_cluster(2, Path(folder))
                seconds, results["dask"] = timed(f"dask://{address}", fn, tasks)
                rows.append(("dask, 2 workers", seconds))
        except ImportError:
            print("dask skipped: pip install 'mltrain[dask]'")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait()
    base = rows[0][1]
    print(f"\n{'executor':<18}{'seconds':>10}{'per task':>10}{'speed-up':>10}")
    for name, seconds in rows:
        print(f"{name:<18}{seconds:>10.1f}{seconds / len(tasks):>10.2f}{base / seconds:>9.2f}x")
    same = all(r == results["local:1"] for r in results.values())
    print(f"identical results on every executor: {'yes' if same else 'NO'}")
    per_task = base / len(tasks)
    efficiency = (base / rows[1][1]) / 2
    total = 100 * 20 * 50
    print(
        f"\npaper estimate: 100 symbols x 20 folds x 50 trials = {total:,} tasks of {per_task:.2f} s "
        f"(measured on local:1, 1 thread); measured 2-worker efficiency here {efficiency:.0%} "
        f"(a shared or busy machine lowers it; load average now {os.getloadavg()[0]:.1f})"
    )
    print(f"  {'workers':>8}{'ideal h':>10}{'at ' + format(efficiency, '.0%'):>10}")
    for workers in (1, 2, 8, 32, 128):
        ideal = total * per_task / workers / 3600
        print(f"  {workers:>8}{ideal:>10.1f}{ideal / (efficiency if workers > 1 else 1):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
