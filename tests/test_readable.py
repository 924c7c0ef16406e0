"""Readable in ten seconds (issue 24): the answer first, one table style, no line wider than the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mltrain.cli import render

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "quality" / "results.json"  # real `evaluate --folds all` results, folds dropped
VERDICTS = ("beats", "LOSES", "tie")
DECISION_LINES = 8  # kept free for the decision-value table that comes first


def rendered(result: dict, columns: int, monkeypatch, details: bool = False) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    render.evaluation({**result, "record": "/x/registry/m/evaluations/e.json"}, out, details=details)
    return out.getvalue().splitlines()


def decision_rendered(symbols: list[str], columns: int, monkeypatch) -> list[str]:
    """The decision summary evaluate prints above the scores, one row per symbol (BTC's --folds all figures)."""
    from mltrain.cli.decision_view import render as decision_first

    monkeypatch.setenv("COLUMNS", str(columns))
    row = {"sharpe": 1.03, "max_drawdown": -0.585, "risk_steadiness": 0.18}
    one = {
        "days": 2134,
        "last": "2026-01-04",
        "cost_bps": 10.0,
        "rows": {"model": row, "rule": {**row, "sharpe": 0.99}, "buy_and_hold": {**row, "sharpe": 0.97}},
        "best_baseline": "rule",
        "steadiest_baseline": "rule",
        "model_vs_buy_and_hold": {"sharpe_difference": 0.06, "sharpe_ci": [-0.33, 0.46]},
    }
    out = io.StringIO()
    decision_first({"decision": {s: one for s in symbols}}, out)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("columns", [80, 100, 120])
@pytest.mark.parametrize("run", ["volatility", "regime", "regime_eth_cross", "synthetic_7"])
def test_evaluate_folds_all_puts_verdicts_first_on_one_screen(run: str, columns: int, monkeypatch):
    result = json.loads(RESULTS.read_text())[run]
    first = decision_rendered(list(result["summary"]), columns, monkeypatch)  # the decision value comes first
    assert len(first) <= DECISION_LINES + 4 + len(result["summary"]), "\n".join(first)
    lines = first + rendered(result, columns, monkeypatch)
    assert len(lines) <= 60, "\n".join(lines)
    verdict_rows = [k for k, line in enumerate(lines) if any(f" {v}" in line for v in VERDICTS)]
    assert len(verdict_rows) >= 2 * len(result["summary"]) and verdict_rows[-1] < 25
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    assert "--details" in "\n".join(lines) and "{" not in "\n".join(lines)


def test_a_model_worse_than_its_baseline_is_said_out_loud(monkeypatch):
    result = json.loads(RESULTS.read_text())["volatility"]
    summary = json.loads(json.dumps(result["summary"]))
    btc = summary["BTC"]
    btc["scores"]["model"]["qlike"] = 0.5  # far worse than log_har_bc's 0.3033
    btc["dm"]["log_har_bc"]["p_value"] = 0.001
    text = "\n".join(rendered({**result, "summary": summary}, 120, monkeypatch))
    assert "LOSES" in text and "1.649" in text  # the ratio to the best baseline, 0.5 / 0.3033


@pytest.mark.slow  # trains two small folds
def test_evaluate_summary_details_json_and_yes(home: Path, monkeypatch):
    args = ["evaluate", "volatility_forecaster", "--symbols", "BTC", "--folds", "2", "--days", "150"]
    args += ["--epochs", "10", "--patience", "5", "--workers", "1", "--yes", "--quiet", "--json"]
    doc = run_cli(args).json["data"]  # --yes is accepted (scripts pass train's flag here too)
    head = doc["headline"]  # the JSON carries the summary the text shows first
    assert head["columns"][-1] == "verdict" and head["rows"][0][0] == "BTC" and head["notes"]
    text = rendered(doc, 80, monkeypatch)
    assert "symbol" in text[2] and head["rows"][0][-1] in "".join(text[4:6])  # title, border, header, row
    assert all(len(line) <= 80 for line in text) and "walk-forward folds" not in "\n".join(text)
    detailed = "\n".join(rendered(doc, 80, monkeypatch, details=True))
    assert "gjr_garch" in detailed and "walk-forward folds" in detailed


# ---------------------------------------------------------------- the small defects, each failed before its fix


def test_regime_predict_text_shows_the_networks_own_verdict(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    monkeypatch.setenv("COLUMNS", "200")
    row = run_cli(["predict", "btc_regime_detector", "--json"]).json["data"]["predictions"][0]
    text = run_cli(["predict", "btc_regime_detector"]).stdout
    assert "network_regime" in text and f"│ {row['network_regime']} " in text
    csv = run_cli(["predict", "btc_regime_detector", "--csv"]).stdout.splitlines()
    assert csv[0].split(",")[3] == "network_regime" and csv[1].split(",")[3] == row["network_regime"]


def test_a_typo_in_a_model_name_points_at_the_real_name_not_at_itself(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    for command in (["predict"], ["models", "show"], ["models", "rollback"], ["models", "history"]):
        err = run_cli([*command, "btc_regime_detectr"], expect=2).stderr
        assert "Did you mean 'btc_regime_detector'?" in err, (command, err)
        assert "mltrain train btc_regime_detectr" not in err


def test_an_empty_registry_points_a_typo_at_the_built_in_name():
    err = run_cli(["predict", "volatility_forcaster"], expect=2).stderr
    assert "Did you mean 'volatility_forecaster'?" in err and "train volatility_forcaster" not in err


@pytest.mark.parametrize("text", ["01/02/2026", "20260102", "2026-W01-1", "2026-1-2", "2026-02-30"])
def test_dates_take_one_format_and_anything_else_is_refused_with_an_example(
    trained_home: Path, monkeypatch, text
):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    for command in (
        ["predict", "btc_regime_detector", "--since", text],
        ["evaluate", "btc_regime_detector", "--start", text, "--dry-run"],
        ["evaluate", "btc_regime_detector", "--holdout-from", text, "--dry-run"],
    ):
        err = run_cli(command, expect=2).stderr
        assert f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-02" in err, (command, err)
    from mltrain.data.update import parse_since
    from mltrain.errors import UsageError

    with pytest.raises(UsageError, match="use YYYY-MM-DD, e.g."):
        parse_since(text)


def test_rollback_twice_goes_further_back_and_never_toggles(home: Path):
    from mltrain.paths import Home
    from mltrain.registry import Registry

    from .test_registry_integrity import NAME, add_version

    reg = Registry(Home(home))
    for _ in range(3):
        add_version(reg)  # v1, v2, v3, each promoted in turn
    assert reg.rollback(NAME) == (3, 2)
    assert reg.rollback(NAME) == (2, 1)  # before: (2, 3), back where the first rollback came from
    with pytest.raises(Exception, match="no earlier production version"):
        reg.rollback(NAME)
    reg.promote_version(NAME, 3)  # a promotion after rollbacks pushes again: rollback returns to v1
    assert reg.rollback_target(NAME) == 1


def test_without_a_terminal_the_refusal_comes_before_any_probe():
    import time

    started = time.perf_counter()
    out = run_cli(["train", "btc_regime_detector", "--preset", "quick"], expect=2)
    assert "--yes was not given" in out.stderr
    assert "estimate" not in out.stderr and time.perf_counter() - started < 3  # no plan, no probe, no data


def test_a_sigterm_after_the_run_finished_keeps_exit_0(home: Path, tmp_path: Path):
    """The result is 350 kB of JSON: the process blocks writing it to the pipe, its work done, while SIGTERM
    lands; it must still finish the output and exit 0 (before: killed, 143)."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "MLTRAIN_HOME": str(home), "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "mltrain", "data", "show", "BTC", "--rows", "3000", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = proc.stdout.read(1)  # it is printing: the command's work is over
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr.read()
    assert len(json.loads(first + rest)["data"]["candles"]) == 3000


# ---------------------------------------------------------------- one table style, never wider than COLUMNS


@pytest.mark.slow  # trains one tiny volatility version
@pytest.mark.parametrize("columns", [80, 120])
def test_no_command_writes_a_line_wider_than_columns(
    trained_home: Path, tmp_path: Path, monkeypatch, columns
):
    import shutil

    from .conftest import VOL_TINY

    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    monkeypatch.setenv("MLTRAIN_HOME", str(home))
    monkeypatch.setenv("COLUMNS", str(columns))
    vol = ["volatility_forecaster", "--preset", "quick", "--symbols", "BTC,ETH", "--min-r2", "0"]
    commands = [
        ["train", *vol, *VOL_TINY],
        ["train", *vol, *VOL_TINY[:-1], "--dry-run"],
        ["evaluate", "btc_regime_detector", "--folds", "3", "--dry-run"],
        ["models", "list"],
        ["models", "show", "btc_regime_detector"],
        ["models", "show", "volatility_forecaster"],
        ["models", "compare", "volatility_forecaster", "1", "2"],
        ["models", "history", "volatility_forecaster"],
        ["predict", "btc_regime_detector"],
        ["predict", "volatility_forecaster"],
        ["data", "list"],
        ["data", "show", "BTC"],
        ["jobs", "list"],
        ["defaults", "btc_regime_detector"],
        ["defaults", "volatility_forecaster"],
        ["presets"],
        ["info"],
    ]
    for command in commands:
        out = run_cli(command, expect=(0, 3))
        for line in (out.stdout + out.stderr).splitlines():
            assert len(line) <= columns, f"mltrain {' '.join(command)}: {len(line)} > {columns}\n{line}"


def test_models_compare_shows_what_changed_not_two_documents(trained_home: Path, tmp_path: Path, monkeypatch):
    """Two real versions of the volatility forecaster, 200 and 300 days: the config row that changed, the
    model's scores side by side with the change, no unchanged config field, no raw JSON."""
    import shutil

    from .conftest import VOL_TINY

    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    monkeypatch.setenv("MLTRAIN_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "100")
    args = ["volatility_forecaster", "--preset", "quick", "--symbols", "BTC,ETH", "--min-r2", "0"]
    # saved whether or not the promotion check lets it replace v1 (issue 23): compare reads any two versions
    run_cli(["train", *args, *VOL_TINY[2:], "--days", "300"], expect=(0, 3))
    text = run_cli(["models", "compare", "volatility_forecaster", "1", "2"]).stdout
    assert "config.days" in text and "config.batch_size" not in text and "{" not in text
    doc = run_cli(["models", "compare", "volatility_forecaster", "1", "2", "--json"]).json["data"]
    assert doc["figures"]["config_changes"] == {"days": [200, 300]}
    qlike = next(e for e in doc["figures"]["scores"] if e["symbol"] == "BTC" and e["score"] == "QLIKE")
    a, b = qlike["values"]
    # scored on blocks of other days: a raw score is not better or worse (it read so), the ratio to the best
    # baseline of its own block is
    assert qlike["change"] == round(b - a, 4) and qlike["verdict"] == "windows differ"
    ratio = next(
        e for e in doc["figures"]["scores"] if e["symbol"] == "BTC" and e["score"].endswith("/ best baseline")
    )
    assert ratio["verdict"] in ("better", "worse", "same")
    assert f"{qlike['change']:+.4f}" in text and any(
        e["score"].endswith("/ best baseline") for e in doc["figures"]["scores"]
    )
    assert set(doc["versions"]) == {"v1", "v2"}  # both versions' documents stay in --json


# ---------------------------------------------------------------- every wait says what it does


def test_an_unreachable_exchange_says_each_try_and_what_to_try_next(home: Path):
    """No network: the request and each failed try with its wait are reported as they happen (before: 41 s
    of silence), and the error says what to try next."""
    import socket

    from mltrain.data.store import DataStore
    from mltrain.data.update import update_symbols
    from mltrain.errors import FetchError
    from mltrain.paths import Home

    pytest.importorskip("ccxt")
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    events: list[dict] = []
    with pytest.raises(FetchError) as err:
        update_symbols(
            DataStore(Home(home)),
            ["BTC"],
            api_url=f"http://127.0.0.1:{port}",
            backoff=(0.001,) * 3,
            sleep=lambda s: None,
            on_progress=events.append,
        )
    assert events[0] == {"event": "request", "what": "loading binance markets", "tries": 4}
    assert [e["attempt"] for e in events if e["event"] == "retry"] == [1, 2, 3]
    assert "--api-url" in str(err.value) and "mltrain data import" in str(err.value)


def test_data_update_shows_a_retry_with_its_wait_on_stderr(home: Path):
    pytest.importorskip("ccxt")
    from .fake_exchange import FakeExchange
    from .test_cli_wiring import TODAY
    from .test_update import extended

    with FakeExchange({"BTCUSDT": extended("BTC", TODAY)}) as fx:
        fx.faults = ["429"]  # the first candle request is refused once: one real 2 s wait
        out = run_cli(["data", "update", "BTC", "--api-url", fx.url], today=TODAY)
    assert "loading binance markets (up to 4 tries)" in out.stderr
    assert "try 1/4 failed (DDoSProtection" in out.stderr and "retrying in 2 s" in out.stderr
    assert "updated" in out.stdout


@pytest.mark.slow  # one trial of one small fold, then its validation
def test_sweep_estimates_before_its_first_trial_names_its_score_and_says_what_the_space_overrides(
    home: Path, monkeypatch
):
    from mltrain.cli import sweep
    from mltrain.paths import Home

    monkeypatch.setattr(sweep, "HEARTBEAT_SECONDS", 0.05)  # a trial of a second or more shows it is running

    presets = Home(home).user_presets
    presets.mkdir(parents=True, exist_ok=True)
    # correction on: a sweep searches only fields the config uses (with it off no network is trained)
    tiny = "description: tiny folds\ndays: 150\nepochs: 10\npatience: 7\nsymbols: [BTC]\ncorrection: 'on'\n"
    (presets / "tiny.yaml").write_text(tiny)
    space = home.parent / "space.yaml"
    space.write_text("patience: {low: 5, high: 6}\nepochs: {low: 10, high: 11}\n")
    out = run_cli(
        ["sweep", "volatility_forecaster", "--trials", "1", "--folds", "1", "--space", space]
        + ["--preset", "tiny", "--executor", "local:1", "--json"]
    )
    lines = out.stderr.splitlines()
    first_trial = next(k for k, line in enumerate(lines) if line.startswith("trials 1/1"))
    estimate = next(k for k, line in enumerate(lines) if line.startswith("estimate: ~"))
    assert estimate < first_trial and "per trial" in lines[estimate]
    assert any(
        "varies patience" in line for line in lines[:estimate]
    )  # the preset's patience: not used, said
    assert "patience=7 from preset tiny" in out.stderr
    assert any(
        line.startswith("trials 0/1 done (trial 0 running for") for line in lines[estimate:first_trial]
    )
    data = out.json["data"]
    assert "lower is better" in data["score"] and data["estimate"]["per_trial_seconds"] > 0
    assert set(data["space_overrides"]) == {"patience", "epochs"}


# ---------------------------------------------------------------- README and docs read as the issue asks


def test_readme_first_screen_and_the_short_quality_page():
    readme = (ROOT / "README.md").read_text()
    first = "\n".join(readme.splitlines()[:50])
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in first
    assert "mltrain train volatility_forecaster" in first and "mltrain evaluate btc_regime_detector" in first
    assert "verdict" in first  # what evaluate prints, shown
    quality = (ROOT / "docs" / "quality.md").read_text()
    assert len(quality.splitlines()) < 150 and "mltrain evaluate" in quality
    for name in set(__import__("re").findall(r"\(runs/([a-z0-9_]+)\.md\)", quality)):
        assert (ROOT / "docs" / "runs" / f"{name}.md").is_file(), name


def test_docs_name_no_path_of_this_repositorys_development_setup():
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = page.read_text()
        assert "../shared" not in text and "/work/" not in text, page


@pytest.mark.slow  # the dry-run measures a short training probe
def test_the_first_estimate_says_it_times_a_probe_before_the_wait(home: Path):
    first = run_cli(["train", "btc_regime_detector", "--preset", "quick", "--dry-run"]).stderr
    assert "timing a short training probe" in first
    again = run_cli(["train", "btc_regime_detector", "--preset", "quick", "--dry-run"]).stderr
    assert "timing a short training probe" not in again  # cached: no wait, nothing to say


def test_the_decision_title_counts_the_unlabelled_days_and_the_note_says_why_a_cell_is_empty(monkeypatch):
    """A regime decision counts the days after the last ex-post label (they have next-day returns, no label);
    the title says how many, and a '-' interval or an n/a verdict is explained (too few days)."""
    from mltrain.cli.decision_view import render as decision_first

    monkeypatch.setenv("COLUMNS", "80")
    row = {"sharpe": 1.03, "max_drawdown": -0.585}
    one = {
        "days": 2134,
        "unlabelled_days": 91,
        "last": "2026-01-04",
        "cost_bps": 10.0,
        "rows": {"model": row, "rule": row, "buy_and_hold": row},
        "best_baseline": "rule",
        "model_vs_buy_and_hold": {"sharpe_difference": 0.06, "sharpe_ci": [-0.33, 0.46]},
    }
    short = {**one, "unlabelled_days": 0, "days": 18, "model_vs_buy_and_hold": {"sharpe_difference": -0.57}}
    for decision, title, note in (
        (one, "decision value, 2134 days (91 past the last label) to 2026-01-04, 10 bps", False),
        (short, "decision value, 18 days to 2026-01-04, 10 bps", True),
    ):
        out = io.StringIO()
        decision_first({"decision": {"BTC": decision}}, out)
        lines = out.getvalue().splitlines()
        assert lines[0].strip() == title and all(len(line) <= 80 for line in lines)
        assert ("- and n/a: too few days for it" in " ".join(out.getvalue().split())) is note


def test_the_decision_verdict_says_a_loss_to_the_best_baseline(monkeypatch):
    """The verdict read 'tie' against holding while the model lost to the best baseline beyond noise; that
    was in --details only."""
    from mltrain.cli.decision_view import render as decision_first

    monkeypatch.setenv("COLUMNS", "160")
    row = {"sharpe": -0.9, "max_drawdown": -0.3}
    one = {
        "days": 146,
        "last": "2026-01-04",
        "cost_bps": 10.0,
        "rows": {"model": row, "persistence": {**row, "sharpe": -0.44}, "buy_and_hold": row},
        "best_baseline": "persistence",
        "model_vs_buy_and_hold": {"sharpe_difference": 0.01, "sharpe_ci": [-0.2, 0.2]},
        "model_vs_best_baseline": {"sharpe_difference": -0.46, "sharpe_ci": [-0.71, -0.09]},
    }
    out = io.StringIO()
    decision_first({"decision": {"BTC": one}}, out)
    assert "tie; LOSES vs persistence" in out.getvalue()
    out = io.StringIO()
    tied = {**one, "model_vs_best_baseline": {"sharpe_difference": -0.1, "sharpe_ci": [-0.3, 0.1]}}
    decision_first({"decision": {"BTC": tied}}, out)
    assert "vs persistence" not in out.getvalue()


def test_a_regime_prediction_says_which_verdicts_its_decision_came_from():
    """The decision (Bull) differed from the network's most likely regime (Correction) with nothing to say
    why; the line under the table now names both verdicts when they differ."""
    from mltrain.cli.predict import _what_to_do

    row = {"symbol": "BTC", "date": "2026-01-02", "exposure": 1.0, "regime": "Bull"}
    split = {**row, "network_regime": "Correction", "rule_regime": "Bull"}
    (line,) = _what_to_do([split])
    assert line == "BTC 2026-01-02: hold 1x BTC from this close (Bull; from network Correction, rule Bull)"
    (line,) = _what_to_do([{**row, "network_regime": "Bull", "rule_regime": "Bull"}])
    assert line.endswith("(Bull)")
    # the network's own call is the decision (an older version's decision layer): the rule is not named
    (line,) = _what_to_do(
        [{**row, "regime": "Bear", "exposure": 0.0, "network_regime": "Bear", "rule_regime": "Bull"}]
    )
    assert line.endswith("(Bear)")
