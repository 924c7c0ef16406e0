"""The decision layer's figures against hand-computed small series, its policies, and the config fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mltrain import decision as D
from mltrain import decision_policy as P
from mltrain.errors import ExitCode

from .conftest import run_cli


def test_next_day_returns_and_timing():
    ret = D.next_day_returns([100, 110, 99])
    assert ret[:2] == pytest.approx([0.1, -0.1]) and math.isnan(ret[2])
    # decided at day 0's close (in), earns day 1's return; out on day 1 pays the exit and earns nothing
    net = D.strategy_returns([1, 0], [0.1, -0.1], cost_bps=10)
    assert net == pytest.approx([0.1 - 0.001, -0.001])


def test_figures_by_hand():
    r = np.array([0.1, -0.05, 0.02, -0.1])
    f = D.figures([1, 1, 1, 1], r, cost_bps=0)
    equity = np.cumprod(1 + r)  # 1.1, 1.045, 1.0659, 0.95931
    assert f["total_return"] == pytest.approx(equity[-1] - 1, abs=1e-4)
    assert f["annual_return"] == pytest.approx(equity[-1] ** (365 / 4) - 1, rel=1e-3)
    sd = np.std(r, ddof=1)
    assert f["sharpe"] == pytest.approx(np.mean(r) / sd * math.sqrt(365), abs=1e-4)
    assert f["annual_vol"] == pytest.approx(sd * math.sqrt(365), abs=1e-4)
    downside = math.sqrt((0.05**2 + 0.1**2) / 4)
    assert f["sortino"] == pytest.approx(np.mean(r) / downside * math.sqrt(365), abs=1e-4)
    assert f["max_drawdown"] == pytest.approx(0.95931 / 1.1 - 1, abs=1e-4)  # peak 1.1 after day 1
    assert f["calmar"] == pytest.approx(f["annual_return"] / abs(f["max_drawdown"]), rel=1e-3)
    assert f["turnover_per_year"] == pytest.approx(1 * 365 / 4)  # bought once
    assert f["time_in_market"] == 1.0


def test_turnover_costs_and_time_in_market():
    f = D.figures([1, 0, 1, 0.5], [0.0, 0.0, 0.0, 0.0], cost_bps=100)
    assert f["turnover_per_year"] == pytest.approx((1 + 1 + 1 + 0.5) * 365 / 4)
    assert f["total_return"] == pytest.approx((1 - 0.01) ** 3 * (1 - 0.005) - 1, abs=1e-4)
    assert f["time_in_market"] == 0.75 and f["mean_exposure"] == pytest.approx(0.625)


def test_regime_and_volatility_weights():
    assert D.regime_weights([0, 1, 2, 3]).tolist() == [0, 1, 1, 1]
    assert D.regime_weights([0, 2], {"Bear": 0.5, "Correction": 1, "Bull": 2, "Expansion": 1}).tolist() == [
        0.5,
        2,
    ]
    assert D.volatility_weights([0.5, 0.25, 0.1], 0.5, 2).tolist() == [1.0, 2.0, 2.0]


def test_steadiness_by_hand():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, 60)
    realized = np.array([np.std(r[i : i + 30], ddof=1) * math.sqrt(365) for i in range(31)])
    assert D.steadiness(r, 0.4) == pytest.approx(np.mean(np.abs(realized - 0.4) / 0.4))
    assert D.steadiness(r[:10], 0.4) is None


def test_drawdown_curve_and_paired_intervals():
    assert D.drawdown_curve([0.1, -0.5, 0.5]) == pytest.approx([0, -0.5, -0.25])
    rng = np.random.default_rng(1)
    a = rng.normal(0.002, 0.03, 400)
    same = D.paired_intervals(a, a, reps=50)
    assert (
        same["sharpe_difference"] == 0 and same["sharpe_ci"] == [0, 0] and same["max_drawdown_ci"] == [0, 0]
    )
    better = D.paired_intervals(a + 0.01, a, reps=200)
    assert better["sharpe_ci"][0] > 0  # a constant daily edge is above 0 in every resample


def test_decision_table_rows_oracle_and_best_baseline():
    close = 100 * np.cumprod(1 + np.array([0, 0.05, -0.1, 0.03, -0.02, 0.04] * 10))
    ret = D.next_day_returns(close)
    n = len(close)
    model = np.ones(n)
    oracle = np.where(np.nan_to_num(ret) < 0, 0.0, 1.0)
    oracle[:6] = np.nan  # the oracle covers the labelled days only
    table = D.decision_table(
        ret,
        {"model": model, "rule": np.r_[np.zeros(3), np.ones(n - 3)], "hmm": None},
        baselines=["rule", "hmm"],
        oracle=oracle,
    )
    assert table["days"] == n - 1 and table["oracle_days"] == n - 7
    assert table["rows"]["model"]["sharpe"] == table["rows"]["buy_and_hold"]["sharpe"]
    assert table["rows"]["hmm"] is None and table["best_baseline"] == "rule"
    assert table["oracle_share"] == 0  # holding is the model here: none of the oracle's gain
    assert table["rows"]["oracle"]["sharpe"] > table["rows"]["model"]["sharpe"]


def test_policies_and_choice_on_a_selection_block():
    probs = np.array([[0.8, 0.1, 0.05, 0.05]] * 3 + [[0.2, 0.2, 0.5, 0.1]] * 3)
    verdict, rule = np.array([0, 0, 0, 2, 2, 2]), np.array([2, 2, 2, 0, 2, 2])
    assert P.exposure({"design": "verdict"}, probs, verdict, rule).tolist() == [0, 0, 0, 1, 1, 1]
    assert P.exposure({"design": "verdict_or_rule"}, probs, verdict, rule).tolist() == [0, 0, 0, 0, 1, 1]
    assert P.exposure({"design": "expected"}, probs, verdict, rule) == pytest.approx([0.2] * 3 + [0.8] * 3)
    held = {"design": "bear_threshold", "exit": 0.5, "enter": 0.3, "min_hold_days": 5}
    assert P.exposure(held, probs, verdict, rule).tolist() == [0, 0, 0, 0, 0, 1]  # held 5 days out
    falling = np.array([0.01, -0.05, -0.05, 0.02, 0.02, 0.02])
    chosen = P.choose(probs, verdict, rule, falling)
    assert chosen["design"] in {p["design"] for p in P.candidates()} and len(chosen["tried"]) == len(
        P.candidates()
    )
    rising = np.full(6, 0.01) + np.arange(6) * 1e-4
    assert P.choose(probs, verdict, rule, rising)["design"] in (
        "hold",
        "expected",
        "bear_threshold",
        "network",
    )


@pytest.mark.parametrize(
    "yaml_text, expected",
    [
        ("exposure:\n  Bear: 4\n", "outside 0..3.0"),
        ("exposure:\n  Bearish: 0\n", "is not a regime"),
        ("cost_bps: -1\n", "cost_bps=-1"),
        ("target_vol: 0.5\n", "for volatility models only"),
    ],
)
def test_decision_fields_are_validated(tmp_path, yaml_text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    result = run_cli(
        ["train", "btc_regime_detector", "--config", str(path), "--dry-run"], expect=ExitCode.USAGE
    )
    assert expected in result.stderr


def test_decision_fields_stay_out_of_defaults_json():
    for model in ("btc_regime_detector", "volatility_forecaster"):
        config = run_cli(["defaults", model, "--json"]).json["data"]["config"]
        assert not {"exposure", "cost_bps", "target_vol", "max_leverage"} & set(config)


def test_predict_says_what_to_do(trained_home, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    regime = run_cli(["predict", "btc_regime_detector", "--json"]).json["data"]["predictions"][-1]
    assert regime["exposure"] in (0.0, 1.0) or 0 <= regime["exposure"] <= 1
    assert "hold" in run_cli(["predict", "btc_regime_detector"]).stdout
    rows = run_cli(["predict", "volatility_forecaster", "--json"]).json["data"]["predictions"]
    for row in rows:
        assert row["weight"] == pytest.approx(
            min(2.0, row["target_vol"] / row["forecast_annualized_vol"]), abs=1e-3
        )
    assert "volatility targeting holds" in run_cli(["predict", "volatility_forecaster"]).stdout


def test_fold_figures_for_the_promotion_gate():
    close = 100 * np.cumprod(1 + np.array([0.01, -0.03, 0.02, -0.01, 0.015] * 20))
    ret = D.next_day_returns(close)
    n = len(close)
    calls = {"model": np.where(np.arange(n) % 10 < 3, 0, 2), "rule": np.full(n, 2)}
    out = D.regime_figures(ret, calls, truth=np.r_[np.full(n - 5, 2), np.full(5, -1)])
    assert set(out["rows"]) == {"model", "rule", "buy_and_hold", "oracle"} and out["best_baseline"] == "rule"
    assert out["oracle_days"] == n - 5  # the labelled days (each has a known next-day return here)
    vol = D.volatility_figures(
        ret, {"model": np.full(n, 0.5), "ewma": np.full(n, 0.25)}, 0.5, realized=np.full(n, 0.4)
    )
    assert vol["rows"]["model"]["mean_exposure"] == 1.0 and vol["rows"]["ewma"]["mean_exposure"] == 2.0
    assert vol["rows"]["model"]["risk_steadiness"] is not None


def test_a_strategy_flat_throughout_has_a_sharpe_of_0_and_stays_in_the_ranking():
    """Out of the market on every day (a detector that says Bear throughout) had no Sharpe: it dropped out of
    the best-baseline pick, and the oracle's share read 'gains nothing' beside buy-and-hold's -85%."""
    from mltrain.decision import _sharpe, _sharpes

    assert _sharpe(np.zeros(30)) == 0.0 and _sharpe(np.zeros(1)) is None
    assert list(_sharpes(np.zeros((2, 30)))) == [0.0, 0.0]
