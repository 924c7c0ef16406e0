"""The executor interface: spec parsing, run_tasks on the local pool, and on a real Dask cluster."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from mltrain.errors import ExitCode, Interrupted, MltrainError, UsageError
from mltrain.executors import (
    InlineExecutor,
    LocalExecutor,
    TaskLost,
    make_executor,
    run_tasks,
    spec_hash,
)
from tests import cluster
from tests.cluster import wait_for
from tests.scale_tasks import dying_task, failing_task, gated_task, matrix_task

dask_cluster = cluster.dask_cluster  # the fixture, shared with test_sweep.py
TASKS = [{"seed": s, "n": 40} for s in range(8)]


# ---------------------------------------------------------------- specs


def test_specs_pick_the_executor() -> None:
    assert isinstance(make_executor("local:1"), InlineExecutor)
    with make_executor("local:2") as pool:
        assert isinstance(pool, LocalExecutor) and pool.capacity == 2
    with make_executor(None, workers_default=3) as pool:
        assert pool.capacity == 3


@pytest.mark.parametrize(
    "spec", ["local:0", "local:x", "remote", "dask://nohost", "dask://h:99999", "local:"]
)
def test_bad_spec_is_a_usage_error_listing_the_forms(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        make_executor(spec)
    assert info.value.exit_code == ExitCode.USAGE
    assert "local:N" in str(info.value) and "dask://HOST:PORT" in str(info.value)


def test_payload_must_be_plain_json() -> None:
    with pytest.raises(TypeError, match="plain JSON"):
        spec_hash(matrix_task, {"x": object()})
    assert spec_hash(matrix_task, {"a": 1, "b": 2}) == spec_hash(matrix_task, {"b": 2, "a": 1})


# ---------------------------------------------------------------- run_tasks, local


@pytest.mark.parametrize("spec", ["local:1", "local:2"])
def test_results_in_task_order_with_progress(spec: str) -> None:
    seen: list[tuple[int, int]] = []
    with make_executor(spec) as pool:
        out = run_tasks(pool, matrix_task, TASKS, on_done=lambda k, n: seen.append((k, n)))
    assert out == [matrix_task(t) for t in TASKS]
    assert [k for k, _ in seen] == list(range(1, 9)) and {n for _, n in seen} == {8}


def test_the_same_task_twice_runs_once_and_fills_both_places(tmp_path: Path) -> None:
    (tmp_path / "release").touch()
    a, b = ({"seed": s, "n": 10, "folder": str(tmp_path)} for s in (1, 2))
    with make_executor("local:2") as pool:
        out = run_tasks(pool, gated_task, [a, b, a])
    assert out[0] == out[2] == matrix_task(a) and out[1] == matrix_task(b)
    assert len(list(tmp_path.glob("started-1-*"))) == 1  # the duplicate was never run


class _LosesFirstTry(ThreadPoolExecutor):
    """Loses the first submission of seed 3 as a dead worker would; runs every other one."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.lost = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        if args[0]["seed"] == 3 and not self.lost:
            self.lost += 1
            future: Future = Future()
            future.set_exception(TaskLost("worker died"))
            return future
        return super().submit(fn, *args, **kwargs)


def test_a_lost_task_is_retried_and_gives_the_same_result() -> None:
    with _LosesFirstTry() as pool:
        assert run_tasks(pool, matrix_task, TASKS) == [matrix_task(t) for t in TASKS]
        assert pool.lost == 1


def test_a_task_error_is_raised_and_the_rest_cancelled() -> None:
    tasks = [{**t, "fail": 2} for t in TASKS]
    with make_executor("local:1") as pool, pytest.raises(ValueError, match="task 2 failed"):
        run_tasks(pool, failing_task, tasks)


def test_a_local_worker_killed_mid_task_is_one_clear_error() -> None:
    tasks = [{**t, "die": 3} for t in TASKS]
    with make_executor("local:2") as pool, pytest.raises(MltrainError, match="a local worker process died"):
        run_tasks(pool, dying_task, tasks)


class _BreaksAfter(ThreadPoolExecutor):
    """A pool that breaks as a process pool does when a worker dies while tasks are still being handed over:
    its next submit raises BrokenProcessPool (the timing a real dying worker hits only sometimes)."""

    def __init__(self, accepted: int):
        super().__init__(max_workers=1)
        self.accepted, self.capacity = accepted, 8

    def submit(self, fn, /, *args, **kwargs):
        from concurrent.futures.process import BrokenProcessPool

        if self.accepted == 0:
            raise BrokenProcessPool("A child process terminated abruptly")
        self.accepted -= 1
        return super().submit(fn, *args, **kwargs)


def test_a_pool_broken_while_tasks_are_handed_over_is_the_same_clear_error() -> None:
    with _BreaksAfter(accepted=2) as pool, pytest.raises(MltrainError, match="a local worker process died"):
        run_tasks(pool, matrix_task, TASKS)


class _StopWhen:
    """A stop flag whose request is an observable event: `count` tasks have started."""

    def __init__(self, folder: Path, count: int):
        self.folder, self.count = folder, count

    @property
    def requested(self) -> bool:
        return len(list(self.folder.glob("started-*"))) >= self.count


def test_stop_cancels_pending_tasks_and_terminates_running_ones(tmp_path: Path) -> None:
    tasks = [{"seed": s, "n": 10, "folder": str(tmp_path)} for s in range(6)]
    pool = make_executor("local:2")
    with pytest.raises(Interrupted) as info:
        run_tasks(pool, gated_task, tasks, stop=_StopWhen(tmp_path, 2))
    assert info.value.exit_code == ExitCode.INTERRUPTED and "nothing was recorded" in str(info.value)
    pool.shutdown(wait=True)  # returns: the gated workers were terminated, not left waiting for "release"
    started = list(tmp_path.glob("started-*"))
    assert len(started) == 2  # nothing pending went on to run
    for marker in started:
        pid = int(marker.name.rsplit("-", 1)[1])
        wait_for(lambda p=pid: not _alive(p), f"worker {pid} to end")


def test_inline_stop_between_tasks(tmp_path: Path) -> None:
    (tmp_path / "release").touch()
    tasks = [{"seed": s, "n": 10, "folder": str(tmp_path)} for s in range(5)]
    with pytest.raises(Interrupted):
        run_tasks(InlineExecutor(), gated_task, tasks, stop=_StopWhen(tmp_path, 1))
    assert len(list(tmp_path.glob("started-*"))) == 1


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------- a real Dask cluster


def test_dask_gives_exactly_the_local_results(shared_dask_cluster) -> None:
    address, _ = shared_dask_cluster
    with make_executor("local:2") as pool:
        local = run_tasks(pool, matrix_task, TASKS)
    seen: list[int] = []
    with make_executor(f"dask://{address}") as cluster:
        assert cluster.workers == 2
        remote = run_tasks(cluster, matrix_task, TASKS, on_done=lambda k, n: seen.append(k))
    assert remote == local and seen == list(range(1, 9))


def test_killing_a_dask_worker_mid_run_retries_its_task_elsewhere(dask_cluster, tmp_path: Path) -> None:
    address, workers = dask_cluster
    folder = tmp_path / "gate"
    folder.mkdir()
    tasks = [{"seed": s, "n": 30, "folder": str(folder)} for s in range(6)]

    def kill_one_then_release() -> None:
        # both workers hold a task (each marker names its worker's pid); kill one of them mid-task
        wait_for(
            lambda: len({m.name.rsplit("-", 1)[1] for m in folder.glob("started-*")}) == 2,
            "both workers to start a task",
        )
        victim = next(m for m in folder.glob("started-*"))
        pid = int(victim.name.rsplit("-", 1)[1])
        workers[pid].kill()
        workers[pid].wait()
        killed.append(victim.name.split("-")[1])
        (folder / "release").touch()

    killed: list[str] = []
    helper = threading.Thread(target=kill_one_then_release)
    helper.start()
    with make_executor(f"dask://{address}") as cluster:
        out = run_tasks(cluster, gated_task, tasks)
    helper.join()
    assert out == [matrix_task(t) for t in tasks]
    seed = killed[0]
    assert len(list(folder.glob(f"started-{seed}-*"))) == 2  # the killed worker's task ran again elsewhere
