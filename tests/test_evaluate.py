"""Walk-forward evaluation: folds, baselines (with and without the optional extras), report, records."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import copy_home, run_cli

SMALL = ["--days", "150", "--epochs", "10", "--patience", "5", "--workers", "1"]
MISSING = ("arch", "hmmlearn", "matplotlib")
TINY = ["--days", "200", "--epochs", "10", "--folds", "3"]


def blocked_extras(tmp_path: Path) -> str:
    """A folder that shadows the optional packages with ones that fail to import: as if not installed."""
    folder = tmp_path / "no-extras"
    for name in MISSING:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed')\n")
    return str(folder)


# runs `mltrain.cli.main` (what `python -m mltrain` runs) once per argument list of argv[1] (JSON); prints
# one JSON line per run with its exit code and stdout, so two commands share one interpreter's start-up
ENTRY_POINT_TWICE = """
import contextlib, io, json, sys
from mltrain.cli import main
for args in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    print(json.dumps({"code": code, "stdout": out.getvalue()}))
"""


def validation_spans(doc: dict) -> list[tuple[str, str]]:
    return [tuple(next(iter(f["validation"].values()))[k] for k in ("first", "last")) for f in doc["folds"]]


@pytest.fixture(scope="module")
def regime_evaluated(tmp_path_factory: pytest.TempPathFactory, regime_once: Path) -> dict:
    """A home with a trained regime version, evaluated once (3 folds, with a report): shared read-only by the
    tests that read the evaluation, the report and what the registry kept."""
    root = tmp_path_factory.mktemp("regime-evaluated")
    home = root / "home"
    copy_home(regime_once, home)  # a trained version whose registry the evaluation must leave alone
    aliases = (home / "registry" / "btc_regime_detector" / "aliases.json").read_text()
    mp = pytest.MonkeyPatch()
    mp.setenv("MLTRAIN_HOME", str(home))
    args = ["evaluate", "btc_regime_detector", "--folds", "3", *SMALL, "--report", root / "report", "--json"]
    args += ["--symbols", "ETH"]  # a pool of two series: what is read here does not depend on the pool
    doc = run_cli(args).json["data"]
    mp.undo()
    return {"home": home, "aliases": aliases, "doc": doc, "report": root / "report"}


@pytest.mark.slow  # trains a network
def test_regime_folds_tile_recent_history_and_leave_registry_alone(regime_evaluated: dict, monkeypatch):
    home, aliases, doc = regime_evaluated["home"], regime_evaluated["aliases"], regime_evaluated["doc"]
    monkeypatch.setenv("MLTRAIN_HOME", str(home))
    spans = validation_spans(doc)
    assert all(spans[k][1] < spans[k + 1][0] for k in range(2))  # no overlap, oldest first
    fold = doc["folds"][0]
    assert set(fold["baselines"]) == {"network", "majority", "rule", "hmm", "jump_model"}
    assert isinstance(fold["baselines"]["hmm"]["balanced_accuracy"], float)
    assert fold["selection_loss"] < 0 and set(fold["windows"]["BTC"]) >= {"fit", "selection", "validation"}
    pooled = doc["summary"]["BTC"]["detectors"]
    for who in ("model", "rule", "hmm", "jump_model"):  # pooled over the folds: interval and miss-aware lag
        row = pooled[who]
        assert row["ci_low"] <= row["balanced_accuracy"] <= row["ci_high"]
        assert row["detected"] + row["missed"] == row["regime_starts"] and "mean_lag_miss_as_run_days" in row
    assert (
        pooled["hmm"]["log_loss"] is not None and pooled["model"]["log_loss"] is None
    )  # a verdict, no probs
    for key in ("balanced_accuracy", "macro_f1", "detection_lag_days", "changes_per_year"):
        assert key in fold["metrics"]
    assert (home / "registry" / "btc_regime_detector" / "aliases.json").read_text() == aliases
    assert len(run_cli(["models", "list", "--json"]).json["data"]) == 1
    shown = run_cli(["models", "show", "btc_regime_detector", "--json"]).json["data"]
    assert shown["evaluations"][0]["summary"] == doc["summary"] and Path(doc["record"]).is_file()
    text = run_cli(["models", "show", "btc_regime_detector"]).stdout
    rule = doc["summary"]["BTC"]["detectors"]["rule"]["balanced_accuracy"]
    assert "walk-forward evaluations" in text and f"rule {rule:.2f}" in text


@pytest.mark.slow  # trains a network
def test_volatility_folds_have_garch_and_a_summary(home: Path):
    doc = run_cli(
        ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--folds", "2", *SMALL, "--json"]
    ).json["data"]
    fold = doc["folds"][1]
    assert set(fold["baselines"]) == {
        "persistence",
        "ewma",
        "har",
        "log_har",
        "log_har_bc",
        "garch",
        "gjr_garch",
    }
    assert fold["baselines"]["garch"]["BTC"]["qlike"] >= 0
    summary = doc["summary"]["BTC"]  # pooled over both folds, scored once
    assert summary["folds"] == 2 and summary["days"] == sum(
        f["validation"]["BTC"]["days"] for f in doc["folds"]
    )
    assert set(summary["dm"]) == set(fold["baselines"]) and {"stat", "p_value"} <= set(summary["dm"]["har"])
    assert "p_value" in summary["dm"]["log_har_bc"]["squared_error"]
    assert summary["best_log_har"] in ("log_har", "log_har_bc") and summary["ratio_to_best_log_har"] > 0
    assert set(summary["mcs"]["included"]) <= {"model", *fold["baselines"]}
    assert 0 <= summary["folds_beating_every_baseline_on_qlike"] <= 2
    assert (
        "garch QLIKE"
        in run_cli(
            ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--folds", "2", *SMALL, "--details"]
        ).stdout
    )
    # the host's pace is kept: the next estimate of this evaluation comes from it
    args = ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--folds", "2", *SMALL]
    plan = run_cli([*args, "--dry-run", "--json"]).json["data"]["estimate"]
    assert "past evaluations of this config on this host" in plan["basis"] and plan["expected_seconds"] > 0


@pytest.mark.slow  # the dry-run measures a short training probe
def test_a_series_that_ends_early_is_named_as_the_end_of_every_fold(home: Path):
    """XMR stops trading in 2024: a joint run ends BTC's folds there too, and the plan and result say so."""
    args = ["evaluate", "volatility_forecaster", "--symbols", "BTC,XMR", "--folds", "2", *SMALL]
    plan = run_cli([*args, "--dry-run", "--json"]).json["data"]
    assert plan["span_note"].startswith(
        "Folds end on 2024-02-13, the last usable day of XMR; BTC has data to"
    )
    assert "note: Folds end on 2024-02-13" in run_cli([*args, "--dry-run"]).stdout
    # a --holdout-from before XMR's end ends every series there: no series ends the folds early
    held = run_cli([*args, "--holdout-from", "2023-01-01", "--dry-run", "--json"]).json["data"]
    assert held["span_note"] is None and held["validation_blocks"].endswith("2022-12-31 (block ends)")
    plan = run_cli(["evaluate", "volatility_forecaster", "--symbols", "BTC,ETH", "--dry-run", "--json"]).json
    assert plan["data"]["span_note"] is None


@pytest.mark.slow  # the dry-run measures a short training probe
def test_start_names_the_days_before_its_first_block(home: Path):
    """Blocks tile back from the latest day: --start's first block can begin after DATE, and the gap is said."""
    args = ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--start", "2025-01-01", "--dry-run"]
    note = run_cli([*args, "--json"]).json["data"]["span_note"]
    assert "--start 2025-01-01 begins 2025-03-13" in note and "2025-01-01..2025-03-12" in note
    again = ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--start", "2025-03-13", "--dry-run"]
    assert run_cli([*again, "--json"]).json["data"]["span_note"] is None
    # fewer --folds leave out more than the straddling block: asked for, not said
    few = ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--start", "2022-01-01", "--folds", "2"]
    assert run_cli([*few, "--dry-run", "--json"]).json["data"]["span_note"] is None
    # extreme days are named only where the folds' data reach them (LINK 2020-03-12 is years before the last
    # two blocks; UNI's first row is before any sample's inputs); --executor local:1 plans one worker
    recent = [
        "evaluate",
        "volatility_forecaster",
        "--symbols",
        "LINK,UNI",
        "--folds",
        "2",
        "--dry-run",
        "--json",
    ]
    assert run_cli(recent).json["data"]["span_note"] is None
    every = run_cli(["evaluate", "volatility_forecaster", "--symbols", "LINK,UNI", "--dry-run", "--json"])
    note = every.json["data"]["span_note"]
    assert "LINK 2020-03-12 (38,519x)" in note and "UNI" not in note
    one = run_cli([*recent, "--executor", "local:1"]).json["data"]
    assert one["workers"] == 1 and "1 at a time" in one["estimate"]["basis"]


@pytest.mark.slow  # trains a network
def test_report_is_markdown_with_figures(tmp_path: Path, regime_evaluated: dict):
    out = regime_evaluated["report"]  # evaluate btc_regime_detector --folds 3 ... --report DIR
    text = (out / "report.md").read_text()
    assert "| fold | validation |" in text and "Confusion matrix" in text and "regime_price.png" in text
    # each fold says how many regimes its block holds: a block of one scores that regime's recall alone
    assert "| fold | validation | symbol | regimes |" in text
    assert (out / "regime_price.png").stat().st_size > 1000 and (out / "regime_confusion.png").is_file()
    vol = tmp_path / "vol"
    run_cli(
        ["evaluate", "volatility_forecaster", "--symbols", "ETH", "--folds", "2", *SMALL, "--report", vol]
    )
    assert (vol / "volatility_ETH.png").is_file() and "ETH" in (vol / "report.md").read_text()
    # the report carries the terminal's headline verdicts and the decision table as the terminal shows it
    # (it had neither: raw fractions under code names, and "beats" where the headline said "tie, worse")
    doc = regime_evaluated["doc"]
    assert "## Scores against the best baseline" in text and "| verdict |" in text
    assert "| strategy | ann. return |" in text and "%" in text.split("| strategy |")[1].split("\n")[2]
    d = doc["decision"]["BTC"]
    if d["oracle_days"] != d["days"]:  # the oracle covers the labelled days only: its row says so
        assert f"| oracle ({d['oracle_days']} labelled days) |" in text


@pytest.mark.slow  # trains a network
def test_synthetic_truth_reports_the_causal_ceiling():
    doc = run_cli(
        [
            "evaluate",
            "btc_regime_detector",
            "--synthetic",
            "--seed",
            "7",
            "--folds",
            "2",
            "--days",
            "300",
            "--epochs",
            "10",  # the floor: what is read here is the baselines' and the true filter's, not the network's
            "--workers",
            "2",
            "--json",
        ]
    ).json["data"]
    summary = doc["summary"]["SYN"]["detectors"]
    assert doc["synthetic_seed"] == 7 and doc["workers"] == 2
    assert {"model", "forward_filter_true_params", "hmm", "rule", "majority", "jump_model"} <= set(summary)
    assert summary["forward_filter_true_params"]["balanced_accuracy"] > 0.4  # far above chance (0.25)
    run_cli(["evaluate", "volatility_forecaster", "--synthetic"], expect=2)


@pytest.mark.slow  # trains a network
def test_without_optional_extras_columns_say_not_installed(home: Path, tmp_path: Path):
    env = {**os.environ, "MLTRAIN_HOME": str(home), "PYTHONPATH": blocked_extras(tmp_path)}
    common = ["--folds", "2", "--workers", "1", *SMALL, "--json"]
    # --workers 1: about the missing extras, not the pool (the folds run in the process); both evaluations run
    # in one fresh interpreter whose extras are blocked, through the console entry point, one after the other
    models = (["btc_regime_detector", "--symbols", "ETH"], ["volatility_forecaster", "--symbols", "BTC"])
    reports = [tmp_path / f"report-{k}" for k in range(len(models))]
    runs = [["evaluate", *m, *common, "--report", str(r)] for m, r in zip(models, reports)]
    # the text view with --details (per-fold scores) of the same regime folds: it read the marker as scores
    details = ["evaluate", *models[0], *[a for a in common if a != "--json"], "--details"]
    proc = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_TWICE, json.dumps([*runs, details])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    *lines, shown = proc.stdout.splitlines()
    assert len(lines) == len(runs), proc.stdout
    text = json.loads(shown)
    assert text["code"] == 0 and "not installed" in text["stdout"], proc.stderr
    for line, out in zip(lines, reports):
        run = json.loads(line)
        assert run["code"] == 0, proc.stderr
        doc = json.loads(run["stdout"])["data"]
        baselines = doc["folds"][0]["baselines"]
        missing = baselines["hmm"] if "hmm" in baselines else baselines["garch"]["BTC"]
        assert missing.startswith("not installed")
        text = (out / "report.md").read_text()
        assert "Figures need matplotlib" in text and not list(out.glob("*.png"))


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow  # trains a network
@pytest.mark.skipif(not shutil.which("pgrep"), reason="needs pgrep to find the worker processes")
def test_sigterm_stops_a_parallel_evaluation_and_its_workers(home: Path):
    """A cron timeout sends SIGTERM to the parent only: it must exit 130 and take its worker processes along."""
    import signal
    import time

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mltrain",
            "evaluate",
            "volatility_forecaster",
            "--folds",
            "4",
            "--workers",
            "2",
        ],
        env={**os.environ, "MLTRAIN_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(proc.pid)) < 2 and proc.poll() is None:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert len(workers) >= 2, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    deadline = time.time() + 60  # the workers' exit is the event: wait for each to be gone (reaped)
    for pid in workers:
        while _alive(pid):
            assert time.time() < deadline, f"worker {pid} outlived its parent"
            time.sleep(0.02)
    assert not (home / "registry" / "volatility_forecaster" / "evaluations").exists()


def test_report_path_that_is_a_file_is_refused_before_any_fold(home: Path, tmp_path: Path):
    blocker = tmp_path / "report.md"
    blocker.write_text("")
    result = run_cli(
        ["evaluate", "btc_regime_detector", "--folds", "2", *SMALL, "--report", blocker], expect=2
    )
    assert "is a file" in result.stderr and not (home / "registry").exists()


def _import_scaled_copy(home: Path, tmp_path: Path, symbol: str, of: str) -> None:
    """An imported series (not embedded) that the pooled forecaster reads: it must travel with each task."""
    from mltrain.data.store import DataStore
    from mltrain.paths import Home

    frame = DataStore(Home(home)).load(of).frame * 1.5
    frame.to_csv(tmp_path / f"{symbol}.csv", index_label="date")
    run_cli(["data", "import", tmp_path / f"{symbol}.csv", "--symbol", symbol])


@pytest.mark.slow  # four evaluations, a cluster
def test_dask_cluster_gives_exactly_the_local_numbers(shared_dask_cluster, home: Path, tmp_path: Path):
    address, _ = shared_dask_cluster
    # an imported series is a target here and would join every pool: workers only have it if it travels
    _import_scaled_copy(home, tmp_path, "XETH", "ETH")
    # TINY on two folds, not three: executors are compared on the same folds, two of them are enough
    command = ["evaluate", "volatility_forecaster", "--days", "200", "--epochs", "10", "--folds", "2"]
    command += ["--symbols", "BTC,XETH", "--json", "--executor"]
    runs = {
        spec: run_cli([*command, spec]).json["data"]
        for spec in ("local", "local:1", "local:2", f"dask://{address}")
    }
    local = runs["local"]
    assert runs[f"dask://{address}"]["executor"] == f"dask://{address}"
    for spec, doc in runs.items():
        assert doc["folds"] == local["folds"] and doc["summary"] == local["summary"], spec
    assert all(set(f["validation"]) == {"BTC", "XETH"} for f in local["folds"])
    assert all(isinstance(f["selection_loss"], float) for f in local["folds"])


def test_a_start_after_the_data_says_so_rather_than_fewer_days(home: Path):
    bad = run_cli(["evaluate", "volatility_forecaster", "--start", "2027-01-01", "--dry-run"], expect=2)
    assert "--start 2027-01-01 is after that last day" in bad.stderr and "fewer --days" not in bad.stderr


def test_at_the_lowest_days_the_advice_is_more_history_not_fewer_days(home: Path):
    """ "use fewer --days" at --days 90 advised what the flag refuses."""
    early = ["evaluate", "volatility_forecaster", "--folds", "2", "--dry-run", "--holdout-from", "2015-01-01"]
    lowest = run_cli([*early, "--days", "90"], expect=2).stderr
    assert "import more history (--days 90 is the lowest allowed)" in lowest and "fewer --days" not in lowest
    assert "use fewer --days or import more history" in run_cli([*early, "--days", "400"], expect=2).stderr


def test_executor_flag_is_checked_before_any_fold(home: Path):
    bad = run_cli(["evaluate", "btc_regime_detector", *TINY, "--executor", "cluster"], expect=2)
    assert "allowed: local, local:N" in bad.stderr and "Traceback" not in bad.stderr
    both = run_cli(
        ["evaluate", "btc_regime_detector", *TINY, "--workers", "2", "--executor", "local:2"], expect=2
    )
    assert "--executor local:N" in both.stderr
    assert not (home / "registry").exists()
