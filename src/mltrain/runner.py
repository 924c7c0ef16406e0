"""One training job end to end: lock, job record, fit, gate, registry write, history. Raises, never exits."""
from __future__ import annotations

import csv
import io
import platform
import signal
import statistics
import time
from dataclasses import dataclass, field
from typing import IO, Callable

from .config import EffectiveConfig
from .errors import Interrupted, MltrainError, TrainingError
from .estimate import Estimate, work_units
from .jobs import Jobs, app_logger, new_job_id
from .paths import Home
from .registry import Registry, now_iso


@dataclass
class TrainRequest:
    model_name: str
    effective: EffectiveConfig
    seed: int
    device: str
    estimate: Estimate
    command: list[str]
    wait: bool = False
    quiet: bool = False
    live: bool = False
    pause_hook: Callable[[], None] | None = None  # test hook: pause while the version is staged


@dataclass
class TrainOutcome:
    data: dict
    promoted: bool
    gate: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)  # data window per symbol, for the text summary


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


def gate(model_type: str, metrics: dict, baselines: dict, min_r2: float | None) -> dict:
    """Volatility: every symbol's out-of-sample R² must reach min_r2. Regime: no gate (always promoted)."""
    if model_type != "volatility" or min_r2 is None:
        return {"passed": True, "rule": "regime models have no promotion gate"}
    failing = {}
    for symbol, scores in metrics["symbols"].items():
        if scores["r2"] < min_r2:
            best = max(baselines, key=lambda name: baselines[name][symbol]["r2"])
            failing[symbol] = {"r2": scores["r2"], "best_baseline": best,
                               "best_baseline_r2": baselines[best][symbol]["r2"]}
    return {"passed": not failing, "rule": "every symbol's r2 >= min_r2", "threshold": min_r2, "failing": failing}


def run_training(home: Home, request: TrainRequest, stream: IO[str]) -> TrainOutcome:
    from .data.store import DataStore
    from .config import regime_symbol
    from .pipeline import train_regime, train_volatility
    from .progress import Progress
    from .train import StopFlag, seed_everything

    eff, name = request.effective, request.model_name
    registry, jobs, log = Registry(home), Jobs(home), app_logger(home)
    job_id = new_job_id()
    with registry.lock(name, {"job_id": job_id}, wait=request.wait):
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
            symbols = eff.config.symbols if eff.model_type == "volatility" else [regime_symbol(name)]
            metric = "r2" if eff.model_type == "volatility" else "balanced_accuracy"
            store = DataStore(home)
            log_path = jobs.log_path(job["job_id"])
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a") as job_log, Progress(stream, symbols=list(symbols or []), epochs=eff.config.epochs, metric_name=metric,
                                   live=request.live, quiet=request.quiet, log=job_log) as progress:
                if eff.model_type == "volatility":
                    result = train_volatility(store, eff.config, seed=request.seed, device=request.device,
                                              on_epoch=progress, stop=stop)
                else:
                    result = train_regime(store, eff.config, symbols[0], seed=request.seed, device=request.device,
                                          on_epoch=progress, stop=stop)
            if result.interrupted:
                raise Interrupted("interrupted: training stopped after the current batch; nothing was saved")
            verdict = gate(eff.model_type, result.metrics, result.baselines, eff.config.min_r2)
            total_seconds = time.perf_counter() - start
            meta = {
                "name": name, "model_type": eff.model_type, "created_at": now_iso(), "job_id": job["job_id"],
                "preset": eff.preset, "config": eff.as_dict(), "sources": eff.sources,
                "has_custom_config": eff.has_custom_config, "seed": request.seed, "device": request.device,
                "metrics": result.metrics, "baselines": result.baselines, "gate": verdict,
                "initial_status": "production" if verdict["passed"] else "rejected",
                "data_windows": result.windows, "spec": result.spec,
                "timings": {**result.timings, "total_seconds": round(total_seconds, 3),
                            "estimated_seconds": round(request.estimate.expected_seconds, 1),
                            "estimate_basis": request.estimate.basis},
                "library_versions": _versions(), "command_line": request.command,
            }
            version = registry.write_version(name, result.tensors, meta, _history_csv(result.history),
                                             pause_hook=request.pause_hook)
            if verdict["passed"]:
                registry.promote(name, version, reason=f"job {job['job_id']} passed its gate")
            status = "completed" if verdict["passed"] else "rejected"
            jobs.update(job, status=status, finished_at=now_iso(), metrics=result.metrics, version=version)
            fit_seconds = result.timings["fit_seconds"]
            epochs_run, best = result.timings["epochs_run"], result.timings["best_epoch"]
            runs = list(epochs_run.values()) if isinstance(epochs_run, dict) else [epochs_run]
            bests = list(best.values()) if isinstance(best, dict) else [best]
            jobs.record_run({"job_id": job["job_id"], "model_type": eff.model_type, "device": request.device,
                             "status": status, "work_units": work_units(eff.model_type, eff.config),
                             "epochs_run_fraction": sum(runs) / (len(runs) * eff.config.epochs),
                             "best_epoch": statistics.median(bests),
                             "fit_seconds": fit_seconds, "total_seconds": total_seconds,
                             "estimated_seconds": request.estimate.expected_seconds})
            log.info("job %s %s: version %s, %s", job["job_id"], status, version, result.main_metric)
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
    return TrainOutcome(data, verdict["passed"], verdict, result.windows)

