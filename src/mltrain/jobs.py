"""Job records that survive the process, the per-job log, and the run history used by estimates."""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .clock import now_iso
from .errors import RegistryError, UsageError, excerpt
from .fsutil import (
    append_line,
    atomic_write_json,
    ensure_dir,
    open_no_symlink,
    parse_json,
    pid_alive,
    process_identity,
    read_home_text,
    read_json,
)
from .paths import Home

STATUSES = ("pending", "running", "completed", "rejected", "failed", "cancelled")
RECORD_KEYS = ("job_id", "model_name", "model_type", "status", "created_at")  # what every record holds
RUNS_FILE = "runs.jsonl"
JOB_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")  # fullmatch: no separators, dots or final newline


def new_job_id() -> str:
    """Sortable by time, unique within a second thanks to the random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


class Jobs:
    def __init__(self, home: Home):
        self.home = home
        self.root = home.jobs

    def path(self, job_id: str) -> Path:
        if not isinstance(job_id, str) or not JOB_ID_RE.fullmatch(job_id):
            raise UsageError(f"invalid job id {excerpt(job_id)}; see `mltrain jobs list`")
        return self.root / f"{job_id}.json"

    def log_path(self, job_id: str) -> Path:
        return self.home.logs / "jobs" / f"{job_id}.log"

    def open_log(self, job_id: str):
        """The job's log for appending, refusing a symlink planted in its place (text, line-buffered)."""
        path = self.log_path(job_id)
        ensure_dir(path.parent)
        return os.fdopen(open_no_symlink(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a", buffering=1)

    def create(
        self,
        job_id: str,
        model_name: str,
        model_type: str,
        config: dict,
        has_custom_config: bool,
        sources: dict,
        command: list[str],
    ) -> dict:
        record = {
            "job_id": job_id,
            "model_name": model_name,
            "model_type": model_type,
            "status": "pending",
            "created_at": now_iso(),
            "started_at": None,
            "finished_at": None,
            "config": config,
            "sources": sources,
            "has_custom_config": has_custom_config,
            "triggered_by": getpass.getuser(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "process": process_identity(os.getpid()),
            "metrics": None,
            "error": None,
            "version": None,
            "log_file": str(self.log_path(job_id)),
            "command": command,
        }
        self.save(record)
        return record

    def save(self, record: dict) -> None:
        atomic_write_json(self.path(record["job_id"]), record)

    def update(self, record: dict, **changes) -> dict:
        record.update(changes)
        self.save(record)
        return record

    def _view(self, record: dict) -> dict:
        """A job left pending/running by a process that is gone is shown as failed (interrupted)."""
        if record.get("status") in ("pending", "running") and record.get("host") == socket.gethostname():
            pid = int(record.get("pid", 0) or 0)
            reused = record.get("process") is not None and process_identity(pid) != record["process"]
            if not pid_alive(pid) or reused:
                return {
                    **record,
                    "status": "failed",
                    "error": "interrupted: the process died without finishing",
                }
        return record

    def get(self, job_id: str) -> dict:
        path = self.path(job_id)
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"no job {job_id!r}; see `mltrain jobs list`")
        return self._view(read_json(path))

    def list(
        self, status: str | None = None, model: str | None = None, skip: Callable[[str], None] | None = None
    ) -> list[dict]:
        """Job records, newest first. `skip`: a damaged record is passed to it (and left out) instead of
        ending the listing, as `models list` goes on past a damaged version."""
        if status is not None and status not in STATUSES:
            raise UsageError(f"unknown status {status!r}; allowed: {', '.join(STATUSES)}")
        if not self.root.is_dir():
            return []
        records = []
        for path in (p for p in self.root.glob("*.json") if not p.name.startswith(".")):
            try:
                records.append(self._listed(path))
            except RegistryError as exc:
                if skip is None:
                    raise
                skip(str(exc))
        records = [
            r
            for r in records
            if (status is None or r["status"] == status) and (model is None or r["model_name"] == model)
        ]
        return sorted(records, key=lambda r: r["job_id"], reverse=True)

    def _listed(self, path: Path) -> dict:
        """One record as a listing reads and sorts it; a wrong shape (a KeyError or TypeError ended the
        listing once) or a pid that is not a number is a RegistryError naming the file."""
        record = read_json(path)
        missing = [
            k for k in RECORD_KEYS if not isinstance(record, dict) or not isinstance(record.get(k), str)
        ]
        if missing:
            raise RegistryError(f"{path} is not a job record ({', '.join(missing)}: missing or not text)")
        try:
            return self._view(record)
        except (ValueError, TypeError, OverflowError) as exc:  # a pid of "abc", [1] or 1e21
            raise RegistryError(f"{path} is not a job record ({type(exc).__name__}: its pid)") from None

    # ---------------------------------------------------------------- run history for estimates
    def record_run(self, row: dict) -> None:
        append_line(self.home.cache / RUNS_FILE, json.dumps({**row, "host": socket.gethostname()}))

    def runs(self) -> list[dict]:
        path = self.home.cache / RUNS_FILE
        if not path.exists() and not path.is_symlink():
            return []
        rows = []
        for n, line in enumerate(read_home_text(path).splitlines(), start=1):
            try:
                row = parse_json(line, f"{path} line {n}")
            except RegistryError:
                continue  # a torn last line from a killed process: skip it, the history is advisory
            if isinstance(row, dict) and row.get("host") == socket.gethostname():
                rows.append(row)
        return rows

    def probes(self) -> dict:
        path = self.home.cache / "probes.json"
        return read_json(path) if path.exists() or path.is_symlink() else {}

    def save_probe(self, key: str, seconds_per_sample: float) -> None:
        probes = self.probes()
        probes[key] = {
            "seconds_per_sample": seconds_per_sample,
            "at": now_iso(),
            "host": socket.gethostname(),
        }
        atomic_write_json(self.home.cache / "probes.json", probes)


class _NoFollowFileHandler(logging.FileHandler):
    """A FileHandler that will not follow a symlink planted where the application log should be."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = open_no_symlink(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def app_logger(home: Home) -> logging.Logger:
    """The application log under the mltrain home (never the working directory)."""
    logger = logging.getLogger("mltrain")
    target = str(home.app_log)
    if not any(getattr(h, "baseFilename", None) == target for h in logger.handlers):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        ensure_dir(home.logs)
        handler = _NoFollowFileHandler(target)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
