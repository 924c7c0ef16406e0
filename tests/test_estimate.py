"""The time estimate: history rows as `train` records them, the calibration they give, the probe cache."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mltrain import estimate as E
from mltrain import estimate_eval as EE
from mltrain.config import TrainingConfig
from mltrain.jobs import Jobs
from mltrain.kinds import KINDS
from mltrain.paths import Home


def config(kind: str = "regime", **changes) -> TrainingConfig:
    return TrainingConfig(**{**KINDS[kind].defaults, **changes})


def row(cfg: TrainingConfig, kind: str = "regime", *, epochs_run=40, best=25, fit=8.0, total=11.0, **extra):
    """A history row as runner.run_training records it (a 3 s overhead, 8 s of fitting for 40 epochs)."""
    found = E.history_row(kind, cfg, "cpu", "completed", {"BTC": epochs_run}, {"BTC": best}, fit, total, 1.0)
    return {**found, **extra}


def test_after_one_run_the_same_config_is_estimated_at_that_runs_duration():
    cfg = config()
    got = E.from_history("regime", cfg, "cpu", [row(cfg)])
    assert got is not None and got.expected_seconds == pytest.approx(11.0)
    # the upper bound: every epoch of the budget at the measured pace, plus the same overhead
    assert got.upper_seconds == pytest.approx(3.0 + 8.0 / 40 * cfg.epochs)
    assert "this config" in got.basis and "after 40 of 100 epochs" in got.basis


def test_the_overhead_does_not_scale_with_epochs_and_the_epochs_come_from_history():
    cfg = config()
    got = E.from_history("regime", cfg, "cpu", [row(cfg, epochs_run=20, fit=4.0, total=10.0)])
    assert got.expected_seconds == pytest.approx(10.0)  # 6 s overhead + 20 epochs x 0.2 s
    assert got.upper_seconds == pytest.approx(6.0 + 0.2 * 100)


def test_a_similar_config_scales_the_pace_by_rows_and_expects_best_epoch_plus_patience():
    # correction on: the network is trained (off, no network is trained and rows per epoch are 0)
    seen = config("volatility", days=365, epochs=50, patience=12, correction="on")
    wanted = config("volatility", days=730, epochs=100, patience=15, correction="on")
    got = E.from_history("volatility", wanted, "cpu", [row(seen, "volatility", epochs_run=30, best=18)])
    per_row_epoch = 8.0 / (E.rows_per_epoch("volatility", seen) * 30)
    expected_epochs = 18 + 15
    assert got.expected_seconds == pytest.approx(
        3.0 + per_row_epoch * E.rows_per_epoch("volatility", wanted) * expected_epochs
    )
    assert "batch size and width" in got.basis and "best epoch was 18" in got.basis


def test_the_same_config_wins_over_other_runs_and_only_the_newest_few_count():
    cfg, other = config(), config(days=365)
    runs = [row(other, fit=80.0, total=90.0)] + [row(cfg, total=100.0)] * 3 + [row(cfg)] * E.RECENT_RUNS
    assert E.from_history("regime", cfg, "cpu", runs).expected_seconds == pytest.approx(11.0)


def test_unusable_rows_are_ignored():
    cfg = config()
    old_format = {
        "model_type": "regime",
        "device": "cpu",
        "status": "completed",
        "work_units": 1,
        "best_epoch": 1,
    }
    runs = [
        row(cfg, status="failed"),
        row(cfg, device="cuda"),
        row(cfg, "regime", model_type="volatility"),
        old_format,
    ]
    assert E.from_history("regime", cfg, "cpu", runs) is None


def test_another_step_shape_is_scaled_by_the_probes_when_both_are_cached():
    seen, wanted = config(batch_size=64), config(batch_size=256)
    probes = {
        E.probe_key("regime", seen, "cpu"): {"seconds_per_sample": 4e-6},
        E.probe_key("regime", wanted, "cpu"): {"seconds_per_sample": 1e-6},
    }
    plain = E.from_history("regime", wanted, "cpu", [row(seen)])
    scaled = E.from_history("regime", wanted, "cpu", [row(seen)], probes)
    assert scaled.expected_seconds - 3.0 == pytest.approx((plain.expected_seconds - 3.0) / 4)


def test_estimate_reads_history_then_the_cached_probe_and_never_makes_up_a_number(tmp_path: Path):
    home = Home(tmp_path / "home")
    cfg = config()
    assert E.estimate(home, "regime", cfg, "cpu", measure=False) is None
    Jobs(home).save_probe(E.probe_key("regime", cfg, "cpu"), 2e-6)
    cached = E.estimate(home, "regime", cfg, "cpu", measure=True)  # cached: nothing is timed again
    assert "cached probe" in cached.basis
    # every epoch at the probed pace, plus the reference machine's loading and baselines (stated)
    prior = E.overhead_prior("regime", cfg)
    assert prior > 0 and "loading and baselines (the reference machine's" in cached.basis
    assert cached.upper_seconds == pytest.approx(prior + 2e-6 * E.work_units("regime", cfg))
    Jobs(home).record_run({"job_id": "j1", **row(cfg)})
    found = E.estimate(home, "regime", cfg, "cpu", measure=False)
    assert found.expected_seconds == pytest.approx(11.0) and "median of 1 past run" in found.basis


def test_history_of_another_host_is_not_used(tmp_path: Path):
    home = Home(tmp_path / "home")
    cfg = config()
    Jobs(home).record_run(row(cfg))
    path = home.cache / "runs.jsonl"
    path.write_text(path.read_text().replace(f'"host": "{socket.gethostname()}"', '"host": "elsewhere"'))
    assert E.estimate(home, "regime", cfg, "cpu", measure=False) is None


def test_evaluation_runs_folds_workers_at_a_time(tmp_path: Path):
    home = Home(tmp_path / "home")
    cfg = config()
    Jobs(home).record_run(row(cfg))
    got = EE.for_evaluation(home, "regime", cfg, folds=5, workers=2)
    # a fold pays the run's fitting (8 s) and a fold's own overhead, not a train's 3 s: 3 rounds of 2 folds
    fold = EE.fold_overhead_prior("regime", cfg)
    assert got.expected_seconds == pytest.approx((8.0 + fold) * 3) and "5 folds" in got.basis
    # after one evaluation of this config on this host: its pace per round of folds
    Jobs(home).record_run(EE.evaluation_row("regime", cfg, folds=4, workers=2, seconds=10.0, synthetic=False))
    paced = EE.for_evaluation(home, "regime", cfg, folds=5, workers=2)
    assert paced.expected_seconds == pytest.approx(5.0 * 3) and "1 past evaluation" in paced.basis
    assert paced.upper_seconds >= paced.expected_seconds
    # another config's or a synthetic run's pace is not this one's; train estimates ignore evaluation rows
    assert (
        "past evaluation"
        not in EE.for_evaluation(home, "regime", cfg, folds=5, workers=2, synthetic=True).basis
    )
    assert E.from_history("regime", cfg, "cpu", Jobs(home).runs()).expected_seconds == pytest.approx(11.0)
    # a round of one worker's folds is not a round of two's; a JSON true is not a number of seconds
    assert "past evaluation" not in EE.for_evaluation(home, "regime", cfg, folds=5, workers=1).basis
    Jobs(home).record_run({**EE.evaluation_row("regime", cfg, 4, 2, 10.0, False), "seconds": True})
    assert "1 past evaluation" in EE.for_evaluation(home, "regime", cfg, folds=5, workers=2).basis


def test_epochs_come_from_runs_with_the_same_budget_and_patience_before_best_epoch_plus_patience():
    other_days = config(days=365)  # same epochs and patience as the defaults, other data
    got = E.from_history("regime", config(), "cpu", [row(other_days, epochs_run=37, best=22)])
    assert "same budget and patience stopped after 37" in got.basis
    # a quick run peaked at epoch 1: expect no fewer than the 2 x patience prior for a longer budget
    quick = config(days=90, epochs=20, patience=10)
    floor = E.from_history("regime", config(), "cpu", [row(quick, epochs_run=11, best=1)])
    assert "about 30 of 100 epochs" in floor.basis


def test_a_damaged_history_row_is_skipped_not_an_error():
    cfg = config()
    good = row(cfg)
    damaged = [{**good, "fit_seconds": "8"}, {**good, "epochs_run": None}, {**good, "config": None}, [1, 2]]
    assert E.from_history("regime", cfg, "cpu", damaged) is None


def test_a_line_of_the_history_file_that_is_not_a_record_is_skipped(tmp_path: Path):
    home = Home(tmp_path / "home")
    cfg = config()
    Jobs(home).record_run(row(cfg))
    with (home.cache / "runs.jsonl").open("a") as f:
        f.write('[1, 2]\n"text"\n{"torn": \n')
    assert E.estimate(home, "regime", cfg, "cpu", measure=False).expected_seconds == pytest.approx(11.0)


def test_encoder_and_pretraining_are_part_of_what_an_estimate_matches_and_counts():
    """A GRU run is not estimated at an MLP run's pace, and pretraining is counted (it runs outside the
    epochs, so a run records it as overhead)."""
    mlp, gru = config(encoder="mlp"), config(encoder="gru")
    assert E.probe_key("regime", mlp, "cpu") != E.probe_key("regime", gru, "cpu")
    assert E.config_key(mlp) != E.config_key(gru)
    assert E.config_key(config()) == E.config_key(mlp)  # history rows written before the fields still match
    plain, pre = config(), config(pretrain_markets=8)
    rows = E.extra_rows("regime", pre.model_dump())
    assert rows == 8 * 3000 * 10 and E.extra_rows("regime", plain.model_dump()) == 0
    assert E.extra_rows("volatility", config("volatility").model_dump()) == 0
    probed = E.from_probe("regime", pre, "cpu", 1e-6, measured_now=True)
    base = E.from_probe("regime", plain, "cpu", 1e-6, measured_now=True)
    assert probed.expected_seconds - base.expected_seconds == pytest.approx(rows * 1e-6)
    assert "pretraining" in probed.basis and "pretraining" not in base.basis
    # after a plain run, a pretraining config adds its pretraining at that run's pace
    past = [row(plain)]
    with_pre = E.from_history("regime", pre, "cpu", past)
    pace = 8.0 / (E.rows_per_epoch("regime", plain) * 40)
    assert with_pre.expected_seconds - E.from_history("regime", plain, "cpu", past).expected_seconds == (
        pytest.approx(pace * rows, rel=0.2)
    )


def test_a_volatility_run_without_correction_trains_no_network_and_is_estimated_without_a_probe(tmp_path):
    """No training theatre (issue 23): correction off trains no network, so the estimate holds no epochs."""
    cfg = config("volatility")
    assert E.rows_per_epoch("volatility", cfg) == 0
    got = E.estimate(Home(tmp_path), "volatility", cfg, "cpu", measure=True)
    assert got is not None and "no network is trained" in got.basis
    assert got.upper_basis == "twice that: no epochs to bound it"  # not "all epochs": there are none
    assert E.from_probe("regime", config(), "cpu", 1e-6, measured_now=True).upper_basis.startswith(
        "all epochs"
    )
    assert Jobs(Home(tmp_path)).probes() == {}  # nothing was probed


def test_a_correction_off_evaluation_never_sets_the_pace_of_a_correction_on_one(tmp_path):
    """The network's correction is most of a volatility fold's work: an evaluation of one setting is not the
    pace of the other (it once estimated a correction-on evaluation at 2.1 s that took 8 s)."""
    home = Home(tmp_path)
    off, on = config("volatility", correction="off"), config("volatility", correction="on")  # as a run has
    assert E.config_key(off)["correction"] == "off" and E.config_key(on)["correction"] == "on"
    assert "correction" not in E.config_key(config())  # a regime config has no such field
    old = EE.evaluation_row("volatility", on, 2, 1, 20.0, False)
    old["config"].pop("correction")  # written before the key: which setting ran is unknown
    Jobs(home).record_run(old)
    Jobs(home).record_run(EE.evaluation_row("volatility", off, 2, 1, 2.0, False))
    assert "past evaluation" in EE.for_evaluation(home, "volatility", off, folds=2, workers=1).basis
    assert EE.for_evaluation(home, "volatility", off, folds=2, workers=1).expected_seconds == pytest.approx(
        2.0
    )
    assert "past evaluation" not in EE.for_evaluation(home, "volatility", on, folds=2, workers=1).basis
