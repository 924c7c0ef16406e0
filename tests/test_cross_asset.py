"""evaluate --cross-asset: every fold of a pooled regime model trains without the scored asset (and its near
copies), checked on real series: the scored asset's training-span prices can change without changing a fold's
fit, while without the option they do change it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import run_cli

FOLDS = ["--folds", "2", "--epochs", "10", "--patience", "5", "--json", "--quiet"]


def _store(home: Path):
    from mltrain.data.store import DataStore
    from mltrain.paths import Home

    return DataStore(Home(home))


def _import(home: Path, tmp_path: Path, symbol: str, frame: pd.DataFrame) -> None:
    frame.to_csv(tmp_path / f"{symbol}.csv", index_label="date")
    run_cli(["data", "import", tmp_path / f"{symbol}.csv", "--symbol", symbol])


def _distort_before(frame: pd.DataFrame, cut: str) -> pd.DataFrame:
    """Prices before `cut` bent by up to +-35% in 90-day waves (continuous at the cut): other labels, other
    features, other turning points in the training span; candles stay consistent (one factor per day)."""
    days_before = (pd.Timestamp(cut) - frame.index).days.to_numpy()
    factor = np.where(days_before > 0, np.exp(0.3 * np.sin(2 * np.pi * days_before / 90)), 1.0)
    out = frame.copy()
    for column in ("open", "high", "low", "close"):
        out[column] = frame[column] * factor
    return out


def _fits(doc: dict) -> list[tuple]:
    """What a fold's fit depends on: its training pool and rows, the chosen epoch and its selection score."""
    return [
        (f["end"], f["training_pool"], f["training_rows"], f["best_epoch"], f["selection_loss"]) for f in doc
    ]


def test_cross_asset_is_refused_where_it_cannot_apply():
    vol = run_cli(["evaluate", "volatility_forecaster", "--folds", "2", "--cross-asset"], expect=2)
    assert "--cross-asset is for regime models" in vol.stderr and "Traceback" not in vol.stderr
    synthetic = run_cli(["evaluate", "btc_regime_detector", "--synthetic", "--cross-asset"], expect=2)
    assert "cannot be combined with --synthetic" in synthetic.stderr


def test_near_copies_are_held_out_with_the_asset_and_the_embedded_store_has_none(home: Path, tmp_path: Path):
    from mltrain.kinds import KINDS

    regime = KINDS["regime"]
    store = _store(home)
    # the 21 embedded series: no two correlate at 0.95 (the highest pair, ETH/BTC daily returns, is about 0.8)
    assert regime.held_out(store, "eth_regime_detector", None) == ["ETH"]
    assert regime.held_out(store, "sol_regime_detector", None) == ["SOL"]
    _import(home, tmp_path, "XETH", store.load("ETH").frame * 1.5)  # a wrapped ETH: the same price path
    assert regime.held_out(_store(home), "eth_regime_detector", None) == ["ETH", "XETH"]
    assert regime.held_out(_store(home), "btc_regime_detector", None) == ["BTC"]
    args = ["evaluate", "eth_regime_detector", "--model-type", "regime", "--folds", "2", "--cross-asset"]
    plan = run_cli([*args, "--dry-run"])
    assert "cross-asset: no fold will train on ETH, XETH" in plan.stdout
    assert run_cli([*args, "--dry-run", "--json"]).json["data"]["cross_asset"] == {
        "held_out": ["ETH", "XETH"]
    }


@pytest.mark.slow  # trains networks
def test_the_scored_assets_prices_never_reach_a_cross_asset_fit(home: Path, tmp_path: Path):
    command = ["evaluate", "eth_regime_detector", "--model-type", "regime", *FOLDS, "--workers", "1"]
    command += ["--symbols", "BTC,SOL"]  # a pool of three series (ETH's own rows only when not cross-asset)
    cross = run_cli([*command, "--cross-asset"]).json["data"]
    pooled = run_cli(command).json["data"]
    assert cross["cross_asset"] == {"held_out": ["ETH"]}
    assert all("ETH" not in f["training_pool"] and "BTC" in f["training_pool"] for f in cross["folds"])
    assert all("ETH" in f["training_pool"] for f in pooled["folds"])

    # ETH's training span rewritten: the cross-asset fits are exactly the same, the pooled ones are not
    _import(home, tmp_path, "ETH", _distort_before(_store(home).load("ETH").frame, "2024-01-01"))
    cross_bent = run_cli([*command, "--cross-asset"]).json["data"]
    pooled_bent = run_cli(command).json["data"]
    assert _fits(cross_bent["folds"]) == _fits(cross["folds"])
    assert _fits(pooled_bent["folds"]) != _fits(pooled["folds"])
    # the scored days are the same ETH days either way
    assert [f["validation"] for f in cross_bent["folds"]] == [f["validation"] for f in cross["folds"]]


@pytest.mark.slow  # trains networks
def test_dask_cross_asset_folds_equal_the_local_ones(shared_dask_cluster, home: Path, tmp_path: Path):
    address, _ = shared_dask_cluster
    # an imported near copy travels to the workers with the task, and is left out there too
    _import(home, tmp_path, "XETH", _store(home).load("ETH").frame * 1.5)
    command = ["evaluate", "eth_regime_detector", "--model-type", "regime", *FOLDS, "--cross-asset"]
    command += ["--symbols", "BTC,XETH"]  # the near copy named in the pool: it must still be left out
    local = run_cli([*command, "--executor", "local:1"]).json["data"]
    remote = run_cli([*command, "--executor", f"dask://{address}"]).json["data"]
    assert local["cross_asset"] == remote["cross_asset"] == {"held_out": ["ETH", "XETH"]}
    assert remote["folds"] == local["folds"] and remote["summary"] == local["summary"]
    assert all({"ETH", "XETH"}.isdisjoint(f["training_pool"]) for f in local["folds"])
