"""Volatility-scaled regime label thresholds on the embedded series: SOL's labels stop flipping, BTC's stay
the same, the scale uses no price after its day, and the config field is validated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mltrain import features as F
from mltrain.data.store import DataStore
from mltrain.kinds.regime_labels import compare_thresholds, label_statistics
from mltrain.paths import Home
from mltrain.pipeline import history

from .conftest import QUICK, run_cli


def _close(home: Path, symbol: str):
    return history(DataStore(Home(home)).load(symbol))[0]["close"]


def test_scaled_thresholds_calm_sol_and_leave_btc_identical(home: Path):
    rows = {r["symbol"]: r for r in compare_thresholds(DataStore(Home(home)))}
    btc, sol = rows["BTC"], rows["SOL"]
    assert btc["identical"] and btc["median_scale"] == 1.0
    # SOL flips about 12 times a year with BTC's thresholds; scaled, about as often as BTC (4.4)
    assert sol["fixed"]["switches_per_year"] > 10 and sol["scaled"]["switches_per_year"] < 5
    assert sol["scaled"]["mean_spell_days"] > 2.5 * sol["fixed"]["mean_spell_days"]
    for symbol, row in rows.items():  # never more flips than with fixed thresholds, on any embedded series
        assert row["scaled"]["switches_per_year"] <= row["fixed"]["switches_per_year"], symbol
    # SOL's 2022 crash (-96% from the November 2021 peak) is still a Bear market
    close = _close(home, "SOL")
    labels = F.regime_labels(close.to_numpy(), scale=F.label_scale(close, _close(home, "BTC")))
    assert labels[close.index.get_loc(np.datetime64("2022-06-01"))] == F.REGIMES.index("Bear")


def test_btc_scaled_by_itself_is_exactly_the_fixed_labels(home: Path):
    btc = _close(home, "BTC")
    scale = F.label_scale(btc, btc)
    assert np.all(scale == 1.0)
    assert np.array_equal(F.regime_labels(btc.to_numpy(), scale=scale), F.regime_labels(btc.to_numpy()))


def test_the_scale_of_a_day_uses_no_later_price(home: Path):
    sol, btc = _close(home, "SOL"), _close(home, "BTC")
    full = F.label_scale(sol, btc)
    cut = 900
    bent = sol.copy()
    bent.iloc[cut:] *= np.linspace(1, 5, len(bent) - cut)  # a different future
    assert np.array_equal(F.label_scale(bent, btc)[:cut], full[:cut])
    assert F.label_scale(sol.iloc[:cut], btc).tolist() == full[:cut].tolist()


def test_label_statistics_of_a_known_sequence():
    stats = label_statistics(np.array([-1, 0, 0, 1, 1, 1, 2, 2, 3, 3, -1]))
    assert stats["days"] == 9 and stats["mean_spell_days"] == 2.2  # 9 days, 3 switches, 4 spells
    assert stats["switches_per_year"] == round(3 / (9 / 365), 2)
    assert stats["share"] == {"Bear": 0.222, "Correction": 0.333, "Bull": 0.222, "Expansion": 0.222}


def test_label_thresholds_is_validated_and_regime_only(tmp_path: Path):
    sol = ["evaluate", "sol_regime_detector", "--model-type", "regime"]
    bad = run_cli([*sol, "--label-thresholds", "vol"], expect=2)
    assert "label_thresholds='vol'" in bad.stderr and "allowed: fixed or volatility_scaled" in bad.stderr
    vol = run_cli(["evaluate", "volatility_forecaster", "--label-thresholds", "fixed"], expect=2)
    assert "label_thresholds is for regime models only" in vol.stderr
    config = tmp_path / "scaled.yaml"
    config.write_text("label_thresholds: volatility_scaled\n")
    plan = run_cli([*sol, "--config", config, "--dry-run", "--json"]).json["data"]
    assert plan["config"]["label_thresholds"] == "volatility_scaled"
    assert plan["sources"]["label_thresholds"].startswith(f"config {config}")


@pytest.mark.slow  # trains a network
def test_a_version_records_its_label_thresholds(home: Path):
    args = ["train", "sol_regime_detector", "--model-type", "regime", "--days", "365", *QUICK[2:]]
    args += ["--symbols", "BTC"]  # the thresholds are recorded whatever the pool
    run_cli([*args, "--label-thresholds", "volatility_scaled"], expect=(0, 3))
    meta = json.loads(next((home / "registry").rglob("metadata.json")).read_text())
    assert meta["spec"]["label_thresholds"] == "volatility_scaled"
    assert meta["config"]["label_thresholds"] == "volatility_scaled"
