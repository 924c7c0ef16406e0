"""One executor interface for independent, pure tasks: a local process pool or a Dask cluster.

A task is `fn(payload)` where `fn` is a module-level function importable on every worker and `payload` a
JSON-able mapping carrying everything the task needs (config JSON, candles as CSV text, seed, fold end):
workers need no shared disk and never write to the registry; results are plain dicts or bytes that the
calling process, the single writer, records. `run_tasks` submits, keeps task order, reports progress,
cancels pending tasks on a stop request and drops a second result of the same task by its spec hash.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Protocol

from .errors import Interrupted, MltrainError, UsageError, excerpt

POLL_SECONDS = 0.2  # how often run_tasks looks at the stop flag while tasks run
SPEC_FORMS = "local, local:N (N >= 1 processes) or dask://HOST:PORT"
DASK_HINT = "pip install 'mltrain[dask]'"
DASK_CONNECT_SECONDS = 5.0  # an unreachable or silent scheduler is said within this (docs/scale.md)


class StopRequest(Protocol):
    requested: bool


class TaskLost(MltrainError):
    """A worker died while holding a task; run_tasks submits the task again (a pure task may run twice)."""


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent, which terminates them; they also die with the parent (Linux)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # forked with the parent's handler; terminate() must kill
    if sys.platform.startswith("linux"):
        try:
            # PR_SET_PDEATHSIG: a SIGKILLed parent takes them along
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)
        except (OSError, AttributeError):
            pass  # best effort only: without it, a parent killed by SIGKILL can leave idle workers behind


class InlineExecutor(cf.Executor):
    """One worker: the task runs in this process when submitted (run_tasks then submits one at a time)."""

    capacity = 1
    description = "local:1 (in this process)"

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: B036 - handed to the caller through the future, as a pool would
            future.set_exception(exc)
        return future

    def terminate(self) -> None:
        pass


def _pool_context(preload: tuple[str, ...]) -> multiprocessing.context.BaseContext:
    """Workers start from a fork server, not a fork of this process: a process that has trained with torch
    holds thread pools that a plain fork copies in a locked state (the child can hang). The server imports the
    caller's `preload` modules (and with them torch) once, so each worker starts in milliseconds all the same;
    the caller names them, so this module never names one above it."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context()  # macOS/Windows: spawn, the platform default
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


class LocalExecutor(cf.ProcessPoolExecutor):
    """A process pool like evaluate's: workers ignore Ctrl-C, keep SIGTERM's default, die with the parent."""

    def __init__(self, workers: int, preload: tuple[str, ...] = ()):
        super().__init__(max_workers=workers, mp_context=_pool_context(preload), initializer=_worker_init)
        self.capacity = workers
        self.description = f"local:{workers}"

    def terminate(self) -> None:
        """Stop running tasks too: cancel_futures only drops the queued ones."""
        terminate = getattr(super(), "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        for process in list((getattr(self, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()


def _probe(address: str, timeout_seconds: float) -> None:
    """One plain TCP connect first: distributed's Client retries a refused connection until its timeout
    (30 s by default), while a scheduler that is not there refuses at once."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_seconds).close()
    except OSError as exc:
        raise UsageError(
            f"cannot reach the Dask scheduler at tcp://{address}: {exc.strerror or exc}; start it with "
            "`dask scheduler` and point --executor at its address"
        ) from None


class DaskExecutor(cf.Executor):
    """A distributed.Client's concurrent.futures view; shutdown cancels what is pending, closes the client."""

    capacity = None  # the scheduler queues and balances; run_tasks submits everything at once

    def __init__(self, address: str, timeout_seconds: float = DASK_CONNECT_SECONDS):
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(f"--executor dask://{address} needs the dask extra: {DASK_HINT}") from None
        _probe(address, timeout_seconds)
        try:
            self.client = Client(address, timeout=timeout_seconds, set_as_default=False)
        except OSError as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at tcp://{address}: {exc}; start it with "
                "`dask scheduler` and point --executor at its address"
            ) from None
        self._executor = self.client.get_executor(pure=False)
        self.description = f"dask://{address}"

    @property
    def workers(self) -> int:
        return sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values())

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        return self._executor.submit(fn, *args, **kwargs)

    def terminate(self) -> None:
        pass  # cancelling the futures cancels the tasks on the cluster

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait)
        self.client.close()


def make_executor(spec: str | None, workers_default: int = 0, preload: tuple[str, ...] = ()) -> cf.Executor:
    """`local` (workers_default, 0: every core), `local:N`, or `dask://HOST:PORT`; anything else exits 2.
    `preload`: modules a local pool's fork server imports once (the tasks' own module)."""
    text = (spec or "local").strip()
    if text.startswith("dask://"):
        address = text[len("dask://") :]
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"--executor {excerpt(text)} needs a host and a port, e.g. "
                f"dask://10.0.0.5:8786; allowed: {SPEC_FORMS}"
            )
        return DaskExecutor(address)
    workers = local_workers(text, workers_default)
    if workers is not None:
        return InlineExecutor() if workers == 1 else LocalExecutor(workers, preload)
    raise UsageError(f"--executor {excerpt(text)} is not understood; allowed: {SPEC_FORMS}")


def local_workers(spec: str | None, workers_default: int = 0) -> int | None:
    """The process count of a local executor spec (`local`: workers_default, 0: every core; `local:N`: N);
    None for anything else (a cluster, or a spec make_executor refuses)."""
    name, sep, count = (spec or "local").strip().partition(":")
    if name != "local" or sep and not (count.isdigit() and int(count) >= 1):
        return None
    return int(count) if sep else (workers_default or os.cpu_count() or 1)


def spec_hash(fn: Callable, payload: Any) -> str:
    """What a task is: its function and its canonical JSON payload. Two runs with one hash are one task."""
    try:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a task payload must be plain JSON (str, numbers, lists, dicts): {exc}") from None
    name = f"{fn.__module__}:{fn.__qualname__}"
    return hashlib.sha256(f"{name}\n{body}".encode()).hexdigest()


def _interrupted() -> Interrupted:
    return Interrupted("interrupted: pending tasks were cancelled; nothing was recorded")


def run_tasks(
    executor: cf.Executor,
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    on_done: Callable[[int, int], None] | None = None,
    stop: StopRequest | None = None,
    retries: int = 2,
) -> list:
    """Run fn(payload) for each task; results in task order. A task lost with its worker (TaskLost, a
    Dask KilledWorker) is submitted again up to `retries` times; a result whose spec hash already has one
    (the same payload twice, or a retry whose first run came back after all) is dropped. On `stop` the
    pending tasks are cancelled and Interrupted (exit 130) is raised; the first task error is re-raised."""
    hashes = [spec_hash(fn, payload) for payload in tasks]
    first_of: dict[str, int] = {}
    for index, key in enumerate(hashes):
        first_of.setdefault(key, index)
    queue = [(key, tasks[index]) for key, index in first_of.items()]
    total, results, tries = len(tasks), {}, dict.fromkeys(first_of, 0)
    capacity = getattr(executor, "capacity", None)
    window = 2 * capacity if capacity else max(1, len(queue))  # a bounded pool gets a few tasks ahead
    running: dict[cf.Future, str] = {}
    done_count = 0
    try:
        while queue or running:
            while queue and len(running) < window:
                if stop is not None and stop.requested:
                    raise _interrupted()
                key, payload = queue.pop(0)
                tries[key] += 1
                try:
                    running[executor.submit(fn, payload)] = key
                except BrokenProcessPool as exc:  # a worker died before every task was handed over
                    raise _worker_died() from exc
            finished, _ = cf.wait(list(running), timeout=POLL_SECONDS, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                try:
                    value = future.result()
                except (Exception, cf.CancelledError) as exc:  # cancelled elsewhere: a scheduler restart
                    if _is_lost(exc) and tries[key] <= retries and key not in results:
                        queue.append((key, tasks[first_of[key]]))
                        continue
                    if isinstance(exc, BrokenProcessPool):  # a pool cannot take the task again
                        raise _worker_died() from exc
                    raise
                if key in results:
                    continue  # a duplicate result of a retried task: the first one stands
                results[key] = value
                done_count += hashes.count(key)
                if on_done is not None:
                    on_done(done_count, total)
            if stop is not None and stop.requested:
                raise _interrupted()
        return [results[key] for key in hashes]
    finally:
        if running:  # interrupted or failed: nothing pending may go on running
            for future in running:
                future.cancel()
            terminate = getattr(executor, "terminate", None)
            if terminate is not None:
                terminate()


def _worker_died() -> MltrainError:
    return MltrainError("a local worker process died (killed, or out of memory); nothing was recorded")


def _is_lost(exc: BaseException) -> bool:
    if isinstance(exc, (TaskLost, cf.CancelledError)):
        return True
    return type(exc).__name__ == "KilledWorker"  # distributed's, without importing distributed here


@contextmanager
def stop_on_sigterm() -> Iterator[StopRequest]:
    """SIGTERM (a cron timeout, `kill`) sets a flag that stops run_tasks like Ctrl-C does."""

    class _Flag:
        requested = False

        def set(self, *_: object) -> None:
            self.requested = True

    flag = _Flag()
    previous = signal.signal(signal.SIGTERM, flag.set)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)
