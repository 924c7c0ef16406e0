"""A real Dask cluster for the tests: `dask scheduler` + 2 `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
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
    """One such cluster for the whole run, shared by the tests that only compare what it computes with the
    local executor: each task carries its own data, so nothing of one test reaches another's. Under xdist the
    first worker that needs it starts it and the last one done with it stops it (a count of users in a file
    under the run's temp folder, behind a lock), so two workers do not each start one: about 8 s of CPU (three
    Python processes, torch in each worker)."""
    pytest.importorskip("distributed", reason="the dask extra is not installed: pip install 'mltrain[dask]'")
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-dask"
    folder.mkdir(exist_ok=True)
    state_file = folder / "state.json"
    with _locked(folder / "lock"):
        state = json.loads(state_file.read_text()) if state_file.exists() else None
        if state is None:
            address, procs = _start(folder)
            _STARTED.update({p.pid: p for p in procs})
            state = {"address": address, "pids": [p.pid for p in procs], "users": 0}
        state["users"] += 1
        state_file.write_text(json.dumps(state))
    try:
        yield state["address"], {}
    finally:
        with _locked(folder / "lock"):
            state = json.loads(state_file.read_text())
            state["users"] -= 1
            if state["users"]:
                state_file.write_text(json.dumps(state))
            else:
                state_file.unlink()
                _stop([_STARTED.pop(pid, None) or pid for pid in state["pids"]])


_STARTED: dict[int, subprocess.Popen] = {}  # the shared cluster's processes this process started


@contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cluster(tmp_path: Path):
    pytest.importorskip("distributed", reason="the dask extra is not installed: pip install 'mltrain[dask]'")
    address, procs = _start(tmp_path)
    try:
        yield address, {p.pid: p for p in procs[1:]}
    finally:
        _stop(procs)


def _start(folder: Path) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and two workers; (its address without tcp://, [scheduler, worker, worker])."""
    import distributed

    dask = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    file = folder / "scheduler.json"
    file.unlink(missing_ok=True)  # a cluster started here before, and stopped
    logs = folder / "dask-logs"
    logs.mkdir(exist_ok=True)
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
        for name in ("w1", "w2"):
            # --no-nanny: killing the worker's process kills the worker (a nanny would restart it)
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
                        name,
                        "--host",
                        "127.0.0.1",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=open(logs / f"{name}.log", "w"),
                )
            )
        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
    except BaseException:
        _stop(procs)
        raise
    return address.removeprefix("tcp://"), procs


def _stop(procs: list[subprocess.Popen | int]) -> None:
    """SIGKILL (a process this one started, or a pid another xdist worker started): nothing of a test's
    cluster needs a graceful close, and a worker's SIGTERM shutdown took about 3 s."""
    for proc in procs:
        if isinstance(proc, int):
            try:
                os.kill(proc, signal.SIGKILL)
            except ProcessLookupError:
                pass
        elif proc.poll() is None:
            proc.kill()
    for proc in procs:
        if not isinstance(proc, int):
            proc.wait()
