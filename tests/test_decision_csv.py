"""An independent recomputation of evaluate's decision table from its --predictions CSV (no mltrain code):
the printed figures must be what the CSV's exposures and next-day returns give."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from .conftest import run_cli

SMALL = ["--days", "150", "--epochs", "10", "--patience", "5", "--workers", "1", "--folds", "2"]
POOL = ["--symbols", "ETH"]  # the regime network learns from BTC and ETH: the CSV check needs no more


def _figures(w: np.ndarray, r: np.ndarray, cost_bps: float) -> dict:
    net = w * r - np.abs(np.diff(w, prepend=0.0)) * cost_bps / 1e4
    equity = np.concatenate([[1.0], np.cumprod(1 + net)])
    sd = net.std(ddof=1)
    return {
        "sharpe": None if sd == 0 else net.mean() / sd * math.sqrt(365),
        "max_drawdown": float(np.min(equity / np.maximum.accumulate(equity) - 1)),
        "total_return": equity[-1] - 1,
        "time_in_market": float(np.mean(w > 0)),
    }


def _check(doc: dict, path: Path, symbol: str) -> None:
    with path.open() as fh:
        rows = sorted((r for r in csv.DictReader(fh) if r["symbol"] == symbol), key=lambda r: r["date"])
    rows = [r for r in rows if r["next_return"] not in ("", "None")]
    decision = doc["decision"][symbol]
    assert decision["days"] == len(rows)
    r = np.array([float(x["next_return"]) for x in rows])
    for name, printed in decision["rows"].items():
        if name == "oracle" or printed is None:
            continue
        w = (
            np.ones(len(rows))
            if name == "buy_and_hold"
            else np.array([float(x[f"exposure_{name}"]) for x in rows])
        )
        mine = _figures(w, r, decision["cost_bps"])
        for key, value in mine.items():
            assert printed[key] == pytest.approx(value, abs=2e-4), (name, key)
    labelled = [x for x in rows if x["truth"] != ""]
    oracle = _figures(
        np.array([float(x["exposure_oracle"]) for x in labelled]),
        np.array([float(x["next_return"]) for x in labelled]),
        decision["cost_bps"],
    )
    assert decision["rows"]["oracle"]["sharpe"] == pytest.approx(oracle["sharpe"], abs=2e-4)
    assert decision["oracle_days"] == len(labelled)


@pytest.mark.slow  # trains two folds of each model type
def test_decision_table_agrees_with_the_predictions_csv(tmp_path: Path):
    regime_csv = tmp_path / "regime.csv"
    doc = run_cli(
        [
            "evaluate",
            "btc_regime_detector",
            *SMALL,
            "--symbols",
            "ETH",
            "--json",
            "--quiet",
            "--predictions",
            regime_csv,
        ]
    ).json["data"]
    _check(doc, regime_csv, "BTC")
    assert list(doc["decision"]["BTC"]["rows"])[:3] == ["model", "network", "selected_policy"]
    vol_csv = tmp_path / "vol.csv"
    doc = run_cli(
        [
            "evaluate",
            "volatility_forecaster",
            "--symbols",
            "BTC",
            *SMALL,
            "--json",
            "--quiet",
            "--predictions",
            vol_csv,
        ]
    ).json["data"]
    _check(doc, vol_csv, "BTC")
    assert doc["decision"]["BTC"]["rows"]["model"]["risk_steadiness"] is not None
