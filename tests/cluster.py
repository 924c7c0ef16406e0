"""A real Dask cluster for the tests: `dask scheduler` + 2 `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def wait_for(predicate, what: str, limit_seconds: float = 120):
    """Poll an observable event (a file, a worker count); the limit only turns a hang into a failure."""
    deadline = time.monotonic() + limit_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)  # polls for the event
    return predicate()


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """`dask scheduler` + 2 `dask worker` processes on 127.0.0.1, port chosen by the scheduler: a cluster of
    the test's own, for a test that kills one of its workers."""
    yield from _cluster(tmp_path)


@pytest.fixture(scope="session")
def shared_dask_cluster(tmp_path_factory: pytest.TempPathFactory):
    """One such cluster for the session (for each xdist worker), shared by the tests that only compare what
    it computes with the local executor: each task carries its own data, so nothing of one test reaches
    another's. Starting one takes about 8 s of CPU (three Python processes, torch in each worker)."""
    yield from _cluster(tmp_path_factory.mktemp("dask"))


def _cluster(tmp_path: Path):
    distributed = pytest.importorskip(
        "distributed", reason="the dask extra is not installed: pip install 'mltrain[dask]'"
    )
    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
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
            stderr=open(logs / "scheduler.log", "w"),
        )
    ]
    try:
        wait_for(lambda: file.exists() and file.stat().st_size > 0, "the scheduler file")
        address = json.loads(file.read_text())["address"]
        workers = {}
        for name in ("w1", "w2"):
            # --no-nanny: killing the worker's process kills the worker (a nanny would restart it)
            worker = subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    name,
                    "--host",
                    "127.0.0.1",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(logs / f"{name}.log", "w"),
            )
            procs.append(worker)
            workers[worker.pid] = worker
        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        yield address.removeprefix("tcp://"), workers
    finally:
        _stop(procs)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGKILL: nothing of a test's cluster needs a graceful close, and a worker's SIGTERM shutdown took about
    3 s (a worker still running a test's held task closes only when that task ends)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        proc.wait()
