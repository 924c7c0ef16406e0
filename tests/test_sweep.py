"""mltrain sweep: the search space, the SQLite study (two terminals at once), presets, training the best."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mltrain.config import TrainingConfig, load_presets
from mltrain.errors import ConfigError, ExitCode, Interrupted
from mltrain.executors import InlineExecutor
from mltrain.kinds import KINDS
from mltrain.paths import Home
from mltrain.sweep import context_for, default_space, open_study, parse_space, run_sweep, trial_rows
from tests.cluster import wait_for
from tests.conftest import run_cli

optuna = pytest.importorskip(
    "optuna", reason="the sweep extra is not installed: pip install 'mltrain[sweep]'"
)

REPO = Path(__file__).resolve().parents[1]
TOY = ["--objective", "tests.sweep_toy:quadratic"]
MODEL = "btc_regime_detector"


# ---------------------------------------------------------------- the search space


def test_default_space_fits_the_kind() -> None:
    assert "hidden_size" not in default_space("regime")
    assert set(default_space("volatility")) == {
        "learning_rate",
        "batch_size",
        "hidden_size",
        "patience",
    }
    # days and train_val_split set the scored blocks: no space may vary them (trials could not be ranked)
    assert not {"days", "train_val_split"} & set(default_space("regime"))


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"learning_rate": {"low": 0.5, "high": 1.0}},
            "learning_rate low 0.5 is out of range; allowed: 0.0001..0.1",
        ),
        ({"patience": [2, 10]}, "patience choice 2 is out of range; allowed: 5..50"),
        ({"batch_size": {"low": 8.5, "high": 64}}, "batch_size low 8.5 must be a whole number"),
        ({"hidden_size": {"low": 32, "high": 64}}, "hidden_size is for volatility models only"),
        ({"symbols": ["BTC"]}, "'symbols' cannot be searched; allowed: epochs"),
        ({"days": [120, 365]}, "days cannot be searched: days and train_val_split set the blocks"),
        ({"train_val_split": [0.8]}, "train_val_split cannot be searched: days and train_val_split set"),
        ({"patience": {"low": 20, "high": 10}}, "patience low 20 is above high 10"),
        ({"patience": {"low": 5, "high": 30, "step": 10}}, "must be a multiple of step 10"),
        ({"learning_rate": 0.01}, "learning_rate must be a list of choices or a mapping of low, high"),
        ({}, "is empty"),
    ],
)
def test_a_bad_space_names_the_field_and_the_allowed_range(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_space(values, "regime")


def test_a_bad_space_file_exits_2_with_its_line(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("batch_size: [16, 32]\nlearning_rate: {low: 0.0001, high: 0.5, log: true}\n")
    out = run_cli(["sweep", MODEL, "--trials", "2", "--space", space, *TOY], expect=ExitCode.USAGE)
    expected = f"search space {space} line 2: learning_rate high 0.5 is out of range; allowed: 0.0001..0.1"
    assert expected in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trials", "0"], "--trials 0 is out of range; allowed 1..10000"),
        (["--trials", "2", "--executor", "cluster"], "allowed: local, local:N"),
        (["--trials", "2", "--storage", "nosuchdb://x"], "cannot open study"),
        (["--trials", "2", "--save-preset", "full"], "not a built-in preset"),
        (["--trials", "2", "--study", " "], "--study needs a name"),
        (["--trials", "2", "--storage", "postgresql://u@localhost:1/db"], "pip install psycopg2-binary"),
    ],
)
def test_bad_flags_exit_2(args: list[str], message: str) -> None:
    if "psycopg2" in message and importlib.util.find_spec("psycopg2"):
        pytest.skip("the PostgreSQL driver is installed here: the missing-driver hint cannot show")
    out = run_cli(["sweep", MODEL, *args, *TOY], expect=ExitCode.USAGE)
    assert message in out.stderr


# ---------------------------------------------------------------- the study


def test_sweep_resumes_saves_a_preset_and_refuses_another_models_study(home: Path) -> None:
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: {low: 0.0003, high: 0.03, log: true}\nbatch_size: [32, 64]\n")
    first = run_cli(
        ["sweep", MODEL, "--trials", "3", "--space", space, "--executor", "local:2", "--json", *TOY]
    ).json["data"]
    assert first["this_run"] == [0, 1, 2] and len(first["trials"]) == 3
    again = run_cli(
        ["sweep", MODEL, "--trials", "2", "--space", space, "--save-preset", "tuned", "--json", *TOY]
    ).json["data"]
    assert again["this_run"] == [3, 4] and [t["number"] for t in again["trials"]] == [0, 1, 2, 3, 4]
    best = again["best"]
    assert best["value"] == min(t["value"] for t in again["trials"])
    preset = load_presets(Home(home))["tuned"]
    assert again["preset"] == {"name": "tuned", "path": str(preset.source)}  # the name train takes, and where
    assert preset.values["learning_rate"] == best["params"]["learning_rate"]
    assert "selection score" in preset.description
    text = run_cli(["sweep", MODEL, "--trials", "1", "--space", space, *TOY]).stdout
    # the title wraps to the table's width wherever the temp path's length puts the breaks (pytest-xdist adds
    # a popen-gwN folder): its words are checked, not its line breaks
    text = " ".join(text.split())
    assert "6 in the study" in text and "best: trial" in text
    other = run_cli(
        ["sweep", "volatility_forecaster", "--study", MODEL, "--trials", "1", *TOY], expect=ExitCode.USAGE
    )
    assert f"belongs to model '{MODEL}'" in other.stderr


def test_a_study_is_not_resumed_on_another_setup(home: Path) -> None:
    """Trials scored with another seed, on other folds, over another space or with another base config would
    be ranked against this run's as if comparable: the rerun exits 2 naming what differs, before any trial
    (a changed space once died inside Optuna and left a trial RUNNING). What no trial's score reads (a
    searched field's base value, the gate, the promotion folds) may differ; a study with no scored trial
    takes the new setup (its first run failed)."""
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: {low: 0.0003, high: 0.03, log: true}\n")
    base = ["sweep", MODEL, "--trials", "1", "--space", space, "--holdout-from", "2024-01-01", *TOY]
    run_cli([*base, "--json"])
    wider = home.parent / "wider.yaml"
    wider.write_text("learning_rate: {low: 0.0001, high: 0.03, log: true}\n")
    for extra, differs in (
        (["--seed", "7"], "seed: was 42, now 7"),
        (["--epochs", "12"], "epochs: was 100, now 12"),
        (["--holdout-from", "2023-01-01"], "scored folds: 4 ending 2022-10-19..2023-12-31, now 4 ending"),
        (["--objective", "tests.sweep_toy:quadratic_in_step"], "objective: was tests.sweep_toy:quadratic"),
        (["--space", wider], "search space: was {'learning_rate': '0.0003..0.03 (log)'}, now"),
    ):
        refused = run_cli([*base, *extra], expect=ExitCode.USAGE)
        assert differs in refused.stderr and "pick another --study" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    study = open_study(Home(home), None, MODEL, "regime", MODEL)
    assert {t["state"] for t in trial_rows(study)} == {"COMPLETE"}  # no refused run left a trial behind
    unread = ["--learning-rate", "0.005", "--promotion-folds", "2", "--promotion-regime-days", "0"]
    again = run_cli([*base, *unread, "--json"]).json["data"]
    assert again["this_run"] == [1]
    elsewhere = run_cli([*base, "--seed", "7", "--study", "seven", "--json"]).json["data"]
    assert elsewhere["this_run"] == [0]
    # a first run that failed before any trial (no workers) leaves the study free to take the next setup
    run_cli([*base, "--study", "failed", "--executor", "local:0"], expect=ExitCode.USAGE)
    assert run_cli([*base, "--study", "failed", "--seed", "3", "--json"]).json["data"]["this_run"] == [0]
    # failed trials fix their fields' ranges in Optuna: another seed is taken, another space is refused
    failing = [*base[:-2], "--objective", "tests.sweep_toy:failing", "--study", "fails"]
    failed = run_cli(failing, expect=ExitCode.FAILURE)  # every trial failed: a failure cron sees (it was 0)
    assert "error: every trial of this run failed; the first: the toy objective fails" in failed.stderr
    saving = run_cli([*failing, "--seed", "5", "--save-preset", "x"], expect=ExitCode.FAILURE).stderr
    assert "every trial of this run failed" in saving and "nothing to save or train" in saving
    clash = run_cli([*failing, "--space", wider], expect=ExitCode.USAGE).stderr
    assert "has failed trials suggested from another search space" in clash
    assert {t["state"] for t in trial_rows(open_study(Home(home), None, "fails", "regime", MODEL))} == {
        "FAIL"
    }


def test_two_terminals_add_to_one_sqlite_study(home: Path, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {
        **os.environ,
        "MLTRAIN_HOME": str(home),
        "MLTRAIN_TEST_BARRIER": str(barrier),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
    }
    # both processes reach their first trial before either may finish it: the runs provably overlap
    command = [
        sys.executable,
        "-m",
        "mltrain",
        "sweep",
        MODEL,
        "--trials",
        "4",
        "--executor",
        "local:1",
        "--json",
        "--objective",
        "tests.sweep_toy:quadratic_in_step",
    ]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    mine = [json.loads(out)["data"]["this_run"] for out, _ in outs]
    assert len(mine[0]) == len(mine[1]) == 4 and not set(mine[0]) & set(mine[1])
    study = open_study(Home(home), None, MODEL, "regime", MODEL)
    numbers = [t["number"] for t in trial_rows(study)]
    assert sorted(numbers) == list(range(8)) == sorted(mine[0] + mine[1])
    assert {t["state"] for t in trial_rows(study)} == {"COMPLETE"}


def test_sweep_on_a_dask_cluster_matches_the_local_scores(shared_dask_cluster, home: Path) -> None:
    address, _ = shared_dask_cluster
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: [0.001, 0.003, 0.01]\nbatch_size: [32, 64]\n")
    data = run_cli(
        ["sweep", MODEL, "--trials", "4", "--space", space, "--executor", f"dask://{address}", "--json", *TOY]
    ).json["data"]
    assert data["this_run"] == [0, 1, 2, 3] and {t["state"] for t in data["trials"]} == {"COMPLETE"}
    from tests.sweep_toy import quadratic

    base = TrainingConfig(**KINDS["regime"].defaults)
    for trial in data["trials"]:  # each score is what the objective gives in this process
        config = TrainingConfig(**{**base.model_dump(), **trial["params"]})
        assert trial["value"] == quadratic(config, {"candles": {}, "folds": 4})


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_sweep_with_130_and_no_trial_left_running(sig, home: Path, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {
        **os.environ,
        "MLTRAIN_HOME": str(home),
        "MLTRAIN_TEST_BARRIER": str(barrier),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mltrain",
            "sweep",
            MODEL,
            "--trials",
            "6",
            "--executor",
            "local:2",
            "--objective",
            "tests.sweep_toy:held",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell that ran pytest in the background (`cmd &`) leaves SIGINT ignored, and a child inherits
        # that: the sweep then never sees this test's SIGINT, as Ctrl-C never reaches a background job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for(lambda: len(list(barrier.glob("started-*"))) == 2, "both trials to start")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    study = open_study(Home(home), None, MODEL, "regime", MODEL)
    assert [t["state"] for t in trial_rows(study)] == ["FAIL", "FAIL"]
    assert not (home / "registry").exists()
    for marker in barrier.glob("started-*"):  # the pool's workers were terminated, not left waiting
        pid = int(marker.name.split("-")[1])
        wait_for(lambda p=pid: not _alive(p), f"worker {pid} to end")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_stop_request_fails_the_open_trials_and_leaves_none_running(home: Path) -> None:
    at = Home(home)
    config = TrainingConfig(**KINDS["regime"].defaults)
    study = open_study(at, None, "stopped", "regime", MODEL)

    class Stop:
        requested = False

    stop = Stop()

    def after_first(trial: dict) -> None:
        stop.requested = True

    with pytest.raises(Interrupted):
        run_sweep(
            study,
            config,
            default_space("regime"),
            5,
            InlineExecutor(),
            context_for(at, "regime", MODEL, config, 42),
            objective="tests.sweep_toy:quadratic",
            stop=stop,
            on_trial=after_first,
        )
    assert [t["state"] for t in trial_rows(study)] == ["COMPLETE", "FAIL"]


def test_a_suggestion_optuna_refuses_leaves_no_trial_running(home: Path) -> None:
    """A space whose choices clash with the study's earlier ones fails inside Optuna's suggest: the asked
    trial is told FAIL, not left RUNNING for good (the CLI refuses such a resume before asking; this is the
    core's own guarantee)."""
    at = Home(home)
    config = TrainingConfig(**KINDS["regime"].defaults)
    study = open_study(at, None, "clash", "regime", MODEL)
    context = context_for(at, "regime", MODEL, config, 42)
    toy = {"objective": "tests.sweep_toy:quadratic"}
    run_sweep(
        study, config, parse_space({"batch_size": [16, 32]}, "regime"), 1, InlineExecutor(), context, **toy
    )
    with pytest.raises(ValueError):
        run_sweep(
            study,
            config,
            parse_space({"batch_size": [16, 64]}, "regime"),
            1,
            InlineExecutor(),
            context,
            **toy,
        )
    assert [t["state"] for t in trial_rows(study)] == ["COMPLETE", "FAIL"]


@pytest.mark.slow
def test_train_best_registers_it_through_the_normal_train_path(home: Path) -> None:
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: [0.001, 0.003]\n")
    data = run_cli(
        [
            "sweep",
            MODEL,
            "--trials",
            "2",
            "--space",
            space,
            "--preset",
            "quick",
            "--days",
            "120",  # the window the space once set: a base field now (days cannot be searched)
            "--train-best",
            "--save-preset",
            "best",
            "--promotion-folds",
            "1",  # the trained best's champion/challenger check on one fold, not four
            "--symbols",
            "ETH",  # a pool of two series
            "--json",
            *TOY,
        ],
        expect=(ExitCode.OK, ExitCode.NOT_PROMOTED),
    ).json
    trained = data["data"]["trained"]
    assert trained["version"] == 1
    shown = run_cli(["models", "show", MODEL, "--json"]).json["data"]
    assert shown["config"]["learning_rate"] == data["data"]["best"]["params"]["learning_rate"]


@pytest.mark.slow  # trains a network
def test_the_objective_is_the_selection_score_and_the_best_is_validated_once(home: Path) -> None:
    presets = Home(home).user_presets
    presets.mkdir(parents=True, exist_ok=True)
    # correction on: with it off no network is trained and learning_rate would change nothing (refused)
    tiny = "description: tiny folds\ndays: 200\nepochs: 10\nsymbols: [BTC]\ncorrection: 'on'\n"
    (presets / "tiny.yaml").write_text(tiny)
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: [0.001, 0.01]\n")
    data = run_cli(
        [
            "sweep",
            "volatility_forecaster",
            "--trials",
            "2",
            "--space",
            space,
            "--folds",
            "2",
            "--holdout-from",
            "2025-06-01",
            "--executor",
            "local:1",
            "--preset",
            "tiny",
            "--json",
        ]
    ).json["data"]  # in this process: earlier tests used torch here, a fork is unsafe
    assert {t["state"] for t in data["trials"]} == {"COMPLETE"} and data["folds"] == 2
    checked = data["validation"]
    assert checked["trial"] == data["best"]["number"] and len(checked["folds"]) == 2
    assert all(f["end"] < "2025-06-01" for f in checked["folds"])  # nothing from the untouched period
    # the same folds again through walk_forward: their selection losses give exactly the trial's score
    assert checked["selection_score"] == pytest.approx(data["best"]["value"], rel=1e-12)
    assert "BTC" in checked["summary"] and checked["folds"][0]["seen_by_search"] in (True, False)
    text = run_cli(
        [
            "sweep",
            "volatility_forecaster",
            "--trials",
            "1",
            "--space",
            space,
            "--folds",
            "2",
            "--holdout-from",
            "2025-06-01",
            "--executor",
            "local:1",
            "--preset",
            "tiny",
        ]
    ).stdout
    assert "(not the search's score)" in text and "selection loss" in text and "lower is better" in text


def test_a_regime_sweep_without_the_baselines_extra_validates_its_best(home: Path, monkeypatch) -> None:
    """The documented `.[sweep]` install has no hmmlearn: the HMM's place holds 'not installed (...)', and the
    best trial's validation headline read it as scores (a walkthrough's regime sweep died with an internal
    error after its search)."""
    monkeypatch.setitem(sys.modules, "hmmlearn", None)  # `import hmmlearn...` raises ImportError, as absent
    monkeypatch.setitem(sys.modules, "hmmlearn.hmm", None)
    args = ["sweep", MODEL, "--trials", "1", "--folds", "1", "--preset", "quick", "--days", "365"]
    args += ["--epochs", "10", "--symbols", "ETH", "--executor", "local:1", "--json"]
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: [0.001]\n")
    checked = run_cli([*args, "--space", space]).json["data"]["validation"]  # in this process: no fork
    assert checked["headline"].startswith("BTC: model ") and "hmm" not in checked["headline"]
    assert "not installed" in json.dumps(checked["summary"])


def test_sweep_progress_counts_trials_with_the_best_so_far_and_an_eta_on_stderr(home: Path) -> None:
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: {low: 0.0003, high: 0.03, log: true}\n")
    out = run_cli(["sweep", MODEL, "--trials", "2", "--space", space, "--json", *TOY])
    assert out.json["data"]["this_run"] == [0, 1]  # stdout stays one JSON document
    lines = [line for line in out.stderr.splitlines() if line.startswith("trials ")]
    assert len(lines) == 2 and lines[0].startswith("trials 1/2 done (trial 0: ")
    best = min(out.json["data"]["trials"], key=lambda t: t["value"])
    assert f"best so far {best['value']:.6g} (trial {best['number']})" in lines[1]
    assert "ETA" in lines[0] and lines[1].startswith("trials 2/2 done (trial 1: ")
    quiet = run_cli(["sweep", MODEL, "--trials", "1", "--space", space, "--json", "--quiet", *TOY])
    assert "trials " not in quiet.stderr and quiet.json["data"]["this_run"] == [2]


def test_sweep_takes_the_config_flags_and_config_file_of_train(home: Path) -> None:
    helps = {cmd: run_cli([cmd, "--help"]).stdout for cmd in ("train", "sweep")}
    for flag in ("--config", "--days", "--epochs", "--symbols", "--encoder", "--min-r2", "--correction"):
        assert flag in helps["sweep"] and flag in helps["train"], flag
    config = home.parent / "base.yaml"
    config.write_text("days: 400\npatience: 7\n")
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: {low: 0.0003, high: 0.03, log: true}\n")
    args = ["sweep", MODEL, "--trials", "1", "--space", space, "--config", config, "--epochs", "12", *TOY]
    run_cli([*args, "--save-preset", "based", "--json"])
    preset = load_presets(Home(home))["based"]
    # the fields the space does not vary come from --config and the flags, as `train` would take them
    assert preset.values["days"] == 400 and preset.values["patience"] == 7 and preset.values["epochs"] == 12
    bad = run_cli([*args, "--days", "5"], expect=ExitCode.USAGE)
    assert "days=5 (from flag --days)" in bad.stderr


def test_train_best_with_no_promote_saves_a_candidate_and_leaves_production_alone(home: Path) -> None:
    """As `train --no-promote`: the best config is trained and saved, and production stays as it was (a
    walkthrough found no way to train the best without promoting it)."""
    args = ["sweep", "volatility_forecaster", "--trials", "1", "--folds", "1", "--preset", "quick"]
    args += ["--symbols", "BTC", "--promotion-folds", "1", "--executor", "local:1", "--train-best", *TOY]
    out = run_cli(
        [*args, "--no-promote", "--save-preset", "vol", "--json"], expect=(ExitCode.OK, ExitCode.NOT_PROMOTED)
    )
    # the saved preset keeps a volatility-only value in its volatility: section, as built-ins do, so the
    # preset still serves a regime model (at the top, symbols=[BTC] and min_r2 broke that)
    saved = load_presets(Home(home))["vol"]
    assert saved.per_type["volatility"]["symbols"] == ["BTC"] and "symbols" not in saved.values
    other = " ".join(run_cli(["train", MODEL, "--preset", "vol", "--dry-run"]).stderr.split())
    assert "preset 'vol' was saved by a sweep of a volatility model" in other  # tuned for another type: said
    same = run_cli(["train", "volatility_forecaster", "--preset", "vol", "--dry-run"]).stderr
    assert "was saved by a sweep" not in same
    trained = out.json["data"]["trained"]
    assert trained["promoted"] is False and (out.code == ExitCode.OK) == trained["gate_passed"]
    assert run_cli(["models", "list", "--json"]).json["data"][0]["production_version"] is None
    alone = run_cli(
        ["sweep", "volatility_forecaster", "--trials", "1", "--no-promote"], expect=ExitCode.USAGE
    )
    assert "--no-promote goes with --train-best" in alone.stderr


def test_a_sweep_never_searches_a_field_the_config_does_not_use(home: Path) -> None:
    """A volatility model with correction off trains no network: every trial over its network's fields would
    score the same (training theatre). The default space is left empty, so the sweep exits 2 saying why; a
    space file that varies such a field is refused naming it."""
    empty = run_cli(["sweep", "volatility_forecaster", "--trials", "1"], expect=ExitCode.USAGE).stderr
    assert "nothing to search" in empty and "correction off: no network is trained" in empty
    space = home.parent / "space.yaml"
    space.write_text("learning_rate: [0.001, 0.003]\n")
    idle = run_cli(["sweep", "volatility_forecaster", "--trials", "1", "--space", space], expect=2).stderr
    assert "line 1 varies learning_rate, which would change nothing" in idle
    assert "allowed here: none of its fields" in idle
    # the allowed list names only what this type may search: no hidden_size for a regime model
    with pytest.raises(ConfigError) as refused:
        parse_space({"symbols": ["BTC"]}, "regime")
    assert str(refused.value).endswith("allowed: epochs, patience, batch_size, learning_rate")
    assert not (Home(home).root / "sweeps.db").exists()  # refused before any study was made


def test_save_preset_names_are_checked_before_any_trial_and_a_hand_written_one_is_kept(
    home: Path, monkeypatch
) -> None:
    """A bad --save-preset name once exited 2 after every trial had run, and a user's own preset of that
    name was overwritten without a word. A preset an earlier sweep saved is replaced (a cron sweep keeps it
    current) unless it was edited since."""
    args = ["sweep", MODEL, "--trials", "1", "--json", *TOY]
    for name in ("BAD!", "../evil", "custom", "full", ""):
        bad = run_cli([*args, "--save-preset", name], expect=ExitCode.USAGE)
        assert "--save-preset" in bad.stderr
    blocker = home.parent / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("MLTRAIN_PRESETS_DIR", str(blocker))
    nowhere = run_cli([*args, "--save-preset", "ok"], expect=ExitCode.USAGE).stderr
    assert "$MLTRAIN_PRESETS_DIR" in nowhere and "is not a folder" in nowhere
    monkeypatch.delenv("MLTRAIN_PRESETS_DIR")
    assert not (Home(home).root / "sweeps.db").exists()  # no study, no trial: refused first
    mine = Home(home).user_presets / "mine.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("description: my own\nepochs: 20\n")
    kept = run_cli([*args, "--save-preset", "mine"], expect=ExitCode.USAGE).stderr
    assert (
        "is a user preset no sweep wrote" in kept and mine.read_text() == "description: my own\nepochs: 20\n"
    )
    first = run_cli([*args, "--save-preset", "tuned"]).json["data"]["preset"]["path"]
    again = run_cli([*args, "--save-preset", "tuned"]).json["data"]
    assert again["preset"]["path"] == first and again["this_run"] == [1]
    # edited by hand after the sweep saved it: kept too (it used to be replaced without a word)
    tuned = Path(first)
    tuned.write_text(tuned.read_text() + "# keep: I checked these by hand\n")
    edited = tuned.read_text()
    refused = run_cli([*args, "--save-preset", "tuned"], expect=ExitCode.USAGE).stderr
    assert "a preset a sweep saved and someone has edited since" in refused and tuned.read_text() == edited
    # one without the digest line (an older mltrain saved it so, or the line was removed) is kept too
    tuned.write_text(edited.partition("\n")[2])
    refused = run_cli([*args, "--save-preset", "tuned"], expect=ExitCode.USAGE).stderr
    assert "without the digest line" in refused and tuned.read_text() == edited.partition("\n")[2]
    tuned.write_text(edited)
    # the mark is a comment: the edited preset still loads
    assert "tuned" in run_cli(["train", MODEL, "--preset", "tuned", "--dry-run"]).stdout


def test_a_holdout_that_keeps_nothing_out_or_leaves_no_fold_is_named(home: Path) -> None:
    """--holdout-from after the data kept nothing out without a word; one before every fold advised a
    --start flag sweep does not have."""
    args = ["sweep", MODEL, "--trials", "1", *TOY]
    late = run_cli([*args, "--holdout-from", "2030-01-01"], expect=ExitCode.USAGE).stderr
    assert "--holdout-from 2030-01-01 is after the last usable day" in late and "keep nothing out" in late
    early = run_cli([*args, "--holdout-from", "2015-01-01"], expect=ExitCode.USAGE).stderr
    assert "no walk-forward fold fits" in early and "--start" not in early
    assert (
        "use fewer --days or import more history; --holdout-from 2015-01-01 ends every block before it"
        in early
    )
    evaluate = ["evaluate", MODEL, "--folds", "2", "--holdout-from", "2030-01-01"]
    assert "keep nothing out" in run_cli(evaluate, expect=ExitCode.USAGE).stderr


def test_trials_that_all_score_the_same_are_said_to_tie(home: Path) -> None:
    """The toy objective ignores epochs: a space of epochs alone changes nothing, and the 'best' is no best."""
    space = home.parent / "space.yaml"
    space.write_text("epochs: [10, 20]\n")
    text = " ".join(run_cli(["sweep", MODEL, "--trials", "2", "--space", space, *TOY]).stdout.split())
    assert "every completed trial scored the same" in text
