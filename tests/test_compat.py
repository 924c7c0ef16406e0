"""Versions saved by earlier code keep loading and predicting the same numbers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["btc_regime_detector", "volatility_forecaster"])
def test_version_saved_by_v0_code_predicts_the_same(home: Path, name: str) -> None:
    """tests/fixtures/registry_v0 was written by the code at 7124e48 (days 120, epochs 10)."""
    shutil.copytree(FIXTURES / "registry_v0", home / "registry")
    expected = json.loads((FIXTURES / "registry_v0_predictions.json").read_text())[name]
    data = run_cli(["predict", name, "--json"]).json["data"]
    data.pop("data_age_days")
    assert data.pop("status") == "production"  # added by issue 15.2: the status of the version served
    rows = data.pop("predictions")
    want = expected.pop("predictions")
    assert {k: v for k, v in data.items() if k in expected} == expected
    # every field the old code printed is unchanged; newer fields (in_sample, ...) are additions
    assert [{k: r[k] for k in old} for r, old in zip(rows, want)] == want and len(rows) == len(want)
    assert all(r["in_sample"] is False for r in rows)  # after the version's validation end
    shown = run_cli(["models", "show", name, "--json"]).json["data"]
    assert shown["version"] == 1
