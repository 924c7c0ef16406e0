"""Statistical instruments checked against hand-computed cases and, for Diebold-Mariano, statsmodels' HAC."""

from __future__ import annotations

import numpy as np
import pytest

from mltrain import stats

NAMES = ("Bear", "Correction", "Bull", "Expansion")


# ---------------------------------------------------------------- losses


def test_qlike_is_zero_for_a_perfect_forecast_and_matches_the_variance_formula():
    actual = np.array([-1.0, -0.5, 0.2])
    forecast = np.array([-1.0, -0.7, 0.5])
    v, h = np.exp(2 * actual), np.exp(2 * forecast)
    expected = v / h - np.log(v / h) - 1
    np.testing.assert_allclose(stats.qlike_loss(actual, forecast), expected)
    assert stats.qlike_loss(actual, actual).tolist() == [0.0, 0.0, 0.0]
    # too low a forecast costs more than too high by the same log distance
    assert stats.qlike_loss(0.0, -0.2) > stats.qlike_loss(0.0, 0.2)


def test_squared_error_of_log_vol():
    np.testing.assert_allclose(stats.squared_error([1.0, 2.0], [0.5, 2.5]), [0.25, 0.25])


# ---------------------------------------------------------------- Diebold-Mariano


def test_bandwidth_is_twice_the_horizon_or_newey_west_automatic():
    assert stats.newey_west_bandwidth(200, 7) == 14
    assert stats.newey_west_bandwidth(10_000_000, 1) == int(np.floor(4 * (1e5) ** (2 / 9)))
    assert stats.newey_west_bandwidth(5, 7) == 4  # never more lags than the data has


def test_hac_variance_by_hand():
    d = np.array([1.0, -1.0, 1.0, -1.0])  # mean 0, gamma0 = 1, gamma1 = -3/4
    assert stats.hac_variance(d, 0) == pytest.approx(1.0)
    assert stats.hac_variance(d, 1) == pytest.approx(1.0 + 2 * 0.5 * (-0.75))


@pytest.mark.parametrize("df", [1, 3, 29, 249, 5000])
def test_student_t_p_value_matches_scipy(df):
    scipy_stats = pytest.importorskip("scipy.stats")
    for t in (0.0, 0.3, 1.0, 1.96, 3.5, -2.2, 12.0):
        expected = 2 * scipy_stats.t.sf(abs(t), df)
        assert stats.student_t_two_sided_p(t, df) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_dm_matches_statsmodels_hac_with_the_harvey_correction():
    sm = pytest.importorskip("statsmodels.api")
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(3)
    n, h = 250, 7
    noise = rng.normal(size=n + h)
    d = 0.15 + np.convolve(noise, np.ones(h) / np.sqrt(h), mode="valid")[:n]  # MA(6): overlapping targets
    loss_b = rng.gamma(2.0, size=n)
    loss_a = loss_b + d
    result = stats.diebold_mariano(loss_a, loss_b, horizon=h)
    fit = sm.OLS(d, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": 14, "use_correction": False})
    hln = np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    expected = hln * float(fit.tvalues[0])
    assert result["bandwidth"] == 14 and result["n"] == n
    assert result["stat"] == pytest.approx(expected, rel=1e-10)
    assert result["p_value"] == pytest.approx(2 * scipy_stats.t.sf(abs(expected), n - 1), rel=1e-10)
    assert result["mean_diff"] == pytest.approx(d.mean())
    assert result["stat"] > 0  # a has the higher loss: positive


def test_dm_sign_and_power():
    rng = np.random.default_rng(0)
    base = rng.gamma(2.0, size=400)
    better = base - 0.3 + rng.normal(0, 0.1, 400)
    result = stats.diebold_mariano(better, base, horizon=1)
    assert result["stat"] < 0 and result["p_value"] < 0.001
    swapped = stats.diebold_mariano(base, better, horizon=1)
    assert swapped["stat"] == pytest.approx(-result["stat"])
    assert swapped["p_value"] == pytest.approx(result["p_value"])


def test_dm_drops_nan_pairs_and_honours_an_explicit_bandwidth():
    a = np.array([1.0, np.nan, 2.0, 3.0, 1.5, 2.5, 0.5, 2.0])
    b = np.array([0.5, 1.0, np.nan, 2.0, 1.0, 2.0, 1.0, 1.0])
    result = stats.diebold_mariano(a, b, horizon=1, bandwidth=2)
    keep = ~(np.isnan(a) | np.isnan(b))
    assert result["n"] == 6 and result["bandwidth"] == 2
    assert result["mean_diff"] == pytest.approx(np.mean(a[keep] - b[keep]))


def test_dm_degenerate_cases():
    same = np.array([1.0, 2.0, 3.0, 4.0])
    assert stats.diebold_mariano(same, same) | {"n": 0} == {
        "stat": 0.0,
        "p_value": 1.0,
        "mean_diff": 0.0,
        "n": 0,
        "bandwidth": 3,
    }
    shifted = stats.diebold_mariano(same + 1, same)
    assert shifted["stat"] is None and shifted["p_value"] is None and shifted["mean_diff"] == 1.0
    tiny = stats.diebold_mariano([1.0], [2.0])
    assert tiny["stat"] is None and tiny["n"] == 1
    with pytest.raises(ValueError, match="shape"):
        stats.diebold_mariano([1.0, 2.0], [1.0])


# ---------------------------------------------------------------- Model Confidence Set


def test_mcs_keeps_the_good_models_and_drops_a_clearly_worse_one():
    pytest.importorskip("arch")
    rng = np.random.default_rng(1)
    n = 400
    losses = {
        "model": rng.gamma(2.0, 0.5, n),
        "har": rng.gamma(2.0, 0.5, n) + 0.02,
        "persistence": rng.gamma(2.0, 0.5, n) + 1.0,
    }
    losses["model"][5] = np.nan  # a day with a missing loss is dropped for everyone
    result = stats.model_confidence_set(losses, size=0.10, block_size=7, reps=300, seed=0)
    assert "persistence" not in result["included"]
    assert set(result["included"]) == {"model", "har"}
    assert list(result["pvalues"]) == ["model", "har", "persistence"]
    assert (
        result["pvalues"]["persistence"] < 0.10 <= min(result["pvalues"]["model"], result["pvalues"]["har"])
    )
    again = stats.model_confidence_set(losses, size=0.10, block_size=7, reps=300, seed=0)
    assert again == result  # seeded: the same answer twice


def test_mcs_refuses_short_blocks_and_single_models():
    pytest.importorskip("arch")
    ones = np.ones(50)
    with pytest.raises(ValueError, match="block_size"):
        stats.model_confidence_set({"a": ones, "b": ones}, block_size=3)
    with pytest.raises(ValueError, match="at least 2 forecasters"):
        stats.model_confidence_set({"a": ones})


# ---------------------------------------------------------------- regimes


def test_balanced_accuracy_and_recall_by_hand():
    true = np.array([0, 0, 0, 0, 2, 2, -1])
    pred = np.array([0, 1, 1, 0, 2, 3, 3])
    assert stats.balanced_accuracy(true, pred) == pytest.approx((0.5 + 0.5) / 2)
    assert stats.per_regime_recall(true, pred, NAMES) == {
        "Bear": 0.5,
        "Correction": None,
        "Bull": 0.5,
        "Expansion": None,
    }


def test_balanced_accuracy_interval_brackets_the_estimate_and_is_seeded():
    rng = np.random.default_rng(0)
    true = np.repeat(rng.integers(0, 4, 40), 25)  # 40 runs of 25 days
    pred = np.where(rng.random(len(true)) < 0.7, true, rng.integers(0, 4, len(true)))
    ci = stats.balanced_accuracy_ci(true, pred, block=30, reps=300, seed=1)
    assert ci["low"] <= ci["value"] <= ci["high"]
    assert 0.0 < ci["high"] - ci["low"] < 0.2
    assert ci == stats.balanced_accuracy_ci(true, pred, block=30, reps=300, seed=1)
    perfect = stats.balanced_accuracy_ci(true, true, reps=50)
    assert perfect["low"] == perfect["high"] == perfect["value"] == 1.0


def test_paired_difference_interval_scores_both_detectors_on_the_same_days():
    rng = np.random.default_rng(0)
    true = np.repeat(rng.integers(0, 4, 40), 25)
    good = np.where(rng.random(len(true)) < 0.8, true, rng.integers(0, 4, len(true)))
    worse = np.where(rng.random(len(true)) < 0.6, true, rng.integers(0, 4, len(true)))
    diff = stats.balanced_accuracy_ci(true, good, block=30, reps=300, seed=1, versus=worse)
    assert diff["value"] == pytest.approx(
        stats.balanced_accuracy(true, good) - stats.balanced_accuracy(true, worse)
    )
    assert 0 < diff["low"] <= diff["value"] <= diff["high"]
    # pairing: a detector against itself differs by exactly 0 in every replicate
    same = stats.balanced_accuracy_ci(true, good, reps=50, versus=good)
    assert same["low"] == same["high"] == same["value"] == 0.0
    # narrower than the gap between the two separate intervals would suggest (the days' luck is shared)
    a = stats.balanced_accuracy_ci(true, good, block=30, reps=300, seed=1)
    b = stats.balanced_accuracy_ci(true, worse, block=30, reps=300, seed=1)
    assert diff["high"] - diff["low"] < (a["high"] - a["low"]) + (b["high"] - b["low"])


def test_detection_lags_count_misses_and_charge_the_run():
    # day:   0  1  2  3  4  5  6  7  8  9 10 11
    true = [2, 2, 0, 0, 0, 0, 3, 3, 3, 2, 2, 2]
    pred = [2, 2, 2, 2, 0, 0, 2, 2, 2, 2, 2, 2]
    # Bear starts at 2, named at 4: lag 2. Expansion starts at 6, never named: miss, run of 3 days.
    # Bull starts at 9 and is named that day: lag 0. The run under way at day 0 is not a start.
    result = stats.detection_lags(np.array(true), np.array(pred))
    assert result == {
        "starts": 3,
        "detected": 2,
        "missed": 1,
        "mean_lag_detected": 1.0,
        "mean_lag_miss_as_run": pytest.approx((2 + 3 + 0) / 3),
    }
    late = stats.detection_lags(np.array(true), np.array(pred), max_lag=1)
    assert late["detected"] == 1 and late["missed"] == 2
    assert late["mean_lag_miss_as_run"] == pytest.approx((4 + 3 + 0) / 3)


def test_detection_lags_do_not_read_a_segment_boundary_as_a_start():
    true = np.array([2, 2, 2, 0, 0, 0])
    pred = np.array([2, 2, 2, 0, 0, 0])
    assert stats.detection_lags(true, pred)["starts"] == 1
    assert stats.detection_lags(true, pred, segment=np.array([0, 0, 0, 1, 1, 1]))["starts"] == 0
    empty = stats.detection_lags(np.array([1, 1]), np.array([1, 1]))
    assert empty["mean_lag_detected"] is None and empty["mean_lag_miss_as_run"] is None


def test_false_alarms_per_year():
    true = np.array([2] * 365 + [0] * 365)
    pred = true.copy()
    assert stats.false_alarms_per_year(true, pred) == 0.0  # a switch into the true regime is no alarm
    pred[100:110] = 1  # a wrong switch into Correction (the switch back to Bull is right)
    pred[400:405] = 3  # a wrong switch into Expansion, and the switch back to Bear is right
    assert stats.false_alarms_per_year(true, pred) == pytest.approx(2 / 2)
    segment = np.repeat([0, 1], 365)
    pred2 = true.copy()
    pred2[365:] = 1  # from the boundary on: not a switch inside a segment
    assert stats.false_alarms_per_year(true, pred2, segment=segment) == 0.0
    assert stats.false_alarms_per_year(true, pred2) == pytest.approx(1 / 2)


def test_log_loss_and_brier_by_hand():
    true = np.array([0, 2, -1])
    probs = np.array([[0.5, 0.25, 0.25, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert stats.log_loss(true, probs) == pytest.approx(-(np.log(0.5) + np.log(1.0)) / 2, abs=1e-9)
    brier_0 = 0.5**2 + 0.25**2 + 0.25**2
    assert stats.brier(true, probs) == pytest.approx(brier_0 / 2, abs=1e-9)
    # a confident miss is large but finite
    assert np.isfinite(stats.log_loss(np.array([3]), np.array([[1.0, 0.0, 0.0, 0.0]])))
    assert stats.brier(np.array([3]), np.array([[1.0, 0.0, 0.0, 0.0]])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shape"):
        stats.log_loss(true, probs[:2])


def test_mcs_without_arch_raises_missing_extra(monkeypatch):
    import sys

    from mltrain.baselines import MissingExtra

    monkeypatch.setitem(sys.modules, "arch", None)  # what `import arch` meets when the extra is absent
    monkeypatch.setitem(sys.modules, "arch.bootstrap", None)
    with pytest.raises(MissingExtra, match="arch"):
        stats.model_confidence_set({"a": np.ones(30), "b": np.ones(30)})


def test_a_p_value_rounded_to_zero_is_the_strongest_evidence_not_a_missing_one():
    """`models score` once read a stored p of 0.0 as 'no p' (`p or 1`) and left that symbol out of its alert."""
    from mltrain.stats import worse_beyond_noise

    assert worse_beyond_noise({"stat": 5.2, "p_value": 0.0})
    assert worse_beyond_noise({"stat": 2.1, "p_value": 0.03})
    assert not worse_beyond_noise({"stat": -5.2, "p_value": 0.0})  # better beyond noise, not worse
    assert not worse_beyond_noise({"stat": 1.0, "p_value": 0.2})
    assert not worse_beyond_noise({"stat": None, "p_value": None}) and not worse_beyond_noise(None)
