"""One training job end to end: lock, job record, fit, gate, registry write, history. Raises, never exits."""
from __future__ import annotations

import csv
import io
import platform
import signal
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .clock import now_iso
from .config import EffectiveConfig
from .errors import Interrupted, LockBusyError, MltrainError, TrainingError
from .estimate import Estimate, work_units
from .jobs import Jobs, app_logger, new_job_id
from .kinds import KINDS, EpochCallback
from .paths import Home
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


@dataclass
class TrainOutcome:
    data: dict
    promoted: bool
    gate: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)  # data window per symbol, for the text summary
    warnings: list[str] = field(default_factory=list)  # what the run wants the user to know (stderr)


def _versions() -> dict:
    import numpy
    import pandas
    import pydantic
    import torch

    from . import __version__
    return {"mltrain": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__, "pydantic": pydantic.__version__, "python": platform.python_version()}


def _history_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@contextmanager
def _model_lock(registry: Registry, name: str, holder: dict, wait: bool, log) -> Iterator[None]:
    """The model's lock; with `wait`, a busy lock is logged once (a line tests and operators can see) and
    then waited for."""
    try:
        with registry.lock(name, holder, wait=False):
            yield
        return
    except LockBusyError as busy:
        if not wait:
            raise
        log.info("job %s waiting for the lock on %s: %s", holder["job_id"], name, busy)
    with registry.lock(name, holder, wait=True):
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
    return (f"newest candles {listed}; the model will know nothing after them. Import newer candles with "
            "`mltrain data import FILE --symbol SYMBOL --merge`")


def run_training(home: Home, request: TrainRequest) -> TrainOutcome:
    """Lock, record the job, fit, gate, write the version and the run history; progress goes to the
    job log and to `request.on_epoch`."""
    from .data.store import DataStore
    from .progress import EpochLines
    from .train import StopFlag, seed_everything

    eff, name = request.effective, request.model_name
    kind = KINDS[eff.model_type]
    registry, jobs, log = Registry(home), Jobs(home), app_logger(home)
    job_id = new_job_id()
    with _model_lock(registry, name, {"job_id": job_id}, request.wait, log):
        registry.aliases(name)  # a damaged aliases file fails now, not after training and saving a version
        job = jobs.create(job_id, name, eff.model_type, eff.as_dict(), eff.has_custom_config, eff.sources,
                          request.command)
        log.info("job %s created for %s (%s) custom_config=%s", job["job_id"], name, eff.model_type,
                 eff.has_custom_config)
        log.info("job %s parameters: %s preset=%s seed=%s device=%s", job["job_id"],
                 " ".join(f"{k}={v}" for k, v in eff.as_dict().items()), eff.preset, request.seed, request.device)
        stop = StopFlag()
        previous = {sig: signal.signal(sig, stop.set) for sig in (signal.SIGINT, signal.SIGTERM)}
        start = time.perf_counter()
        jobs.update(job, status="running", started_at=now_iso())
        try:
            seed_everything(request.seed)
            lines = EpochLines(symbols=kind.progress_units(name, eff.config), epochs=eff.config.epochs,
                               metric_name=kind.progress_metric)
            store = DataStore(home)
            log_path = jobs.log_path(job["job_id"])
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as job_log:
                def observe(symbol: str, record) -> None:
                    lines.advance(symbol)
                    job_log.write(lines.line(symbol, record) + "\n")
                    job_log.flush()
                    if request.on_epoch is not None:
                        request.on_epoch(symbol, record)

                result = kind.train(store, eff.config, name, seed=request.seed, device=request.device,
                                    on_epoch=observe, stop=stop)
            if result.interrupted:
                raise Interrupted("interrupted: training stopped after the current batch; nothing was saved")
            verdict = kind.gate(result.metrics, result.baselines, eff.config)
            total_seconds = time.perf_counter() - start
            meta = {
                "name": name, "model_type": eff.model_type, "created_at": now_iso(), "job_id": job["job_id"],
                "preset": eff.preset, "config": eff.as_dict(), "sources": eff.sources,
                "has_custom_config": eff.has_custom_config, "seed": request.seed, "device": request.device,
                "metrics": result.metrics, "baselines": result.baselines, "gate": verdict,
                "initial_status": "production" if verdict["passed"] else "rejected",
                "data_windows": result.windows, "spec": result.spec, "warnings": result.warnings,
                "missing_extras": result.missing_extras,
                "timings": {**result.timings, "total_seconds": round(total_seconds, 3),
                            "estimated_seconds": round(request.estimate.expected_seconds, 1),
                            "estimate_basis": request.estimate.basis},
                "library_versions": _versions(), "command_line": request.command,
            }
            version = registry.write_version(name, result.tensors, meta, _history_csv(result.history),
                                             pause_hook=request.before_commit)
            if verdict["passed"]:
                registry.promote(name, version, reason=f"job {job['job_id']} passed its gate")
            status = "completed" if verdict["passed"] else "rejected"
            jobs.update(job, status=status, finished_at=now_iso(), metrics=result.metrics, version=version)
            fit_seconds = result.timings["fit_seconds"]
            runs, bests = list(result.epochs_run.values()), list(result.best_epoch.values())
            jobs.record_run({"job_id": job["job_id"], "model_type": eff.model_type, "device": request.device,
                             "status": status, "work_units": work_units(eff.model_type, eff.config),
                             "epochs_run_fraction": sum(runs) / (len(runs) * eff.config.epochs),
                             "best_epoch": statistics.median(bests),
                             "fit_seconds": fit_seconds, "total_seconds": total_seconds,
                             "estimated_seconds": request.estimate.expected_seconds})
            log.info("job %s %s: version %s, %s", job["job_id"], status, version,
                     (kind.main_metric, result.metrics.get(kind.main_metric)))
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
            raise TrainingError(f"training failed: {type(exc).__name__}: {exc} (job {job['job_id']}, "
                                f"log {jobs.log_path(job['job_id'])})") from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    data = {"job_id": job["job_id"], "model_name": name, "model_type": eff.model_type, "status": status,
            "created_at": job["created_at"], "has_custom_config": eff.has_custom_config, "version": version,
            "promoted": verdict["passed"], "metrics": result.metrics, "baselines": result.baselines,
            "duration_seconds": round(total_seconds, 2),
            "estimated_seconds": round(request.estimate.expected_seconds, 2)}
    return TrainOutcome(data, verdict["passed"], verdict, result.windows, result.warnings)

