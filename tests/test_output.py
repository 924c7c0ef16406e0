"""Output a person can read (issue 16): tables that fit, numbers by magnitude, help on everything, one JSON
vocabulary, completion, models history. Versions are written through the registry with real safetensors files
and the metadata shape a training run writes, so no network is trained here."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import typer

from mltrain.cli import app, complete, helpfmt, render
from mltrain.errors import ExitCode
from mltrain.jobs import Jobs, new_job_id
from mltrain.paths import Home
from mltrain.registry import Registry, now_iso
from mltrain.textutil import fmt, plural

from .conftest import run_cli

REGIME = "btc_regime_detector"
LONG = "a_rather_long_custom_regime_model_name"
SCORES = {
    "accuracy": 0.61234567,
    "balanced_accuracy": 0.55123456,
    "macro_f1": 0.5012345,
    "detection_lag_days": 3.25,
    "changes_per_year": 12.5,
    "confusion": [[3, 1, 0, 0], [1, 5, 0, 0], [0, 0, 4, 1], [0, 0, 1, 2]],
}


def regime_meta(name: str, val_days: int, days: int = 730) -> dict:
    """The metadata a regime training run writes (the fields the CLI reads)."""
    window = {
        "symbol": "BTC",
        "first": "2024-01-01",
        "last": "2026-01-05",
        "rows": days,
        "train_samples": days - val_days,
        "val_samples": val_days,
        "estimator": "garman_klass",
        "source": "embedded",
        "fingerprint": "f" * 64,
    }
    return {
        "name": name,
        "model_type": "regime",
        "created_at": now_iso(),
        "job_id": "20260105-101010-abcdef",
        "preset": "full",
        "seed": 42,
        "device": "cpu",
        "config": {
            "days": days,
            "epochs": 100,
            "patience": 15,
            "batch_size": 32,
            "learning_rate": 0.00015,
            "train_val_split": 0.8,
            "hidden_size": None,
            "min_r2": None,
            "symbols": None,
        },
        "sources": {"days": "preset full", "learning_rate": "--learning-rate"},
        "metrics": dict(SCORES),
        "baselines": {"majority": {**SCORES, "balanced_accuracy": 0.25}},
        "data_windows": {"BTC": window},
        "gate": {"passed": True, "rule": "balanced accuracy beats every baseline"},
        "timings": {
            "total_seconds": 12.5,
            "estimated_seconds": 10.0,
            "estimate_basis": "probe",
            "epochs_run": {"BTC": 40},
            "best_epoch": {"BTC": 25},
        },
        "command_line": ["mltrain", "train", name],
        "library_versions": {"torch": "2.0"},
    }


def add_version(home: Path, name: str, *, val_days: int = 146, promote: bool = True) -> int:
    reg = Registry(Home(home))
    with reg.lock(name, {"job_id": "test"}):
        version = reg.write_version(
            name, {"w": torch.arange(4.0)}, regime_meta(name, val_days), "epoch,loss\n1,0.5\n"
        )
        if promote:
            reg.promote(name, version, reason="gate passed")
    return version


@pytest.fixture
def registry_home(home: Path) -> Path:
    """Two models; the long-named one has a production v1, a rejected v2 on a shorter window and a v3."""
    add_version(home, REGIME)
    add_version(home, LONG, val_days=73)
    add_version(home, LONG, val_days=18, promote=False)
    add_version(home, LONG, val_days=73, promote=False)
    meta = regime_meta(LONG, 73)
    Jobs(Home(home)).create(
        new_job_id(), LONG, "regime", meta["config"], False, meta["sources"], meta["command_line"]
    )
    return home


def no_bad_cells(text: str) -> None:
    assert "…" not in text, text  # nothing cut
    assert "{'" not in text and '{"' not in text, text  # no dict repr in a cell


# ---------------------------------------------------------------- numbers and words


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.00015, "0.00015"),
        (0.0001, "0.0001"),
        (0.001, "0.001"),
        (0.123456789, "0.1235"),
        (2 / 3, "0.6667"),
        (0.000123456789, "0.0001235"),
        (125000.0, "125,000"),
        (123456.789123, "123,456.79"),
        (1e-05, "0.00001"),
        (42, "42"),
        (None, "-"),
        (True, "True"),
    ],
)
def test_numbers_are_formatted_by_magnitude_and_a_typed_setting_is_never_rounded(value, shown):
    assert fmt(value) == shown


def test_plural():
    assert (
        plural(1, "day") == "1 day"
        and plural(2, "day") == "2 days"
        and plural(0, "missing day") == "0 missing days"
    )


# ---------------------------------------------------------------- tables that fit


def table_text(columns, rows, monkeypatch, width: int | None, **kw) -> str:
    if width is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    render.table("t", columns, rows, out, **kw)
    return out.getvalue()


def test_a_table_at_80_columns_wraps_or_drops_columns_but_never_cuts_a_name(monkeypatch):
    columns = ["model", "type", "production", "latest", "metric", "trained", "last data"]
    rows = [
        [
            LONG,
            "volatility",
            "v12",
            "v13 rejected",
            "r2_min 0.5512",
            "2026-01-05T10:10:10+00:00",
            "2026-01-05",
        ]
    ]
    text = table_text(
        columns, rows, monkeypatch, 80, drop=("type", "last data", "trained"), whole=("latest", "trained")
    )
    no_bad_cells(text)
    assert LONG in text and "v13 rejected" in text and "r2_min" in text and "0.5512" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "not shown at this width: type" in text
    blocks = table_text(
        columns,
        [[*rows[0][:4], "balanced_accuracy 0.5512", *rows[0][5:]]],
        monkeypatch,
        80,
        drop=("type", "last data", "trained"),
        whole=("latest", "trained"),
    )
    assert f"model: {LONG}" in blocks and "last data: 2026-01-05" in blocks  # nothing hidden in blocks


def test_columns_is_honoured_in_a_pipe_and_a_pipe_without_it_gets_wide_rows(monkeypatch):
    rows = [["x" * 30, "y " * 60]]
    narrow = table_text(["a", "b"], rows, monkeypatch, 60)
    assert max(len(line) for line in narrow.splitlines()) <= 60
    wide = table_text(["a", "b"], rows, monkeypatch, None)
    assert max(len(line) for line in wide.splitlines()) > 100


def test_too_wide_for_any_table_becomes_one_block_per_row(monkeypatch):
    text = table_text(["name", "sha256"], [[LONG, "f" * 64]], monkeypatch, 60, whole=("sha256",))
    no_bad_cells(text)
    assert f"name: {LONG}" in text and "f" * 50 in text and all(len(line) <= 60 for line in text.splitlines())


def test_nested_values_are_key_value_lines_and_sub_tables(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    render.kv(
        "job",
        {
            "job_id": "j1",
            "timings": {"total_seconds": 1.5, "per_symbol": {"BTC": 2}},
            "rows": [{"date": "2026-01-05", "close": 1.0}],
        },
        out,
    )
    text = out.getvalue()
    no_bad_cells(text)
    assert "timings" in text and "per_symbol" in text and re.search(r"BTC\s+│\s+2", text)
    assert "date: 2026-01-05" in text and "close: 1" in text


# ---------------------------------------------------------------- every command, 80 columns and a pipe


def _leaf_commands(command, path=()):
    if hasattr(command, "commands"):  # a group (Typer may vendor its own click)
        for name, sub in command.commands.items():
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield path, command


def test_every_option_and_argument_has_help_and_no_type_noise(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    root = typer.main.get_command(app)
    commands = list(_leaf_commands(root))
    assert len(commands) >= 15
    for path, command in commands:
        for param in command.params:
            assert getattr(param, "help", None), f"mltrain {' '.join(path)}: {param.name} has no help"
        text = run_cli([*path, "--help"]).stdout
        assert "<bool>" not in text and "<str>" not in text and "<int" not in text, (path, text)
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert "{" not in usage, usage
        # Rich markup would eat an unescaped "[extra]": "needs mltrain[fetch]" once read "needs mltrain."
        assert "mltrain." not in " ".join(text.split()).replace("mltrain.log", ""), (path, text)


def test_help_labels():
    assert helpfmt.plain_label("<int range>", False) == "INTEGER"
    assert helpfmt.plain_label("<bool>", True) is None and helpfmt.plain_label("<str>", False) == "TEXT"


@pytest.mark.parametrize("columns", ["80", None])
def test_registry_commands_at_80_columns_and_in_a_pipe(registry_home: Path, monkeypatch, columns):
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    job_id = Jobs(Home(registry_home)).list()[0]["job_id"]
    for args in (
        ["jobs", "show", job_id],
        ["models", "list"],
        ["models", "show", LONG],
        ["models", "show", LONG, "2"],
        ["models", "history", LONG],
        ["models", "compare", LONG, "1", "2"],
        ["jobs", "list"],
        ["data", "list"],
        ["data", "show", "BTC"],
        ["defaults", REGIME],
        ["presets"],
    ):
        text = run_cli(args).stdout
        no_bad_cells(text)
        if LONG in " ".join(args) or args == ["models", "list"]:
            assert LONG in text, (args, text)
        if columns:  # a line may pass the width only for one unbreakable word (a path), never a cut
            assert all(len(line) <= 80 or max(map(len, line.split())) > 40 for line in text.splitlines()), (
                args,
                text,
            )


def test_models_list_shows_production_and_its_status_beside_the_latest(registry_home: Path):
    rows = {r["model_name"]: r for r in run_cli(["models", "list", "--json"]).json["data"]}
    assert rows[LONG]["production_version"] == 1 and rows[LONG]["production_status"] == "production"
    assert rows[LONG]["latest_version"] == 3 and rows[LONG]["latest_status"] == "candidate"
    text = run_cli(["models", "list"]).stdout
    assert "v3 candidate" in text and re.search(r"\bv1\b", text)


def test_models_compare_prints_validation_windows_and_warns_when_they_differ(registry_home: Path):
    text = run_cli(["models", "compare", LONG, "1", "2"]).stdout
    assert "73 days to 2026-01-05" in text and "18 days to 2026-01-05" in text
    assert "validation windows differ" in text
    same = run_cli(["models", "compare", LONG, "1", "3"]).stdout
    assert "differ" not in same


def test_models_show_takes_the_version_as_argument_or_option(registry_home: Path):
    assert run_cli(["models", "show", LONG, "2", "--json"]).json["data"]["version"] == 2
    assert run_cli(["models", "show", LONG, "--version", "2", "--json"]).json["data"]["version"] == 2
    assert run_cli(["models", "show", LONG, "--json"]).json["data"]["version"] == 1  # production
    assert "disagree" in run_cli(["models", "show", LONG, "2", "--version", "3"], expect=2).stderr
    text = run_cli(["models", "show", LONG]).stdout
    assert "0.00015" in text  # the learning rate as given, not 0.0001 or 0.0002


def test_models_history_lists_versions_and_the_alias_log(registry_home: Path):
    reg = Registry(Home(registry_home))
    reg.promote_version(LONG, 3, reason="better on the long window")
    doc = run_cli(["models", "history", LONG, "--json"]).json["data"]
    assert [v["version"] for v in doc["versions"]] == [1, 2, 3]
    assert [v["status"] for v in doc["versions"]] == ["archived", "candidate", "production"]
    assert doc["versions"][0]["main_metric"] == "balanced_accuracy"
    assert doc["versions"][0]["main_metric_value"] == pytest.approx(0.55123456)
    assert [(e["from"], e["to"], e["reason"]) for e in doc["alias_log"]] == [
        (None, 1, "gate passed"),
        (1, 3, "better on the long window"),
    ]
    assert all(e["by"] and e["at"] for e in doc["alias_log"])
    text = run_cli(["models", "history", LONG]).stdout
    assert "better on the long window" in text and "alias changes" in text


# ---------------------------------------------------------------- one vocabulary


def test_json_contract_shared_keys(registry_home: Path):
    """The same thing has the same key in every command: model_name, version numbers, dates in `last`."""

    def data(args):
        return run_cli([*args, "--json"]).json["data"]

    model_docs = [
        data(["defaults", REGIME]),
        data(["models", "show", LONG]),
        data(["models", "history", LONG]),
        data(["models", "compare", LONG, "1", "2"]),
        *data(["models", "list"]),
    ]
    for doc in model_docs:
        assert "model_name" in doc, doc.keys()
    promoted = data(["models", "promote", LONG, "3"])
    assert set(promoted) >= {"model_name", "production", "previous"} and promoted["production"] == 3
    rolled = data(["models", "rollback", LONG])
    assert set(rolled) >= {"model_name", "production", "previous"} and "from" not in rolled
    assert (rolled["production"], rolled["previous"]) == (1, 3)
    pruned = data(["models", "prune", LONG, "--keep", "1", "--dry-run"])
    assert "model_name" in pruned and "name" not in pruned
    removed = data(["models", "rm", LONG, "2"])
    assert removed["model_name"] == LONG and "name" not in removed
    date = re.compile(r"\d{4}-\d{2}-\d{2}$")
    shown = data(["data", "show", "BTC"])
    assert date.match(shown["last"]) and shown["last_candle"]["date"] == shown["last"]
    assert all(date.match(r["last"]) for r in data(["data", "list"]))
    jobs = data(["jobs", "list"])
    assert jobs and all("model_name" in r for r in jobs)
    assert data(["jobs", "show", jobs[0]["job_id"]])["model_name"] == LONG
    synth = data(["data", "synth", "--days", "300", "--symbol", "SYNX"])
    assert synth["symbol"] == "SYNX" and date.match(synth["last"]) and date.match(synth["first"])
    assert all("name" in p and "model_name" not in p for p in data(["presets"]))  # a preset's own name


def test_data_show_text_names_the_last_date_not_a_candle():
    text = run_cli(["data", "show", "BTC"]).stdout
    no_bad_cells(text)
    assert re.search(r"to \d{4}-\d{2}-\d{2},", text)


def test_predict_of_an_untrained_custom_name_fails_cleanly():
    result = run_cli(["predict", "eth_regime_watch"], expect=2)
    assert "eth_regime_watch" in result.stderr


# ---------------------------------------------------------------- completion


def test_completion_from_the_home(registry_home: Path):
    (registry_home / "presets").mkdir(parents=True, exist_ok=True)
    (registry_home / "presets" / "mine.yaml").write_text("days: 120\n")
    assert LONG in complete.model_names("a_") and REGIME in complete.model_names("btc")
    assert "volatility_forecaster" in complete.model_names("")  # the catalogue, never trained here
    assert set(complete.presets("")) >= {"quick", "standard", "full", "deep", "mine"}
    assert complete.devices("c") == ["cpu", "cuda"]
    assert "BTC" in complete.symbols("b") and "ETH" in complete.symbols("")
    job_id = Jobs(Home(registry_home)).list()[0]["job_id"]
    assert complete.job_ids(job_id[:4]) == [job_id]


def test_completion_with_a_broken_home_completes_nothing(tmp_path: Path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("MLTRAIN_HOME", str(afile))
    assert complete.job_ids("") == [] and complete.registered_models("") == []


def test_completion_imports_neither_torch_nor_pandas_nor_pydantic():
    code = (
        "import sys; from mltrain.cli import complete; complete.model_names(''); complete.symbols('');"
        "complete.presets(''); complete.job_ids('');"
        "print(sorted(m for m in ('torch', 'pandas', 'pydantic') if m in sys.modules))"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src, "MLTRAIN_HOME": "/nonexistent-mltrain-home"},
    )
    loaded = json.loads(out.stdout.strip().replace("'", '"'))
    assert "torch" not in loaded and "pandas" not in loaded


# ---------------------------------------------------------------- evaluate's progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fold_progress_plain_lines_with_eta_and_quiet():
    clock, out = Clock(), io.StringIO()
    with render.FoldProgress(out, live=False, quiet=False, clock=clock) as show:
        clock.now += 10
        show({"done": 1, "total": 4, "label": "fold 1 to 2025-06-30"})
        clock.now += 10
        show({"done": 2, "total": 4, "label": "fold 2"})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("folds 1/4 done (fold 1 to 2025-06-30)") and "ETA 30 s" in lines[0]
    assert lines[1].startswith("folds 2/4 done") and "ETA 20 s" in lines[1]
    silent = io.StringIO()
    with render.FoldProgress(silent, live=False, quiet=True, clock=clock) as show:
        show({"done": 1, "total": 2, "label": ""})
    assert silent.getvalue() == ""


def test_evaluation_summary_renders_per_symbol_tables_not_json(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    render.render_evaluation_summary(
        {
            "model_type": "toy-unknown",
            "summary": {
                "folds": 3,
                "BTC": {"model": {"balanced_accuracy": 0.5, "macro_f1": 0.4}, "beats_baselines": True},
            },
        },
        out,
    )
    text = out.getvalue()
    no_bad_cells(text)
    assert "summary: BTC" in text and "balanced_accuracy" in text and "folds" in text
    assert "beats_baselines" in text and re.search(r"model\s+│\s+0.5\s+│\s+0.4", text)


# ---------------------------------------------------------------- commands that need a trained model


@pytest.mark.slow  # uses the trained-once home (trains two networks once per session)
@pytest.mark.parametrize("columns", ["80", None])
def test_trained_commands_at_80_columns_and_in_a_pipe(trained_home: Path, monkeypatch, columns):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    for args in (
        ["models", "list"],
        ["models", "show", REGIME],
        ["models", "show", "volatility_forecaster"],
        ["models", "history", REGIME],
        ["predict", REGIME],
        ["predict", "volatility_forecaster"],
        ["jobs", "list"],
        ["info"],
    ):
        text = run_cli(args).stdout
        no_bad_cells(text)
        if args[0] != "info" and args[-1] != "list" or args == ["models", "list"]:
            assert REGIME in text or "volatility_forecaster" in text, (args, text)


@pytest.mark.slow  # uses the trained-once home
def test_regime_predict_csv_has_a_symbol_column(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    lines = run_cli(["predict", REGIME, "--csv"]).stdout.splitlines()
    assert lines[0].split(",")[0] == "symbol" and lines[1].startswith("BTC,")
    vol = run_cli(["predict", "volatility_forecaster", "--csv"]).stdout.splitlines()
    assert vol[0].split(",").count("symbol") == 1


@pytest.mark.slow  # the dry-run measures a short training probe
def test_dry_run_shows_a_small_learning_rate_as_given(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = run_cli(["train", REGIME, "--preset", "quick", "--learning-rate", "0.00015", "--dry-run"]).stdout
    # a table, or field/value blocks when the preset's path (the clone's) makes the table too wide for 80
    assert re.search(r"learning_rate\s+│\s+0\.00015\s|field: learning_rate\s+value: 0\.00015\s", text), text
    no_bad_cells(text)
    plan = run_cli(["evaluate", REGIME, "--preset", "quick", "--folds", "3", "--dry-run", "--json"]).json[
        "data"
    ]
    assert plan["folds"] == 3 and plan["estimate"]["expected_seconds"] > 0 and plan["model_name"] == REGIME


@pytest.mark.slow  # uses the trained-once home
def test_json_contract_of_predict(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    for name in (REGIME, "volatility_forecaster"):
        doc = run_cli(["predict", name, "--json"]).json["data"]
        assert doc["model_name"] == name and isinstance(doc["version"], int)
        assert re.match(r"\d{4}-\d{2}-\d{2}$", doc["last_data_date"])
        assert all("symbol" in row and "date" in row for row in doc["predictions"])


@pytest.mark.slow  # trains a network
def test_json_keeps_progress_lines_on_stderr_and_quiet_silences_them():
    args = [
        "train",
        REGIME,
        "--preset",
        "quick",
        "--days",
        "365",
        "--epochs",
        "10",
        "--patience",
        "5",
        "--promotion-folds",
        "1",
        "--symbols",
        "ETH",
        "--yes",
    ]
    # about progress lines, not the gate: the promotion check may refuse a tiny run (exit 3)
    loud = run_cli([*args, "--json"], expect=(ExitCode.OK, ExitCode.NOT_PROMOTED))
    assert loud.json["data"]["model_name"] == REGIME and "BTC epoch 1/10" in loud.stderr
    quiet = run_cli([*args, "--json", "--quiet"], expect=(ExitCode.OK, ExitCode.NOT_PROMOTED))
    assert quiet.json["ok"] and "BTC epoch" not in quiet.stderr
