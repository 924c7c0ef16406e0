"""Readable in ten seconds (issue 24): the answer first, one table style, no line wider than the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mltrain.cli import render

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "quality" / "results.json"  # real `evaluate --folds all` results, folds dropped
VERDICTS = ("beats", "LOSES", "tie")
DECISION_LINES = 8  # kept free for the decision-value table that comes first


def rendered(result: dict, columns: int, monkeypatch, details: bool = False) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    render.evaluation({**result, "record": "/x/registry/m/evaluations/e.json"}, out, details=details)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("columns", [80, 100, 120])
@pytest.mark.parametrize("run", ["volatility", "regime", "regime_eth_cross", "synthetic_7"])
def test_evaluate_folds_all_puts_verdicts_first_on_one_screen(run: str, columns: int, monkeypatch):
    result = json.loads(RESULTS.read_text())[run]
    lines = rendered(result, columns, monkeypatch)
    assert len(lines) + DECISION_LINES <= 60, "\n".join(lines)
    verdict_rows = [k for k, line in enumerate(lines) if any(f" {v}" in line for v in VERDICTS)]
    assert len(verdict_rows) >= len(result["summary"]) and verdict_rows[-1] + DECISION_LINES < 25
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    assert "--details" in "\n".join(lines)


def test_a_model_worse_than_its_baseline_is_said_out_loud(monkeypatch):
    result = json.loads(RESULTS.read_text())["volatility"]
    summary = json.loads(json.dumps(result["summary"]))
    btc = summary["BTC"]
    btc["scores"]["model"]["qlike"] = 0.5  # far worse than log_har_bc's 0.3033
    btc["dm"]["log_har_bc"]["p_value"] = 0.001
    text = "\n".join(rendered({**result, "summary": summary}, 120, monkeypatch))
    assert "LOSES" in text and "1.649" in text  # the ratio to the best baseline, 0.5 / 0.3033


@pytest.mark.slow  # trains two small folds
def test_evaluate_summary_details_json_and_yes(home: Path, monkeypatch):
    args = ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--folds", "2", "--days", "150"]
    args += ["--epochs", "10", "--patience", "5", "--workers", "1", "--yes", "--quiet", "--json"]
    doc = run_cli(args).json["data"]  # --yes is accepted (scripts pass train's flag here too)
    head = doc["headline"]  # the JSON carries the summary the text shows first
    assert head["columns"][-1] == "verdict" and head["rows"][0][0] == "BTC" and head["notes"]
    text = rendered(doc, 80, monkeypatch)
    assert "symbol" in text[2] and head["rows"][0][-1] in "".join(text[4:6])  # title, border, header, row
    assert all(len(line) <= 80 for line in text) and "walk-forward folds" not in "\n".join(text)
    detailed = "\n".join(rendered(doc, 80, monkeypatch, details=True))
    assert "gjr_garch" in detailed and "walk-forward folds" in detailed
