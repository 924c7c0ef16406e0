"""Causality, no train/validation overlap, determinism, and that every config field changes training."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mltrain import features as F
from mltrain.config import TrainingConfig
from mltrain.data.store import DataStore, Series
from mltrain.forecasts import HarFit, har_design
from mltrain.kinds import KINDS
from mltrain.kinds.regime_model import asset, blocks, labels_before, train_regime
from mltrain.kinds.volatility_model import panel
from mltrain.kinds.volatility_train import train_pooled
from mltrain.models import RegimeNet, VolatilityNet, parameter_count
from mltrain.paths import Home
from mltrain.train import Split, fit


@pytest.fixture(scope="module")
def btc() -> Series:
    return DataStore(Home(Path("/nonexistent"))).load("BTC")


def cfg(kind: str, **changes) -> TrainingConfig:
    return TrainingConfig(**{**KINDS[kind].defaults, "epochs": 10, "patience": 5, **changes})


def perturb_after(series: Series, day: pd.Timestamp) -> Series:
    frame = series.frame.copy()
    later = frame.index > day
    rng = np.random.default_rng(3)
    factor = np.exp(rng.normal(0, 0.2, later.sum()))
    frame.loc[later, ["open", "high", "low", "close"]] = frame.loc[
        later, ["open", "high", "low", "close"]
    ].mul(factor, axis=0)
    return Series(series.symbol, frame, series.source, series.has_ohlc)


def test_features_for_day_t_ignore_later_prices(btc: Series):
    t = btc.frame.index[-400]
    changed = perturb_after(btc, t)
    for fn in (lambda s: F.volatility_features(s.frame, True), lambda s: F.regime_features(s.frame)):
        a, b = fn(btc).loc[:t], fn(changed).loc[:t]
        pd.testing.assert_frame_equal(a, b)
        assert not fn(btc).iloc[-300:].equals(fn(changed).iloc[-300:])


def test_volatility_blocks_are_purged_and_validation_prices_never_reach_fit_or_selection(btc: Series):
    config = cfg("volatility", days=365, train_val_split=0.8)
    base = panel(btc, config)
    gap = F.HORIZON_DAYS
    assert base.fit[-1] + gap < base.selection[0] and base.selection[-1] + gap < base.validation[0]
    assert len(base.validation) == 73 and len(base.selection) == 58
    spans = base.blocks()
    assert spans["fit"]["last"] < spans["selection"]["first"] < spans["validation"]["first"]
    val_start = base.dates[base.validation[0]]
    changed = panel(
        perturb_after(btc, val_start - pd.Timedelta(days=1)), config, end=base.dates[base.validation[-1]]
    )
    same = panel(btc, config, end=base.dates[base.validation[-1]])
    for rows in ("fit", "selection"):
        a, b = getattr(same, rows), getattr(changed, rows)
        assert np.array_equal(same.x(a, same.base_fit), changed.x(b, changed.base_fit))
        assert np.array_equal(same.target[a], changed.target[b])
    assert np.array_equal(same.har_full.coef, changed.har_full.coef)
    # the model's base (its weights, coefficients and bias constant) is chosen on fit + selection rows only
    for har in ("base_fit", "base_full", "har_full"):
        assert np.array_equal(getattr(same, har).coef, getattr(changed, har).coef)
        assert getattr(same, har).correction == getattr(changed, har).correction
    assert not np.array_equal(same.target[same.validation], changed.target[changed.validation])


def test_regime_blocks_use_labels_from_prices_before_each_block(btc: Series):
    config = cfg("regime", days=365)
    b = blocks(asset(btc), config, None)
    assert b.fit_end < b.selection_start < b.validation_start
    assert (b.validation_start - b.target.dates[b.selection[-1]]).days > 7
    end = b.target.dates[b.validation[-1]]
    changed = blocks(asset(perturb_after(btc, b.validation_start - pd.Timedelta(days=1))), config, end)
    same = blocks(asset(btc), config, end)
    assert np.array_equal(same.selection, changed.selection)
    for day in (same.selection_start, same.validation_start):
        assert np.array_equal(labels_before(same.target, day), labels_before(changed.target, day))


def test_labels_definition_on_a_known_path():
    up = np.linspace(100, 200, 50)
    crash = np.linspace(200, 100, 30)[1:]  # -50%: a Bear
    rebound = np.linspace(100, 190, 40)[1:]  # Expansion while below 0.85 * 200 = 170, then Bull
    dip = np.linspace(190, 150, 20)[1:]  # -21%... not a turning point at 25%: still unlabeled tail
    close = np.concatenate([up, crash, rebound, dip])
    labels = F.regime_labels(close)
    assert set(labels[50:79]) == {0}  # Bear days after the peak
    rebound_labels = labels[79:118]
    assert rebound_labels[0] == 3 and rebound_labels[-1] == 2 and 1 not in rebound_labels


@pytest.mark.slow  # trains a network
def test_same_seed_same_metrics_on_cpu():
    store = DataStore(Home(Path("/nonexistent")))
    # batch_size 256 as the built-in presets set it (the seed default of 32 is 8x the steps; same assertion)
    a = train_regime(store, cfg("regime", days=365, batch_size=256), "BTC", seed=5, device="cpu")
    b = train_regime(store, cfg("regime", days=365, batch_size=256), "BTC", seed=5, device="cpu")
    assert a.metrics == b.metrics and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def _split(n: int = 100) -> Split:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 10, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    return Split(x, y, x[:20], y[:20])


def _fit(model, split, **kw):
    args = dict(
        epochs=10,
        patience=5,
        batch_size=32,
        learning_rate=0.001,
        seed=0,
        loss_fn=torch.nn.functional.cross_entropy,
        metric_fn=lambda out: 0.0,
    )
    return fit(model, split, **{**args, **kw})


def test_batch_size_changes_steps_per_epoch():
    torch.manual_seed(0)
    assert _fit(RegimeNet(10), _split(), epochs=10, batch_size=32).steps == 10 * 4
    torch.manual_seed(0)
    assert _fit(RegimeNet(10), _split(), epochs=10, batch_size=8).steps == 10 * 13


def test_learning_rate_changes_weights_after_one_step():
    out = []
    for lr in (0.001, 0.01):
        torch.manual_seed(0)
        out.append(_fit(RegimeNet(10), _split(32), epochs=1, batch_size=32, learning_rate=lr).state_dict)
    assert not torch.equal(out[0]["net.0.weight"], out[1]["net.0.weight"])


class CannotImprove(torch.nn.Module):
    """Its output never depends on its weight: the selection loss never improves on the starting weights."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.zeros(len(x), 4) + 0 * self.w


def test_patience_and_epochs_decide_when_training_stops():
    # the starting weights are epoch 0: nothing beats them, so training stops after `patience` epochs
    first = _fit(CannotImprove(), _split(), epochs=50, patience=5)
    assert first.epochs_run == 5 and first.best_epoch == 0
    assert _fit(CannotImprove(), _split(), epochs=50, patience=9).epochs_run == 9
    assert _fit(RegimeNet(10), _split(), epochs=3, patience=50).epochs_run == 3


def test_hidden_size_changes_parameter_count():
    assert parameter_count(VolatilityNet(5, 32)) < parameter_count(VolatilityNet(5, 64))


@pytest.mark.slow  # trains a network
def test_days_and_symbols_change_what_is_trained():
    store = DataStore(Home(Path("/nonexistent")))
    one = train_pooled(store, cfg("volatility", days=120, symbols=["ETH"]), seed=1, device="cpu")
    two = train_pooled(store, cfg("volatility", days=150, symbols=["BTC", "SOL"]), seed=1, device="cpu")
    assert set(one.windows) == {"ETH"} and set(two.windows) == {"BTC", "SOL"}
    assert one.windows["ETH"]["rows"] == 120 and two.windows["BTC"]["rows"] == 150
    assert set(two.spec["symbols"]) == {"BTC", "SOL"} and "ETH" in two.spec["pool"]


@pytest.mark.slow  # trains a network
def test_volatility_metrics_sit_beside_every_baseline():
    store = DataStore(Home(Path("/nonexistent")))
    run = train_pooled(store, cfg("volatility", days=200, symbols=["BTC"]), seed=1, device="cpu")
    assert set(run.baselines) == {"persistence", "ewma", "har", "log_har", "log_har_bc", "garch", "gjr_garch"}
    for scores in (run.metrics["symbols"]["BTC"], *[b["BTC"] for b in run.baselines.values()]):
        assert set(scores) >= {"r2", "qlike", "mae"} and scores["qlike"] >= 0
    # the shipped forecast is the stored base (predict reads the same coefficients and constant): weighted
    # log-HAR plus the robust constant, not log_har_bc
    spec, stored = run.spec, run.spec["symbols"]["BTC"]
    assert spec["base_half_life_days"] == 730 and spec["base_correction"] == "mad"
    assert not stored["use_correction"]
    p = panel(store.load("BTC"), cfg("volatility", days=200, symbols=["BTC"]))
    base = HarFit(np.asarray(stored["har_coef"]), stored["har_correction"], 0)
    design = har_design(p.daily_var)[p.validation]
    np.testing.assert_allclose(run.predictions["BTC"]["model"], base.predict(design, corrected=True))
    assert np.allclose(base.coef, p.base_full.coef) and not np.allclose(base.coef, p.har_full.coef)
    assert run.predictions["BTC"]["model"] != run.predictions["BTC"]["log_har_bc"]


@pytest.mark.slow  # trains two networks
def test_volatility_network_fields_leave_the_shipped_forecast_and_its_selection_score_alone():
    """The correction is not applied, so the network's fields cannot move the forecast; the selection score a
    sweep compares is the base's (what ships), and the score table says the fields have no effect."""
    store = DataStore(Home(Path("/nonexistent")))
    small = train_pooled(store, cfg("volatility", days=200, symbols=["BTC"]), seed=1, device="cpu")
    wide = train_pooled(
        store,
        cfg("volatility", days=200, symbols=["BTC"], hidden_size=128, learning_rate=0.01, batch_size=16),
        seed=1,
        device="cpu",
    )
    assert small.predictions["BTC"]["model"] == wide.predictions["BTC"]["model"]
    assert small.selection_score == pytest.approx(wide.selection_score)
    p = panel(store.load("BTC"), cfg("volatility", days=200, symbols=["BTC"]))
    z = 2 * (p.target[p.selection] - p.base(p.selection, p.base_fit))
    assert small.selection_score == pytest.approx(float(np.mean(np.exp(z) - z - 1)), rel=1e-5)
    _, _, notes = KINDS["volatility"].score_table(small.metrics, small.baselines, small.windows)
    assert any("no network was trained" in n and "hidden_size were not used" in n for n in notes)
    assert small.spec["network_trained"] is False and small.epochs_run == {"BTC": 0}


@pytest.mark.slow  # trains two networks
def test_correction_on_applies_the_network_only_where_it_earned_its_place():
    store = DataStore(Home(Path("/nonexistent")))
    kw = dict(days=300, symbols=["BTC", "ETH"], epochs=20, learning_rate=0.01)
    off = train_pooled(store, cfg("volatility", **kw), seed=1, device="cpu")
    on = train_pooled(store, cfg("volatility", correction="on", **kw), seed=1, device="cpu")
    assert off.spec["correction_applied"] is False and on.spec["correction_applied"] is True
    # the recorded selection score is that of what ships: a symbol keeps the correction only if it cut that
    # symbol's selection QLIKE, so it is never above the base's
    assert on.selection_score <= off.selection_score
    _, _, notes = KINDS["volatility"].score_table(on.metrics, on.baselines, on.windows)
    kept = on.metrics["correction_kept"]
    said = f"correction is applied for {', '.join(kept)}" if kept else "correction is on, but"
    assert any(said in n for n in notes) and not any("correction: off, the default" in n for n in notes)
    for symbol in ("BTC", "ETH"):
        kept = on.spec["symbols"][symbol]["use_correction"]
        assert (symbol in on.metrics["correction_kept"]) == kept
        same = on.predictions[symbol]["model"] == off.predictions[symbol]["model"]
        assert same != kept  # a symbol without its correction is forecast by the base, exactly


def _store_with(root: Path, symbol: str, series: Series) -> DataStore:
    """A real store whose `symbol` is the given series (written as a CSV and imported)."""
    root.mkdir(parents=True)
    path = root / f"{symbol}.csv"
    series.frame.rename_axis("date").reset_index().to_csv(path, index=False, date_format="%Y-%m-%d")
    store = DataStore(Home(root / "home"))
    store.import_file(path, symbol)
    return store


@pytest.mark.slow  # trains networks
@pytest.mark.parametrize("kind", ["volatility", "regime"])
def test_selection_never_reads_the_validation_block(tmp_path: Path, btc: Series, kind: str):
    """Prices inside the validation block (hence its targets and labels) are rewritten: the chosen epoch and
    the weights stay the same; only the reported validation block moves."""
    # regime: batch_size 256 as the built-in presets set it (the seed default of 32 is 8x the steps), and a
    # pool of BTC and ETH: only BTC's prices are rewritten
    extra = {"symbols": ["BTC"]} if kind == "volatility" else {"batch_size": 256, "symbols": ["ETH"]}
    config = cfg(kind, days=365, epochs=15, patience=15, **extra)
    if kind == "volatility":
        first = panel(btc, config)
        val_start, end = first.dates[first.validation[0]], first.dates[first.validation[-1]]
    else:
        first = blocks(asset(btc), config, None)
        val_start, end = first.validation_start, first.target.dates[first.validation[-1]]
    cut = btc.frame[btc.frame.index <= end + pd.Timedelta(days=F.HORIZON_DAYS)]
    honest = Series("BTC", cut, "test", True)
    runs = []
    for k, series in enumerate((honest, perturb_after(honest, val_start - pd.Timedelta(days=1)))):
        store = _store_with(tmp_path / str(k), "BTC", series)
        if kind == "volatility":
            runs.append(train_pooled(store, config, seed=3, device="cpu", end=end))
        else:
            runs.append(train_regime(store, config, "BTC", seed=3, device="cpu", end=end))
    a, b = runs
    assert a.best_epoch == b.best_epoch
    if kind == "volatility":  # the base's coefficients and bias constant are chosen before the block too
        assert a.spec["symbols"]["BTC"]["har_coef"] == b.spec["symbols"]["BTC"]["har_coef"]
        assert a.spec["symbols"]["BTC"]["har_correction"] == b.spec["symbols"]["BTC"]["har_correction"]
    assert a.tensors.keys() == b.tensors.keys()
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert a.predictions["BTC"]["actual"] != b.predictions["BTC"]["actual"]


def test_min_r2_is_the_gate():
    metrics = {"symbols": {"BTC": {"r2": 0.3}, "ETH": {"r2": 0.6}}}
    baselines = {"har": {"BTC": {"r2": 0.2}, "ETH": {"r2": 0.1}}}
    gate = KINDS["volatility"].gate
    assert gate(metrics, baselines, cfg("volatility", min_r2=0.25))["passed"]
    verdict = gate(metrics, baselines, cfg("volatility", min_r2=0.5))
    assert not verdict["passed"] and set(verdict["failing"]) == {"BTC"}


def test_oos_r2_and_qlike_definitions():
    from mltrain.metrics import oos_r2, qlike

    actual = np.array([0.0, 1.0, 2.0])
    assert oos_r2(actual, actual, 5.0) == 1.0
    assert oos_r2(actual, np.full(3, 1.0), 1.0) == 0.0  # the training mean itself scores 0
    assert qlike(actual, actual) == 0.0 and qlike(actual, actual + 0.1) > 0


def test_live_progress_table_shows_the_figures():
    """The Rich live display (terminal mode) renders epoch, losses, metric, improvement, pace and ETA."""
    import io

    from mltrain.cli.render import Progress
    from mltrain.train import EpochRecord

    stream = io.StringIO()
    with Progress(stream, symbols=["BTC"], epochs=10, metric_name="r2", live=True, quiet=False) as progress:
        progress("BTC", EpochRecord(1, 10, 0.51, 0.42, 0.13, True, 1234.0, 0.2))
        progress("BTC", EpochRecord(2, 10, 0.50, 0.43, 0.12, False, 1300.0, 0.4))
    text = stream.getvalue()
    for piece in ("2/10", "0.4200", "0.1300", "*", "1300", "ETA", "early stopping may end sooner"):
        assert piece in text, piece
