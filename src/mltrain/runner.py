"""One training job end to end: lock, job record, fit, gate, registry write, history. Raises, never exits."""

from __future__ import annotations

import csv
import io
import platform
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .clock import now_iso
from .config import EffectiveConfig
from .errors import Interrupted, MltrainError, TrainingError
from .estimate import Estimate, history_row
from .jobs import Jobs, app_logger, new_job_id
from .kinds import KINDS, EpochCallback
from .paths import Home
from .promotion import held_back
from .registry import Registry


@dataclass
class TrainRequest:
    model_name: str
    effective: EffectiveConfig
    seed: int
    device: str
    estimate: Estimate
    command: list[str]
    wait: bool = False
    on_epoch: EpochCallback | None = None  # the face's progress display observes every epoch
    before_commit: Callable[[], None] | None = None  # called while the version is staged (tests pause here)
    job_id: str | None = None  # the id the face took the model's lock under (model_lock); new when None
    promote: bool = True  # False (--no-promote): a version that passes its gate is saved as a candidate
    # the promotion check's folds still to score, as the face announced them before the run
    check_estimate_seconds: float = 0.0

    @property
    def estimated_seconds(self) -> float:
        """The whole run's estimate (training and promotion check), beside its whole duration."""
        return self.estimate.expected_seconds + self.check_estimate_seconds


@dataclass
class TrainOutcome:
    data: dict
    promoted: bool
    gate: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)  # data window per symbol, for the text summary
    warnings: list[str] = field(default_factory=list)  # what the run wants the user to know (stderr)
    promotion: dict = field(default_factory=dict)  # the champion/challenger evidence (promotion.py)


def _versions() -> dict:
    import numpy
    import pandas
    import pydantic
    import torch

    from . import __version__

    return {
        "mltrain": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "pydantic": pydantic.__version__,
        "python": platform.python_version(),
    }


def _history_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@contextmanager
def model_lock(
    home: Home, name: str, job_id: str, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """The model's lock for a training job, taken before anything slow (estimate probe, data, torch) and
    held until the version is committed. Re-entrant within a thread: run_training takes it again without
    a window in which another job could. With `wait`, a busy lock is logged once (a line tests and
    operators can see) and then waited for."""
    log = app_logger(home)

    def waiting(info: dict) -> None:
        holder = (
            f"job {str(info['job_id'])[:60]}"
            if "job_id" in info
            else f"`mltrain {str(info.get('command', '?'))[:60]}`"
        )
        message = f"model {name} is held by {holder} (pid {str(info.get('pid', '?'))[:20]})"
        log.info("job %s waiting for the lock on %s: %s", job_id, name, message)
        if on_wait is not None:
            on_wait(f"waiting: {message}")

    with Registry(home).lock(name, {"job_id": job_id}, wait, waiting):
        yield


def check_data(home: Home, model_name: str, effective: EffectiveConfig, today=None) -> str | None:
    """Name a missing symbol before the plan, the prompt or a job record; a warning when the data is old."""
    from .data.store import DataStore

    kind = KINDS[effective.model_type]
    symbols = kind.symbols(model_name, effective.config)
    store = DataStore(home, today=today)
    store.require(symbols, kind.symbols_reason(model_name, effective.sources))
    stale = store.stale(symbols)
    if not stale:
        return None
    # a cron job fed by a broken download keeps retraining on old data: say so every time
    listed = ", ".join(f"{symbol} {last.date()} ({age} days ago)" for symbol, last, age in stale)
    return (
        f"newest candles {listed}; the model will know nothing after them. Fetch newer candles with "
        "`mltrain data update` (or `mltrain train ... --update-data`), or import a file with "
        "`mltrain data import FILE --symbol SYMBOL --merge`"
    )


def record_failed_job(
    home: Home, job_id: str, name: str, eff: EffectiveConfig, command: list[str], error: str, started_at: str
):
    """A job that failed before training started (`train --update-data` whose download failed): its record
    says so, so `jobs list --status failed` shows what a cron run did, created when the run began (not when
    its download gave up, up to minutes later)."""
    jobs = Jobs(home)
    job = jobs.create(
        job_id, name, eff.model_type, eff.as_dict(), eff.has_custom_config, eff.sources, command
    )
    jobs.update(
        job, status="failed", created_at=started_at, started_at=started_at, finished_at=now_iso(), error=error
    )
    app_logger(home).error("job %s failed before training: %s", job_id, error)


def warm_up_optimizer() -> None:
    """torch imports its compiler (torch._dynamo, about 1 s) when the first optimizer is built. A run after a
    time-estimate probe found it imported and one without a probe paid for it inside the timed run, so the same
    config measured 1.3 s and then 2.0 s. Paid here, before the clock, it is process start-up like the other
    imports, which the estimate leaves out."""
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def run_training(home: Home, request: TrainRequest) -> TrainOutcome:
    """Lock, record the job, fit, gate, write the version and the run history; progress goes to the
    job log and to `request.on_epoch`."""
    from .data.store import DataStore
    from .train import StopFlag, cpu_threads

    cpu_threads()  # a bad MLTRAIN_CPU_THREADS is refused before any lock or job record
    eff, name = request.effective, request.model_name
    kind = KINDS[eff.model_type]
    registry, jobs, log = Registry(home), Jobs(home), app_logger(home)
    job_id = request.job_id or new_job_id()
    saved_then_stopped = ""  # a signal that landed while the version was being committed
    with model_lock(home, name, job_id, request.wait):
        _check_registry_files(registry, name)
        job = _create_job(jobs, log, job_id, request)
        stop = StopFlag()
        previous = {sig: signal.signal(sig, stop.set) for sig in (signal.SIGINT, signal.SIGTERM)}
        if kind.training_rows(eff.config) > 0:  # a run that trains no network never imports the compiler
            warm_up_optimizer()
        start = time.perf_counter()
        jobs.update(job, status="running", started_at=now_iso())
        try:
            store = DataStore(home)
            result = _fit(kind, store, jobs, job, request, stop)
            if result.interrupted:
                raise Interrupted("interrupted: training stopped after the current batch; nothing was saved")
            verdict = kind.gate(result.metrics, result.baselines, eff.config)
            check_start = time.perf_counter()
            evidence = champion_challenger(home, store, kind, name, eff.config, request.seed, registry)
            check_seconds = time.perf_counter() - check_start
            if evidence.pop("interrupted", False) or stop.requested:
                raise Interrupted("interrupted: stopped during the promotion check; nothing was saved")
            if evidence:  # the gate read the promotion folds; the validation block's gate stays beside it
                verdict = {**evidence["gate"], "validation_block": verdict}
            promote = bool(evidence.get("promote", verdict["passed"])) and request.promote
            if evidence.get("promote") and not request.promote:  # the record says what happened, and why
                evidence = held_back(evidence)
            total_seconds = time.perf_counter() - start
            seconds = {"total_seconds": total_seconds, "promotion_check_seconds": check_seconds}
            meta = _metadata(request, job, result, verdict, evidence, promote, seconds)
            if stop.requested:  # a signal after the last batch, before anything is written: save nothing
                raise Interrupted("interrupted before the version was saved; nothing was saved")
            version = registry.write_version(
                name, result.tensors, meta, _history_csv(result.history), pause_hook=request.before_commit
            )
            if promote:
                why = evidence.get("reason") if evidence else f"job {job['job_id']} passed its gate"
                registry.promote_version(name, version, reason=f"job {job['job_id']}: {why}")
            status = "completed" if verdict["passed"] else "rejected"
            if stop.requested:  # it landed during the commit: the version is whole, so keep it and say so
                saved_then_stopped = _saved_then_stopped(name, version, promote, verdict["passed"])
            jobs.update(job, status=status, finished_at=now_iso(), metrics=result.metrics, version=version)
            # the history paces training; the promotion folds are cached, so their time stays out of it
            _record_run(jobs, job, request, result, status, total_seconds - check_seconds)
            main = (kind.main_metric, result.metrics.get(kind.main_metric))
            log.info("job %s %s: version %s, %s", job["job_id"], status, version, main)
            if saved_then_stopped:
                log.info("job %s: %s", job["job_id"], saved_then_stopped)
        except Interrupted as exc:
            jobs.update(job, status="cancelled", finished_at=now_iso(), error=str(exc))
            log.info("job %s cancelled", job["job_id"])
            raise
        except MltrainError as exc:
            jobs.update(job, status="failed", finished_at=now_iso(), error=str(exc))
            log.error("job %s failed: %s", job["job_id"], exc)
            raise
        except Exception as exc:
            jobs.update(job, status="failed", finished_at=now_iso(), error=f"{type(exc).__name__}: {exc}")
            log.exception("job %s failed", job["job_id"])
            raise TrainingError(
                f"training failed: {type(exc).__name__}: {exc} (job {job['job_id']}, "
                f"log {jobs.log_path(job['job_id'])})"
            ) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if saved_then_stopped:  # never exit 0 after a signal: 130, naming the version that was kept
        raise Interrupted(saved_then_stopped)
    data = _result_data(request, job, result, status, version, promote, total_seconds)
    return TrainOutcome(data, promote, verdict, result.windows, result.warnings, evidence)


def _saved_then_stopped(name: str, version: int, promote: bool, passed: bool) -> str:
    where = (
        "and promoted to production"
        if promote
        else "as a candidate (not promoted)"
        if passed
        else "as rejected"
    )
    return f"interrupted while saving: v{version} of {name} was saved {where} before stopping"


def _result_data(
    request: TrainRequest, job: dict, result, status: str, version: int, promote: bool, seconds: float
) -> dict:
    """train's result document (`--json`; its keys are pinned by a contract test)."""
    eff = request.effective
    return {
        "job_id": job["job_id"],
        "model_name": request.model_name,
        "model_type": eff.model_type,
        "status": status,
        "created_at": job["created_at"],
        "has_custom_config": eff.has_custom_config,
        "version": version,
        "promoted": promote,
        "metrics": result.metrics,
        "baselines": result.baselines,
        "duration_seconds": round(seconds, 2),
        "estimated_seconds": round(request.estimated_seconds, 2),
    }


def _check_registry_files(registry: Registry, name: str) -> None:
    """A damaged aliases, counter or production metadata file fails now, not after training."""
    production = registry.aliases(name).get("production")
    registry._last_version(name)
    if production in registry.versions(name):
        registry.meta(name, production)


def _create_job(jobs: Jobs, log, job_id: str, request: TrainRequest) -> dict:
    """The job record (queued) and its two log lines: what runs and with which parameters."""
    eff, name = request.effective, request.model_name
    job = jobs.create(
        job_id, name, eff.model_type, eff.as_dict(), eff.has_custom_config, eff.sources, request.command
    )
    log.info(
        "job %s created for %s (%s) custom_config=%s",
        job["job_id"],
        name,
        eff.model_type,
        eff.has_custom_config,
    )
    log.info(
        "job %s parameters: %s preset=%s seed=%s device=%s",
        job["job_id"],
        " ".join(f"{k}={v}" for k, v in eff.as_dict().items()),
        eff.preset,
        request.seed,
        request.device,
    )
    return job


def _fit(kind, store, jobs: Jobs, job: dict, request: TrainRequest, stop):
    """The kind's training run, each epoch written to the job log and told to `request.on_epoch`."""
    from .progress import EpochLines
    from .train import seed_everything, use_cpu_threads

    eff, name = request.effective, request.model_name
    use_cpu_threads()
    seed_everything(request.seed)
    lines = EpochLines(
        symbols=kind.progress_units(name, eff.config),
        epochs=eff.config.epochs,
        metric_name=kind.progress_metric,
    )
    with jobs.open_log(job["job_id"]) as job_log:

        def observe(symbol: str, record) -> None:
            lines.advance(symbol)
            job_log.write(lines.line(symbol, record) + "\n")
            job_log.flush()
            if request.on_epoch is not None:
                request.on_epoch(symbol, record)

        return kind.train(
            store, eff.config, name, seed=request.seed, device=request.device, on_epoch=observe, stop=stop
        )


def _metadata(
    request: TrainRequest, job: dict, result, verdict: dict, evidence: dict, promote: bool, seconds: dict
) -> dict:
    """Everything a version records about itself (metadata.json, written last)."""
    eff = request.effective
    return {
        "name": request.model_name,
        "model_type": eff.model_type,
        "created_at": now_iso(),
        "job_id": job["job_id"],
        "preset": eff.preset,
        "config": eff.as_dict(),
        "sources": eff.sources,
        "has_custom_config": eff.has_custom_config,
        "seed": request.seed,
        "device": request.device,
        "metrics": result.metrics,
        "baselines": result.baselines,
        "gate": verdict,
        **({"promotion": evidence} if evidence else {}),
        "initial_status": (("production" if promote else "candidate") if verdict["passed"] else "rejected"),
        "data_windows": result.windows,
        "spec": result.spec,
        "warnings": result.warnings,
        "missing_extras": result.missing_extras,
        "timings": {
            **result.timings,
            **{k: round(v, 3) for k, v in seconds.items()},
            "estimated_seconds": round(request.estimated_seconds, 1),
            "promotion_check_estimated_seconds": round(request.check_estimate_seconds, 1),
            "estimate_basis": request.estimate.basis,
        },
        "library_versions": _versions(),
        "command_line": request.command,
    }


def _record_run(jobs: Jobs, job: dict, request: TrainRequest, result, status: str, seconds: float) -> None:
    """One row of the run history the time estimates learn from."""
    eff = request.effective
    row = history_row(
        eff.model_type,
        eff.config,
        request.device,
        status,
        result.epochs_run,
        result.best_epoch,
        result.fit_seconds,
        seconds,
        request.estimate.expected_seconds,
    )
    jobs.record_run({"job_id": job["job_id"], **row})


def champion_challenger(home: Home, store, kind, name: str, config, seed: int, registry: Registry) -> dict:
    """The promotion check on the last `promotion_folds` walk-forward folds (promotion.py), with its verdict
    in `promote` and `reason`; {} for a kind that keeps its one-block gate."""
    from .promotion import check, supports, verdict

    if not supports(kind):
        return {}
    production = registry.aliases(name).get("production")
    meta = None
    if production is not None and production in registry.versions(name):
        meta = {**registry.meta(name, production), "version": production}
    evidence = check(home, store, kind, name, config, seed, meta)
    if evidence.get("interrupted"):
        return evidence
    if not evidence.get("folds"):  # no fold fits: nothing can be decided on the folds
        evidence["gate"] = {"passed": False, "rule": "no promotion fold fits", "basis": "promotion folds"}
    evidence["promote"], evidence["reason"] = verdict(evidence, meta is not None)
    return evidence
