"""CPU training runs on one torch thread unless MLTRAIN_CPU_THREADS says otherwise; a bad value is refused
before any job is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from mltrain.train import cpu_threads

from .conftest import run_cli


def test_one_thread_unless_the_environment_says_otherwise(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLTRAIN_CPU_THREADS", raising=False)
    assert cpu_threads() == 1
    monkeypatch.setenv("MLTRAIN_CPU_THREADS", "1")
    assert cpu_threads() == 1


def test_a_bad_thread_count_is_a_usage_error_and_records_no_job(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLTRAIN_CPU_THREADS", "many")
    result = run_cli(["train", "btc_regime_detector", "--preset", "quick", "--yes"], expect=2)
    assert "MLTRAIN_CPU_THREADS='many' is not a thread count; allowed: 1.." in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "jobs").exists() or not any((home / "jobs").iterdir())
