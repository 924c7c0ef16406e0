"""A real Dask cluster for the tests: `dask scheduler` + 2 `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).with_name("dask")  # the dask extra's command, beside this interpreter


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
    """One such cluster for the session, shared by the tests that only compare what it computes with the
    local executor: each task carries its own data, so nothing of one test reaches another's. Under `-n N` it
    is the one the xdist controller started for all its workers (`start_run_cluster`); otherwise this
    process starts its own. One cluster costs about 10 s of CPU (three Python processes, torch in each
    worker), so one per run rather than one per xdist worker."""
    distributed = _distributed()
    shared = os.environ.get(RUN_CLUSTER)
    if shared is None:
        yield from _cluster(tmp_path_factory.mktemp("dask"))
        return
    file = Path(shared)
    wait_for(lambda: file.exists() and file.stat().st_size > 0, "the run's scheduler file")
    address = json.loads(file.read_text())["address"]
    with distributed.Client(address, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
    yield address.removeprefix("tcp://"), {}


RUN_CLUSTER = "MLTRAIN_TEST_DASK_SCHEDULER_FILE"  # set by the xdist controller for its workers


def start_run_cluster() -> Callable[[], None] | None:
    """In the xdist controller, before its workers start: a scheduler and 2 workers for the whole run, left to
    boot while the workers collect; the workers find it through RUN_CLUSTER. Returns what stops it and
    removes its folder, or None when the dask extra is not installed (the fixture then skips)."""
    if importlib.util.find_spec("distributed") is None or not DASK.exists():
        return None  # the fixture then skips, or fails in the tests that need it, not in the whole run
    folder = Path(tempfile.mkdtemp(prefix="mltrain-test-dask-"))
    file = folder / "scheduler.json"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_scheduler(folder, file))
        procs += [_worker(folder, name, ["--scheduler-file", str(file)]) for name in ("w1", "w2")]
    except BaseException:
        _stop(procs)  # a worker that could not start leaves no scheduler behind
        shutil.rmtree(folder, ignore_errors=True)
        raise
    os.environ[RUN_CLUSTER] = str(file)

    def stop() -> None:
        _stop(procs)
        shutil.rmtree(folder, ignore_errors=True)

    return stop


def _distributed():
    return pytest.importorskip(
        "distributed", reason="the dask extra is not installed: pip install 'mltrain[dask]'"
    )


# On Linux the cluster's processes die with the process that started them, even by SIGKILL (a CI job killed
# on a timeout left its scheduler and workers running): a parent-death signal set before exec, which exec
# keeps; the check of the parent's pid covers a parent that died before the signal was set.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
    "os.getppid() == int(sys.argv[1]) or sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _command(args: list[str]) -> list[str]:
    if sys.platform != "linux":
        return [str(DASK), *args]
    return [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), str(DASK), *args]


def _popen(folder: Path, name: str, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    env.pop(RUN_CLUSTER, None)
    logs = folder / "dask-logs"
    logs.mkdir(exist_ok=True)
    with open(logs / f"{name}.log", "w") as log:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            _command(args),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _scheduler(folder: Path, file: Path) -> subprocess.Popen:
    args = [
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-dashboard",
        "--scheduler-file",
        str(file),
    ]
    return _popen(folder, "scheduler", args)


def _worker(folder: Path, name: str, where: list[str]) -> subprocess.Popen:
    # --no-nanny: killing the worker's process kills the worker (a nanny would restart it)
    args = ["worker", *where, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", name]
    return _popen(folder, name, [*args, "--host", "127.0.0.1"])


def _cluster(tmp_path: Path):
    distributed = _distributed()
    file = tmp_path / "scheduler.json"
    procs = [_scheduler(tmp_path, file)]
    try:
        wait_for(lambda: file.exists() and file.stat().st_size > 0, "the scheduler file")
        address = json.loads(file.read_text())["address"]
        workers = {}
        for name in ("w1", "w2"):
            worker = _worker(tmp_path, name, [address])
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
