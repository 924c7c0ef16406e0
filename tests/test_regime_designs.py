"""The regime network's opt-in designs (issue 12): the gru encoder over the recent path and sim-to-real
pretraining on generated markets fitted to the fit rows only."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain import features as F
from mltrain.config import TrainingConfig
from mltrain.data.store import DataStore, Series
from mltrain.data.synth import market
from mltrain.errors import ExitCode
from mltrain.kinds import KINDS
from mltrain.kinds import regime_seq as S
from mltrain.kinds.regime_model import asset, blocks, labels_before, train_regime
from mltrain.kinds.regime_pretrain import fit_dynamics
from mltrain.paths import Home

from .conftest import run_cli
from .conftest import train_regime as train_regime_cli


def cfg(**changes) -> TrainingConfig:
    return TrainingConfig(**{**KINDS["regime"].defaults, "epochs": 10, "patience": 5, **changes})


@pytest.fixture(scope="module")
def btc() -> Series:
    return DataStore(Home(Path("/nonexistent"))).load("BTC")


def test_design_fields_validate_with_one_line_errors():
    bad = run_cli(["train", "btc_regime_detector", "--encoder", "lstm", "--yes"], expect=ExitCode.USAGE)
    assert "encoder='lstm'" in bad.stderr and "mlp or gru" in bad.stderr and "Traceback" not in bad.stderr
    many = run_cli(["evaluate", "btc_regime_detector", "--pretrain-markets", "65"], expect=ExitCode.USAGE)
    assert "pretrain_markets=65" in many.stderr and "0..64" in many.stderr
    vol = run_cli(["train", "volatility_forecaster", "--encoder", "gru", "--yes"], expect=ExitCode.USAGE)
    assert "encoder is for regime models only" in vol.stderr
    # later fields: in `defaults --all` (the seed document leaves them out)
    shown = run_cli(["defaults", "btc_regime_detector", "--json", "--all"]).json["data"]["config"]
    assert shown["encoder"] == "mlp" and shown["pretrain_markets"] == 0


def test_gru_inputs_read_day_t_and_earlier_only(btc: Series):
    a = asset(btc)
    mean, std = S.normalisation([a.path[a.ok]])
    rows = np.nonzero(a.ok)[0][[0, 500, -1]]
    x = S.inputs("gru", a.path, rows, mean, std)
    assert x.shape == (3, S.SEQ_DAYS, len(F.REGIME_FEATURES) + len(S.PATH_CHANNELS))
    last = rows[-1]
    assert np.allclose(x[-1, -1], (a.path[last] - mean) / std, atol=1e-5)  # the window ends on day t
    assert np.allclose(x[-1, 0], (a.path[last - S.SEQ_DAYS + 1] - mean) / std, atol=1e-5)
    early = S.inputs("gru", a.path, np.array([0]), mean, std)  # before the series: the fit mean
    assert np.all(early[0, :-1] == 0)
    assert np.array_equal(S.inputs("mlp", a.values, rows, mean[:10], std[:10])[0], x[0, -1, :10])


def test_pretraining_dynamics_come_from_fit_rows_only(btc: Series):
    config = cfg(days=365)
    b = blocks(asset(btc), config, None)

    def fitted(series: Series):
        a = asset(series)
        labels = labels_before(a, b.selection_start)
        rows = np.nonzero(a.ok & (labels >= 0) & (a.dates < b.fit_end))[0]
        return fit_dynamics([(a.dates, a.close, labels, rows)])

    same = fitted(btc)
    assert pd.Timestamp(same.last_day) < b.fit_end and same.rows > 1000 and not same.missing
    assert same.params.drift[0] < 0 < same.params.drift[2]  # Bear falls, Bull rises
    assert np.allclose(np.sum(same.params.transition, axis=1), 1)
    # every price from the fit end on rewritten: the fitted dynamics do not move
    frame = btc.frame.copy()
    later = frame.index >= b.fit_end
    frame.loc[later, ["open", "high", "low", "close"]] *= np.exp(
        np.random.default_rng(1).normal(0, 0.3, later.sum())
    )[:, None]
    changed = fitted(Series(btc.symbol, frame, btc.source, btc.has_ohlc))
    assert changed.as_dict() == same.as_dict()


@pytest.mark.slow  # trains a network
def test_pretraining_on_a_synthetic_market_records_its_fit_span():
    series, truth = market(F.REGIME_WARMUP_DAYS + 400, seed=3)
    store = DataStore(Home(Path("/nonexistent")))
    run = train_regime(
        store, cfg(days=365, pretrain_markets=1), "SYN", seed=0, device="cpu", series=series, truth=truth
    )
    pre = run.spec["pretraining"]
    fit_last = run.windows["SYN"]["fit"]["last"]
    assert pre["markets"] == 1 and pre["epochs"] > 0 and pre["labels"] == "generating regimes"
    assert pre["dynamics"]["last_day"] <= fit_last  # fitted on fit rows only
    assert run.spec["kind"] == "regime_mlp" and 0 <= run.metrics["balanced_accuracy"] <= 1


@pytest.mark.slow  # trains a network
def test_gru_with_pretraining_trains_saves_loads_and_predicts():
    out = train_regime_cli("--encoder", "gru", "--pretrain-markets", "1", "--json")
    version = out.json["data"]["version"]
    shown = run_cli(["models", "show", "btc_regime_detector", str(version), "--json"]).json["data"]
    assert shown["config"]["encoder"] == "gru" and shown["config"]["pretrain_markets"] == 1
    spec = shown["spec"]
    assert spec["kind"] == S.SEQ_ARCH and spec["sequence_days"] == S.SEQ_DAYS
    assert spec["pretraining"]["dynamics"]["last_day"] < spec["validation_last"]
    rows = run_cli(["predict", "btc_regime_detector", "--since", "2025-12-20", "--json"]).json["data"]
    preds = rows["predictions"]
    assert len(preds) == 17 and all(abs(sum(p["probabilities"].values()) - 1) < 1e-3 for p in preds)
    assert {p["regime"] for p in preds} <= set(F.REGIMES)


@pytest.mark.slow  # trains a GRU twice
def test_a_gru_versions_predict_equals_its_walk_forward_fold(tmp_path: Path):
    """`train` and the last fold of `evaluate` fit the same blocks with the same seed, so `predict` from the
    stored version must give the fold's probabilities: the spec rebuilds the GRU's windows and normalisation."""
    args = ["btc_regime_detector", "--preset", "quick", "--days", "365", "--epochs", "10", "--patience", "5"]
    version = train_regime_cli("--encoder", "gru", "--json").json["data"]["version"]  # pool BTC and ETH
    shown = run_cli(["models", "show", "btc_regime_detector", str(version), "--json"]).json["data"]
    block = shown["data_windows"]["BTC"]["validation"]
    # the walk-forward's last fold alone: every fold whose block starts on or after the version's block
    args += ["--symbols", "ETH", "--folds", "all", "--start", block["first"]]
    csv = tmp_path / "folds.csv"
    run_cli(["evaluate", *args, "--encoder", "gru", "--workers", "1", "--predictions", csv])
    folds = pd.read_csv(csv, dtype={"date": str})
    assert folds["fold"].nunique() == 1 and folds["date"].min() == block["first"]
    last = folds[folds["fold"] == folds["fold"].max()]
    served = run_cli(["predict", "btc_regime_detector", "--since", last["date"].min(), "--json"]).json["data"]
    by_day = {p["date"]: p for p in served["predictions"]}
    assert len(last) > 30 and set(last["date"]) <= set(by_day)
    for _, r in last.iterrows():
        got = by_day[r["date"]]
        assert got["regime"] == F.REGIMES[int(r["model"])]
        for name, value in got["probabilities"].items():
            assert abs(value - r[f"model_probs_{name}"]) < 1e-3, (r["date"], name)


def test_symbols_narrow_a_regime_models_training_pool_and_a_missing_one_is_named_first():
    """`symbols` on a regime model is its pool besides the scored asset: the version records exactly that pool,
    a smaller pool means a smaller estimate, and an unknown symbol stops the run before any work."""
    out = train_regime_cli("--symbols", "ETH,SOL", "--json")
    shown = run_cli(
        ["models", "show", "btc_regime_detector", str(out.json["data"]["version"]), "--json"]
    ).json
    assert shown["data"]["spec"]["pool"] == ["BTC", "ETH", "SOL"]
    assert shown["data"]["config"]["symbols"] == ["ETH", "SOL"]
    kind, base = KINDS["regime"], cfg()
    assert kind.training_rows(cfg(symbols=["ETH", "SOL"])) < kind.training_rows(base) / 5
    assert kind.symbols("btc_regime_detector", cfg(symbols=["ETH", "BTC"])) == ["BTC", "ETH"]
    bad = run_cli(["train", "btc_regime_detector", "--symbols", "ETH,NOPE", "--yes"], expect=ExitCode.USAGE)
    assert "no data for symbol 'NOPE'" in bad.stderr and "training pool from flag --symbols" in bad.stderr
    rows = run_cli(["models", "list", "--json"]).json["data"]
    assert [r["latest_version"] for r in rows] == [out.json["data"]["version"]]  # nothing new was written


def test_a_pool_with_no_labelled_selection_day_says_so_not_that_training_days_are_few():
    """BTC and ETH alone have no label confirmed before mid-2024's validation block on their selection days:
    the error names that cause and the pool (it once said 'only 4477 labelled training days')."""
    args = [
        "evaluate",
        "btc_regime_detector",
        "--holdout-from",
        "2025-01-01",
        "--folds",
        "2",
        "--days",
        "365",
    ]
    out = run_cli([*args, "--epochs", "10", "--patience", "5", "--symbols", "ETH"], expect=ExitCode.USAGE)
    assert "no day of the selection block from 2024-06-04 has a regime label" in out.stderr
    assert "in the pool (BTC, ETH)" in out.stderr and "only" not in out.stderr
