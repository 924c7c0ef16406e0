"""Baseline forecasters: no look-ahead, the bias correction's sign, shapes and the missing-extra error."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mltrain
from mltrain import features as F
from mltrain import forecasts as V
from mltrain.baselines import MissingExtra
from mltrain.data import synth

EMBEDDED = Path(mltrain.__file__).parent / "data" / "embedded"


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    frame = pd.read_csv(EMBEDDED / "BTC.csv.gz", parse_dates=["timestamp"], index_col="timestamp")
    return frame.loc["2021-01-01":"2024-12-31"]


def _shocked(values: np.ndarray, from_row: int) -> np.ndarray:
    """The same series with every value from `from_row` on changed (a different future)."""
    out = np.array(values, dtype=float)
    out[from_row:] *= np.linspace(3.0, 0.2, len(out) - from_row)
    return out


HAR_FAMILY = [V.har, V.log_har, V.log_har_bc]


@pytest.mark.parametrize("forecaster", HAR_FAMILY, ids=lambda f: f.__name__)
def test_har_family_reads_nothing_after_the_forecast_day(btc, forecaster):
    var = F.daily_variance(btc, True)
    fit_start, fit_end = 100, 830
    rows = np.arange(fit_end, fit_end + 73)
    before = forecaster(var, fit_end, rows, fit_start=fit_start)
    assert before.shape == (73,) and np.isfinite(before).all()
    cut = fit_end + 40
    after = forecaster(_shocked(var, cut + 1), fit_end, rows, fit_start=fit_start)
    np.testing.assert_array_equal(after[:41], before[:41])  # forecasts made on days up to `cut`
    assert not np.allclose(after[41:], before[41:])  # the later ones did read their own days
    refit = forecaster(_shocked(var, fit_end), fit_end, rows[:1] - 1, fit_start=fit_start)
    np.testing.assert_array_equal(refit, forecaster(var, fit_end, rows[:1] - 1, fit_start=fit_start))


def test_har_fit_uses_only_samples_whose_target_ends_before_fit_end(btc):
    var = F.daily_variance(btc, True)
    fit = V.fit_har(var, 500, fit_start=100)
    # samples 100..492: the target of 492 covers rows 493..499; the first 21 rows have no 22-day window
    assert fit.rows == 500 - F.HORIZON_DAYS - 100
    assert fit.coef.shape == (4,)


def test_bias_correction_raises_the_forecast_by_the_training_constant(btc):
    var = F.daily_variance(btc, True)
    rows = np.arange(700, 760)
    plain = V.log_har(var, 700, rows, fit_start=0)
    corrected = V.log_har_bc(var, 700, rows, fit_start=0)
    shift = corrected - plain
    fit = V.fit_har(var, 700)
    assert fit.correction > 0  # Jensen: log of a mean exceeds the mean of a log
    np.testing.assert_allclose(shift, fit.correction)
    # on the training samples the corrected forecast is unbiased in variance: mean(v / h) is exactly 1
    design, target = V.har_design(var[:700]), F.future_log_vol(var[:700])
    train = np.isfinite(design).all(axis=1) & np.isfinite(target)
    fitted = fit.predict(design[train], corrected=True)
    assert np.mean(np.exp(2 * (target[train] - fitted))) == pytest.approx(1.0)


def test_weighted_robust_fit_reads_no_day_at_or_after_fit_end(btc):
    var = F.daily_variance(btc, True)
    fit = V.fit_har(var, 600, fit_start=50, half_life_days=365, robust_correction=True)
    again = V.fit_har(_shocked(var, 600), 600, fit_start=50, half_life_days=365, robust_correction=True)
    np.testing.assert_array_equal(fit.coef, again.coef)
    assert fit.correction == again.correction
    assert fit.rows == V.fit_har(var, 600, fit_start=50).rows  # the same samples, weighted


def test_robust_correction_is_the_squared_scaled_mad_of_the_weighted_fit_residuals(btc):
    var = F.daily_variance(btc, True)
    fit = V.fit_har(var, 700, half_life_days=200, robust_correction=True)
    design, target = V.har_design(var[:700]), F.future_log_vol(var[:700])
    train = np.isfinite(design).all(axis=1) & np.isfinite(target)
    residuals = target[train] - fit.predict(design[train], corrected=False)
    mad = np.median(np.abs(residuals - np.median(residuals)))
    assert fit.correction == pytest.approx((1.4826 * mad) ** 2)
    # the weights favour recent samples: the fit differs from plain least squares, and a half-life far longer
    # than the sample gives plain least squares back
    plain = V.fit_har(var, 700)
    assert not np.allclose(fit.coef, plain.coef)
    np.testing.assert_allclose(V.fit_har(var, 700, half_life_days=1e12).coef, plain.coef)
    assert 0 < fit.correction < plain.correction  # spikes inflate the mean-exp constant, not the MAD one


def test_log_har_and_har_differ_only_in_the_design(btc):
    var = F.daily_variance(btc, True)
    daily = V.har_design(var)[:, 0]
    np.testing.assert_allclose(daily, V.har_design(var, log_of_mean=False)[:, 0])  # 1-day window: same
    assert not np.allclose(V.har_design(var)[30:, 2], V.har_design(var, log_of_mean=False)[30:, 2])


def test_forecast_rows_before_the_fit_end_are_refused(btc):
    var = F.daily_variance(btc, True)
    with pytest.raises(ValueError, match="forecast rows must lie in"):
        V.log_har(var, 500, np.arange(490, 510))
    with pytest.raises(ValueError, match="fit_start < fit_end"):
        V.log_har(var, 100, np.arange(100, 110), fit_start=100)
    with pytest.raises(ValueError, match="training samples"):
        V.log_har(var, 30, np.arange(30, 40))


@pytest.mark.parametrize("forecaster", [V.garch, V.gjr_garch], ids=lambda f: f.__name__)
def test_garch_family_is_causal(btc, forecaster):
    pytest.importorskip("arch")
    close = btc["close"].to_numpy()
    fit_start, fit_end = 300, 1030
    rows = np.arange(fit_end, fit_end + 30)
    before = forecaster(close, fit_end, rows, fit_start=fit_start)
    assert before.shape == (30,) and np.isfinite(before).all()
    assert np.all((before > np.log(0.1)) & (before < np.log(5.0)))  # annualized vol between 10% and 500%
    after = forecaster(_shocked(close, fit_end + 20), fit_end, rows, fit_start=fit_start)
    np.testing.assert_allclose(after[:20], before[:20], rtol=1e-9)


def test_gjr_garch_without_arch_raises_missing_extra(btc, monkeypatch):
    monkeypatch.setitem(sys.modules, "arch", None)  # what `import arch` meets when the extra is absent
    with pytest.raises(MissingExtra, match="arch"):
        V.gjr_garch(btc["close"].to_numpy(), 500, np.arange(500, 510))


# ---------------------------------------------------------------- regimes


@pytest.fixture(scope="module")
def market() -> tuple[np.ndarray, np.ndarray]:
    frame, states = synth.generate(2000, seed=7)
    return frame["close"].to_numpy(), states


def test_jump_model_finds_the_synthetic_regimes_better_than_chance(market):
    from mltrain.stats import balanced_accuracy

    close, states = market
    rows = np.arange(1500, 2000)
    regimes = V.jump_model_regimes(close, 1500, rows, fit_start=1)
    assert regimes.shape == (500,) and set(np.unique(regimes)) <= {0, 1, 2, 3}
    # chance is 0.25; the true-parameter forward filter reaches about 0.6 on these markets
    assert balanced_accuracy(states[rows], regimes) > 0.35


def test_jump_model_is_causal_and_the_penalty_cuts_switches(market):
    close, _ = market
    rows = np.arange(1000, 1500)
    model = V.fit_jump_model(close, 1000, fit_start=1)
    assert sorted(model.regime_of_state) == [0, 1, 2, 3]
    before = model.online_regimes(close, 1, rows)
    after = model.online_regimes(_shocked(close, 1300), 1, rows)
    np.testing.assert_array_equal(after[:300], before[:300])
    calm = V.fit_jump_model(close, 1000, fit_start=1, penalty=400.0).online_regimes(close, 1, rows)
    jumpy = V.fit_jump_model(close, 1000, fit_start=1, penalty=2.0).online_regimes(close, 1, rows)
    assert np.sum(np.diff(calm) != 0) < np.sum(np.diff(jumpy) != 0)


def test_hmm_probabilities_are_causal_distributions(market):
    pytest.importorskip("hmmlearn")
    close, _ = market
    rows = np.arange(1000, 1200)
    probs = V.hmm_regime_probs(close, 1000, rows, fit_start=200)
    assert probs.shape == (200, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    after = V.hmm_regime_probs(_shocked(close, 1100), 1000, rows, fit_start=200)
    np.testing.assert_allclose(after[:100], probs[:100])


def test_a_repeated_baseline_fit_is_answered_from_the_memo_as_a_copy(market, monkeypatch):
    """The memo (baselines.memoized) answers the same call again without fitting, hands out copies, fits
    again for changed prices, and keeps at most MEMO_SIZE fits."""
    from mltrain import baselines

    close, _ = market
    rows = np.arange(900, 960)
    fits = []
    real = V.fit_jump_model
    monkeypatch.setattr(V, "fit_jump_model", lambda *a, **k: fits.append(1) or real(*a, **k))
    monkeypatch.setattr(baselines, "_memo", type(baselines._memo)())
    first = V.jump_model_regimes(close, 900, rows, fit_start=1)
    first[:] = -1  # the caller's copy: the memo keeps its own
    again = V.jump_model_regimes(close, 900, rows, fit_start=1)
    assert len(fits) == 1 and (again >= 0).all()
    np.testing.assert_array_equal(again, real(close, 900, 1).online_regimes(close, 1, rows))
    V.jump_model_regimes(_shocked(close, 950), 900, rows, fit_start=1)
    V.jump_model_regimes(close, 900, rows, fit_start=1, seed=1)
    assert len(fits) == 3
    monkeypatch.setattr(baselines, "MEMO_SIZE", 2)
    V.jump_model_regimes(close, 901, rows, fit_start=1)
    assert len(baselines._memo) == 2
