import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mltrain import __version__
from mltrain import features as F
from mltrain.data.store import DataStore
from mltrain.errors import ExitCode
from mltrain.paths import Home

from .conftest import QUICK, REGIME_TINY, VOL_TINY, run_cli, train_regime

TRAIN_KEYS = {
    "job_id",
    "model_name",
    "model_type",
    "status",
    "created_at",
    "has_custom_config",
    "version",
    "promoted",
    "metrics",
    "baselines",
    "duration_seconds",
    "estimated_seconds",
    "gate",
    "promotion",
}


def test_version():
    assert run_cli(["--version"]).stdout.strip() == f"mltrain {__version__}"


def test_defaults_json_is_exactly_the_old_api_shape():
    doc = run_cli(["defaults", "volatility_forecaster", "--json"]).json
    assert doc == {
        "ok": True,
        "data": {
            "model_name": "volatility_forecaster",
            "model_type": "volatility",
            "config": {
                "days": 365,
                "epochs": 100,
                "patience": 15,
                "batch_size": 32,
                "learning_rate": 0.001,
                "train_val_split": 0.8,
                "hidden_size": 64,
                "min_r2": 0.5,
                "symbols": ["BTC", "ETH", "SOL"],
            },
        },
    }
    regime = run_cli(["defaults", "btc_regime_detector", "--json"]).json["data"]["config"]
    assert regime["days"] == 730 and regime["hidden_size"] is None and regime["symbols"] is None


def test_defaults_table_and_unknown_model_suggestion():
    assert "learning_rate" in run_cli(["defaults", "btc_regime_detector"]).stdout
    result = run_cli(["defaults", "btc_regime_detectr"], expect=2)
    assert "btc_regime_detector" in result.stderr and "--model-type" in result.stderr
    assert (
        run_cli(["defaults", "my_model", "--model-type", "volatility", "--json"]).json["data"]["model_type"]
        == "volatility"
    )


@pytest.mark.slow  # times real training steps (presets --measure)
def test_presets_lists_builtins_and_user_presets(home: Path, tmp_path: Path, monkeypatch):
    folder = tmp_path / "mypresets"
    folder.mkdir()
    (folder / "nightly.yaml").write_text("description: cron\ndays: 200\n")
    (folder / "quick.yaml").write_text("days: 100\nepochs: 12\n")
    monkeypatch.setenv("MLTRAIN_PRESETS_DIR", str(folder))
    rows = {r["name"]: r for r in run_cli(["presets", "--json"]).json["data"]}
    assert {"quick", "standard", "full", "deep", "custom", "nightly"} <= set(rows)
    assert rows["nightly"]["source"] == str(folder / "nightly.yaml")
    assert rows["quick"]["values"] == {"days": 100, "epochs": 12}
    assert rows["full"]["default"] and rows["full"]["values"] == {"days": 730, "epochs": 100, "patience": 15}
    assert rows["standard"]["estimates"]["regime"] is None  # nothing measured yet: no made-up number
    # a user preset of a built-in's name replaces it, and says so: the built-in's other values are not applied
    assert rows["quick"]["replaces"].endswith("quick.yaml") and rows["nightly"]["replaces"] is None
    listed = run_cli(["presets"]).stdout
    assert "(replaces" in listed  # a table cell: its words wrap to the terminal
    assert "times: the training alone; `train` then runs its promotion check" in " ".join(listed.split())
    plan = run_cli(["train", "volatility_forecaster", "--preset", "quick", "--dry-run"])
    note = " ".join(plan.stderr.split())
    assert f"preset 'quick' is your file {folder / 'quick.yaml'}, which replaces the built-in 'quick'" in note
    assert "min_r2=-0.1 for a volatility model are not applied" in note and "days=" not in note
    assert (
        "replaces"
        not in run_cli(["train", "volatility_forecaster", "--preset", "nightly", "--dry-run"]).stderr
    )
    measured = {r["name"]: r for r in run_cli(["presets", "--json", "--measure"]).json["data"]}
    assert measured["standard"]["estimates"]["volatility"]["upper_seconds"] > 0


@pytest.mark.slow  # times real training steps
def test_presets_measure_shows_each_probe_on_stderr_and_quiet_silences_it(home: Path):
    out = run_cli(["presets", "--measure", "--json"])
    rows = {r["name"]: r for r in out.json["data"]}  # stdout stays one JSON document
    assert rows["quick"]["estimates"]["regime"]["expected_seconds"] > 0
    lines = out.stderr.splitlines()
    assert lines[0].startswith("probes 1/2 done (regime/cpu/") and lines[1].startswith("probes 2/2 done")
    quiet = run_cli(["presets", "--measure", "--json", "--quiet"])
    assert "probes" not in quiet.stderr and quiet.json["data"]


def test_dry_run_json_contract_and_sources(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 30\n")
    doc = run_cli(
        [
            "train",
            "volatility_forecaster",
            "--preset",
            "standard",
            "--config",
            cfg,
            "--days",
            "200",
            "--dry-run",
            "--json",
        ]
    ).json
    assert set(doc["data"]) == {
        "model_name",
        "model_type",
        "preset",
        "config",
        "sources",
        "device",
        "estimate",
        "promotion_check",  # the run is training and this check: the dry run estimates both
    }
    data = doc["data"]
    assert data["config"]["days"] == 200 and data["sources"]["days"] == "flag --days"
    assert data["sources"]["epochs"] == f"config {cfg}:1"
    assert data["sources"]["patience"].startswith("preset standard")
    assert data["device"] == "cpu"
    # correction off (the default): no network is trained, so no training step is probed
    assert "no network is trained" in data["estimate"]["basis"]
    assert data["estimate"]["upper_seconds"] >= data["estimate"]["expected_seconds"] > 0
    check = data["promotion_check"]
    assert set(check) == {"folds", "scorings", "folds_to_score", "expected_seconds", "basis"}
    assert check["folds"] == check["scorings"] == check["folds_to_score"] == 4  # a fresh home: no production
    assert check["expected_seconds"] > 0


def test_dry_run_text_names_sources():
    out = run_cli(["train", "btc_regime_detector", "--dry-run"]).stdout
    assert "preset full" in out and "estimate:" in out


def test_unknown_preset_gets_a_suggestion():
    result = run_cli(["train", "btc_regime_detector", "--preset", "quik", "--dry-run"], expect=2)
    assert "did you mean 'quick'" in result.stderr.lower()


def test_regime_model_refuses_volatility_flags():
    result = run_cli(["train", "btc_regime_detector", "--hidden-size", "64", "--dry-run"], expect=2)
    assert "volatility models only" in result.stderr


def test_model_type_contradiction_is_an_error():
    result = run_cli(["train", "btc_regime_detector", "--model-type", "volatility", "--dry-run"], expect=2)
    assert "contradicts" in result.stderr


def test_missing_symbol_is_named_before_the_plan_and_no_job_is_recorded(home: Path):
    result = run_cli(["train", "volatility_forecaster", "--symbols", "BTC,ETHH", "--yes"], expect=2)
    assert (
        "'ETHH'" in result.stderr
        and "flag --symbols" in result.stderr
        and "Did you mean 'ETH'" in result.stderr
    )
    assert "estimate:" not in result.stderr  # refused before the plan, so before any prompt
    result = run_cli(["train", "doge2_regime", "--model-type", "regime", "--dry-run"], expect=2)
    assert "'DOGE2'" in result.stderr and "name starts with" in result.stderr
    assert run_cli(["jobs", "list", "--json"]).json["data"] == []
    assert "no jobs recorded in" in run_cli(["jobs", "list"]).stdout


def test_train_warns_once_when_its_data_is_old(home: Path):
    result = run_cli(
        ["train", "volatility_forecaster", "--dry-run", "--json"], today=pd.Timestamp("2026-01-09")
    )
    assert (
        result.stderr.count("warning: newest candles BTC 2026-01-05 (4 days ago)") == 1
        and "SOL 2026-01-05" in result.stderr
    )
    assert result.json["ok"]  # the warning stays off stdout


def test_train_without_terminal_or_yes_exits_2_at_once():
    result = run_cli(["train", "btc_regime_detector", "--preset", "quick"], expect=2)
    assert "--yes" in result.stderr


def test_json_errors_are_one_document():
    result = run_cli(["train", "nope_model", "--json", "--dry-run"], expect=2)
    assert result.json["ok"] is False and "nope_model" in result.json["error"]
    assert "error:" in result.stderr


def test_bad_yaml_file_names_line(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("days: 365\nepochs: [1, 2\n")
    result = run_cli(["train", "btc_regime_detector", "--config", cfg, "--dry-run"], expect=2)
    assert str(cfg) in result.stderr and "line" in result.stderr and "Traceback" not in result.stderr


def test_unknown_key_in_config_file_gets_suggestion(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epoch: 30\n")
    result = run_cli(["train", "btc_regime_detector", "--config", cfg, "--dry-run"], expect=2)
    assert "'epochs'" in result.stderr


@pytest.mark.slow  # trains a network
def test_train_json_contract_and_app_log(home: Path):
    doc = train_regime("--json").json
    assert doc["ok"] and set(doc["data"]) == TRAIN_KEYS
    data = doc["data"]
    # a tiny run usually fails the regime gate (issue 15.6): then it is saved as rejected, not promoted
    assert data["status"] in ("completed", "rejected") and data["version"] == 1
    # promoted only after passing; a passing one stays a candidate when its promotion folds hold one regime
    assert not data["promoted"] or data["status"] == "completed"
    assert set(data["baselines"]) == {"majority", "rule"}
    log = (home / "logs" / "mltrain.log").read_text()
    assert (
        f"job {data['job_id']} created" in log
        and "custom_config=True" in log
        and "parameters: days=365" in log
    )
    job = run_cli(["jobs", "show", data["job_id"], "--json"]).json["data"]
    assert job["status"] == data["status"] and Path(job["log_file"]).read_text().count("epoch") >= 1


@pytest.mark.slow  # trains a network
def test_the_result_compares_the_whole_run_with_the_whole_estimate(home: Path):
    """duration_seconds covers training and the promotion check, so estimated_seconds does too: the plan's
    training estimate plus its check's folds still to score, as the dry run and the plan announced. The folds
    the check scored set this host's pace for the next check of the config."""
    args = [*REGIME_TINY, "--json"]
    plan = run_cli([*args, "--dry-run"]).json["data"]
    check = plan["promotion_check"]
    assert check["folds"] == check["folds_to_score"] == 1 and "reference machine" in check["basis"]
    assert (
        "promotion check: 1 walk-forward fold to score, about" in run_cli([*REGIME_TINY, "--dry-run"]).stdout
    )
    whole = plan["estimate"]["expected_seconds"] + check["expected_seconds"]
    out = run_cli(args, expect=(ExitCode.OK, ExitCode.NOT_PROMOTED))
    assert "promotion check: 1 walk-forward fold to score, about" in out.stderr
    assert out.json["data"]["estimated_seconds"] == pytest.approx(whole, abs=0.11)
    shown = run_cli(["models", "show", "btc_regime_detector", "1", "--json"]).json["data"]
    assert shown["timings"]["estimated_seconds"] == pytest.approx(whole, abs=0.11)
    assert shown["timings"]["promotion_check_estimated_seconds"] == check["expected_seconds"]
    assert "of which the promotion check:" in run_cli(["models", "show", "btc_regime_detector", "1"]).stdout
    # the same run again reads its fold from the cache; another seed scores it anew, at this host's pace
    again = run_cli([*args, "--dry-run"]).json["data"]["promotion_check"]
    assert again["folds_to_score"] == 0 and again["expected_seconds"] == 0
    assert "its walk-forward fold is cached" in run_cli([*REGIME_TINY, "--dry-run"]).stdout
    other = run_cli([*args, "--dry-run", "--seed", "7"]).json["data"]["promotion_check"]
    assert other["folds_to_score"] == 1 and "1 past evaluation of this config on this host" in other["basis"]
    paced = float(other["basis"].split("(")[-1].split(" s per round")[0])
    assert other["expected_seconds"] == pytest.approx(paced, abs=0.11)
    assert paced <= shown["timings"]["promotion_check_seconds"]


@pytest.mark.slow  # trains a network
def test_text_result_counts_validation_days_and_flags_a_one_regime_block(home: Path):
    """The quick preset's 18 validation days are one regime: a 1.0 there is not skill, and the output says so."""
    text = run_cli(
        [
            "train",
            "btc_regime_detector",
            "--preset",
            "quick",
            "--symbols",
            "ETH",
            "--promotion-folds",
            "1",
            "--yes",
            "--quiet",
        ],
        expect=(0, 3),
    ).stdout
    assert "chronological; 18 days)" in text
    assert "note: every validation day is" in text and "says little about skill" in text
    longer = run_cli(
        [
            "train",
            "btc_regime_detector",
            "--symbols",
            "ETH",
            "--days",
            "1095",
            "--epochs",
            "10",
            "--patience",
            "5",
            "--promotion-folds",
            "1",
            "--promotion-regime-days",
            "0",  # one promotion fold, not reaching back to the last Bear: this test is about the one block
            "--yes",
            "--quiet",
        ],
        expect=(0, 3),
    ).stdout
    shown = run_cli(["models", "show", "btc_regime_detector", "--version", "2", "--json"]).json["data"]
    confusion = shown["metrics"]["confusion"]
    assert sum(1 for row in confusion if sum(row)) > 1 and "note: every validation day" not in longer
    short = run_cli(
        [
            "train",
            "volatility_forecaster",
            "--preset",
            "quick",
            "--symbols",
            "BTC",
            "--promotion-folds",
            "1",
            "--yes",
            "--quiet",
        ],
        expect=(0, 3),
    ).stdout
    assert (
        "note: 9 validation days hold about 1 independent 7-day target," in short
    )  # 90 days, 0.9 in training


@pytest.mark.slow  # trains a network
def test_gate_rejects_exits_3_and_keeps_production():
    first = run_cli(
        ["train", "volatility_forecaster", "--symbols", "BTC", "--min-r2", "0", *VOL_TINY, "--json"]
    ).json
    assert first["data"]["promoted"]
    second = run_cli(
        ["train", "volatility_forecaster", "--symbols", "BTC", "--min-r2", "1", *QUICK, "--json"], expect=3
    )
    assert second.json["data"]["status"] == "rejected" and second.json["data"]["version"] == 2
    # a 12-day promotion fold holds no 30-day window: no row, the oracle included, has a risk steadiness
    decided = run_cli(["models", "show", "volatility_forecaster", "2", "--json"]).json["data"]["promotion"]
    assert decided["decision"]["BTC"]["days"] < 30
    assert all(r.get("risk_steadiness") is None for r in decided["decision"]["BTC"]["rows"].values())
    assert "min_r2=1.0" in second.stderr and "best baseline" in second.stderr
    # what to do with a rejected version, in the commands that do it (the paragraph wraps at the width)
    said = " ".join(second.stderr.split())
    assert "`mltrain predict volatility_forecaster --version 2` answers from it" in said
    assert "`mltrain models promote volatility_forecaster 2 --force` makes it production" in said
    shown = " ".join(run_cli(["models", "show", "volatility_forecaster", "2"]).stdout.split())
    assert "failed; it passes when every symbol's out-of-sample r2" in shown and "threshold 1.0" in shown
    assert "config vs plain train │ differs (preset or flags)" in shown  # --min-r2 and the tiny flags
    models = run_cli(["models", "list", "--json"]).json["data"]
    assert models[0]["production_version"] == 1 and models[0]["latest_status"] == "rejected"
    # the headline is production's main metric pooled over its promotion fold, what decided it
    v1 = run_cli(["models", "show", "volatility_forecaster", "1", "--json"]).json["data"]
    pooled = min(s["r2"] for s in v1["promotion"]["candidate"].values())
    assert models[0]["pooled_metric_value"] == pooled and models[0]["pooled_folds"] == 1
    # never a figure alone: the best baseline of that (lowest) symbol beside it
    # (the best by r2, the headline's metric, not the best by QLIKE that promotion.best_baseline names)
    worst = min(v1["promotion"]["candidate"], key=lambda s: v1["promotion"]["candidate"][s]["r2"])
    r2 = {b: v[worst]["r2"] for b, v in v1["promotion"]["baselines"].items() if v[worst]["r2"] is not None}
    best = max(r2, key=r2.get)
    assert models[0]["pooled_baseline"] == {
        "symbol": worst,
        "baseline": best,
        "metric": "r2",
        "value": r2[best],
    }
    listed = " ".join(run_cli(["models", "list"]).stdout.split())
    assert f"r2_min {pooled:.4f} over 1 promotion fold ({worst}: {best} r2 " in listed
    assert run_cli(["jobs", "list", "--status", "rejected", "--json"]).json["data"][0]["version"] == 2
    # an empty list says why: a filter that matches nothing, with the names that have jobs for a typo
    typo = " ".join(run_cli(["jobs", "list", "--model", "volatility_forecastr"]).stdout.split())
    assert "no jobs with model 'volatility_forecastr'; models with jobs: volatility_forecaster." in typo
    assert "Did you mean 'volatility_forecaster'?" in typo
    none = " ".join(run_cli(["jobs", "list", "--status", "cancelled"]).stdout.split())
    assert "no jobs with status cancelled" in none and "models with jobs" not in none


@pytest.mark.slow  # trains a network
def test_plain_progress_lines_without_terminal():
    result = train_regime()
    lines = [line for line in result.stderr.splitlines() if line.startswith("BTC epoch ")]
    assert lines and all("\x1b" not in line for line in lines)
    assert "selection_loss=" in lines[0] and "samples/s=" in lines[0] and "eta<=" in lines[0]
    quiet = train_regime("--quiet")
    assert "BTC epoch " not in quiet.stderr


@pytest.mark.slow  # trains a network
def test_models_commands(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    rows = {r["model_name"]: r for r in run_cli(["models", "list", "--json"]).json["data"]}
    assert rows["btc_regime_detector"]["production_version"] == 1
    show = run_cli(["models", "show", "btc_regime_detector", "--json"]).json["data"]
    for key in (
        "config",
        "sources",
        "seed",
        "metrics",
        "baselines",
        "data_windows",
        "timings",
        "library_versions",
        "command_line",
        "files",
        "job_id",
        "status",
        "spec",
    ):
        assert key in show
    assert show["data_windows"]["BTC"]["fingerprint"]
    text = run_cli(["models", "show", "btc_regime_detector"]).stdout
    for section in (
        "btc_regime_detector v1",
        "config",
        "validation (out of sample",
        "data windows",
        "sha256",
    ):
        assert section in text
    assert (
        "rule" in text and show["data_windows"]["BTC"]["fingerprint"] in text and "{" not in text
    )  # no raw JSON
    assert f"{show['data_windows']['BTC']['train_samples']} (pool)" in text  # the pool's rows, not BTC's


@pytest.mark.slow  # trains a network
def test_predict_regime_and_volatility(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    result = run_cli(["predict", "btc_regime_detector", "--json"], today=pd.Timestamp("2026-03-01"))
    age = 55  # days from the last embedded candle (2026-01-05) to the injected today
    assert (
        result.json["data"]["last_data_date"] == "2026-01-05" and result.json["data"]["data_age_days"] == age
    )
    assert f"2026-01-05, {age} days before today" in result.stderr  # embedded data is old: say so, on stderr
    regime = result.json["data"]["predictions"]
    assert len(regime) == 1 and regime[0]["date"] == "2026-01-05"
    assert abs(sum(regime[0]["probabilities"].values()) - 1) < 1e-3
    features = F.regime_features(DataStore(Home(trained_home)).load("BTC").frame.loc[:"2026-01-05"])
    assert (
        regime[0]["rule_regime"] == F.REGIMES[F.rule_detector(features)[-1]]
    )  # the rule's verdict, same day
    vol = run_cli(["predict", "volatility_forecaster", "--symbol", "ETH", "--json"]).json["data"][
        "predictions"
    ]
    assert vol[0]["symbol"] == "ETH" and vol[0]["forecast_annualized_vol"] > 0 and vol[0]["horizon_days"] == 7
    since = run_cli(["predict", "volatility_forecaster", "--since", "2025-12-01", "--json"]).json["data"][
        "predictions"
    ]
    assert len(since) == 2 * 36
    csv = run_cli(["predict", "btc_regime_detector", "--since", "2025-12-30", "--csv"]).stdout.splitlines()
    assert csv[0].startswith("symbol,date,regime") and ",rule_regime," in csv[0] and len(csv) == 8
    assert csv[0].endswith(",in_sample") and all(line.endswith(",False") for line in csv[1:])
    run_cli(["predict", "volatility_forecaster", "--symbol", "DOGE"], expect=2)


def test_info_json(home: Path):
    data = run_cli(["info", "--json"]).json["data"]
    assert data["home"] == str(home) and data["device"] == "cpu" and data["torch"]
    assert (Path(data["docs"]) / "volatility.md").is_file()  # the notes' docs/NAME.md, installed or not


def test_every_doc_ships_in_the_wheel():
    """docs_dir() falls back to the checkout, so the installed case is checked in the build config: every
    docs/*.md is force-included (an installed user was sent to docs/volatility.md and had no such file)."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    build = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    shipped = build["force-include"]
    for doc in (root / "docs").glob("*.md"):
        assert shipped.get(f"docs/{doc.name}") == f"mltrain/docs/{doc.name}", doc.name


def test_help_defaults_presets_do_not_import_torch_or_pandas(home: Path):
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mltrain.cli import app\n"
        "for args in (['--help'], ['defaults', 'btc_regime_detector'], ['presets']):\n"
        "    r = CliRunner().invoke(app, args)\n    assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "MLTRAIN_HOME": str(home)},
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_python_dash_m_works(home: Path):
    out = subprocess.run(
        [sys.executable, "-m", "mltrain", "defaults", "btc_regime_detector", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLTRAIN_HOME": str(home)},
    )
    assert out.returncode == 0 and json.loads(out.stdout)["ok"]


def test_debug_shows_traceback_only_when_asked():
    plain = run_cli(["train", "btc_regime_detector", "--days", "5", "--dry-run"], expect=2)
    assert "Traceback" not in plain.stderr
    debug = run_cli(["--debug", "train", "btc_regime_detector", "--days", "5", "--dry-run"], expect=2)
    assert "Traceback" in debug.stderr


def test_terminal_prompt_asks_and_a_no_trains_nothing(home: Path):
    """In a real terminal (a pty), train shows the plan and asks; answering no exits 1 and writes nothing.
    (The volatility model: the prompt is the same for both types, and it has no training probe to wait for.)"""
    import pty
    import select

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrain", "train", "volatility_forecaster", "--preset", "quick"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
        env={**os.environ, "MLTRAIN_HOME": str(home)},
    )
    os.close(follower)
    seen = b""
    while b"Start training?" not in seen:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, seen.decode(errors="replace")
        seen += os.read(leader, 4096)
    assert b"estimate:" in seen and b"preset quick" in seen
    os.write(leader, b"n\n")
    assert proc.wait(timeout=60) == 1
    os.close(leader)
    # the model's lock file is taken before the prompt (issue 13.4); no version, no job record
    assert not list((home / "registry").glob("*/v*")) and not list(home.glob("jobs/*.json"))
