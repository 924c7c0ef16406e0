"""The CLI side of issues 13 and 15: models promote/rollback/rm/prune, models list with a damaged version,
data synth/import/update, predict's serving rules and --max-age, output errors (15.15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from mltrain.errors import ExitCode
from mltrain.paths import Home
from mltrain.registry import Registry

from .conftest import run_cli
from .test_registry_integrity import NAME, add_version

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def reg(home: Path) -> Registry:
    return Registry(Home(home))


@contextmanager
def held_elsewhere(enter):
    """Hold a lock from another thread (flock is per open file, so the CLI in this thread finds it busy)."""
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with enter():
            taken.set()
            release.wait()

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


# ---------------------------------------------------------------- models promote / rollback / rm / prune


def test_promote_reports_previous_and_a_noop_promote_changes_nothing(reg: Registry):
    add_version(reg), add_version(reg)
    doc = run_cli(["models", "promote", NAME, "1", "--json"]).json["data"]
    assert doc == {
        "model_name": NAME,
        "production": 1,
        "previous": 2,
        "changed": True,
        "status_before": "archived",
    }
    log_before = reg.alias_log(NAME)
    out = run_cli(["models", "promote", NAME, "1"])
    assert out.stdout.strip() == f"{NAME}: v1 is already the production version; nothing changed"
    assert reg.alias_log(NAME) == log_before


def test_promoting_a_rejected_version_needs_force(reg: Registry):
    add_version(reg), add_version(reg, passed=False)
    out = run_cli(["models", "promote", NAME, "2"], expect=ExitCode.USAGE)
    assert "--force" in out.stderr and "Traceback" not in out.stderr
    assert reg.aliases(NAME)["production"] == 1
    doc = run_cli(["models", "promote", NAME, "2", "--force", "--json"]).json["data"]
    assert doc["changed"] and doc["status_before"] == "rejected" and reg.aliases(NAME)["production"] == 2


@pytest.mark.parametrize(
    "args",
    [
        ["models", "promote", NAME, "1"],
        ["models", "rollback", NAME],
        ["models", "rm", NAME, "1"],
        ["models", "prune", NAME, "--keep", "1"],
    ],
)
def test_registry_writes_on_a_locked_model_are_exit_2_naming_the_holder(reg: Registry, args):
    add_version(reg), add_version(reg), add_version(reg)
    before = reg.aliases(NAME), reg.versions(NAME)
    with held_elsewhere(lambda: reg.lock(NAME, {"job_id": "other-job"})):
        out = run_cli(args, expect=ExitCode.USAGE)
    assert "other-job" in out.stderr and "--wait" in out.stderr
    assert (reg.aliases(NAME), reg.versions(NAME)) == before


def test_wait_blocks_until_the_lock_is_free_and_says_so(reg: Registry, home: Path):
    """A real second process with --wait: it prints its waiting line, then finishes once the lock is free."""
    add_version(reg), add_version(reg)
    with held_elsewhere(lambda: reg.lock(NAME, {"job_id": "other-job"})):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mltrain", "models", "promote", NAME, "1", "--wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "MLTRAIN_HOME": str(home), "PYTHONPATH": str(REPO / "src")},
        )
        line = proc.stderr.readline()  # the event: it found the lock busy and is waiting
        assert "waiting for job other-job" in line
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "production is now v1" in out and reg.aliases(NAME)["production"] == 1


def test_models_list_shows_a_damaged_latest_version_as_corrupted(reg: Registry):
    add_version(reg)
    add_version(reg, name="eth_regime_detector")
    (reg.model_dir("eth_regime_detector") / "v1" / "metadata.json").write_text("{not json")
    out = run_cli(["models", "list", "--json"])
    rows = {r["model_name"]: r for r in out.json["data"]}
    assert rows[NAME]["latest_status"] == "production"
    assert rows["eth_regime_detector"]["latest_status"] == "corrupted"
    assert "eth_regime_detector v1" in out.stderr
    text = run_cli(["models", "list"]).stdout
    assert "corrupted" in text and "production" in text
    # a damaged aliases file is not the latest version's fault (it read "v1 corrupted" and blamed v1)
    (reg.model_dir(NAME) / "aliases.json").write_text('{"production": 99}')
    out = run_cli(["models", "list", "--json"])
    rows = {r["model_name"]: r for r in out.json["data"]}
    assert rows[NAME]["latest_status"] == "unknown" and f"{NAME} v1" not in out.stderr
    assert "v99" in out.stderr and f"{NAME}: " in out.stderr


# ---------------------------------------------------------------- data synth / import


@pytest.mark.parametrize("symbol", ["syn", "SYN\n", "S/N", "../X"])
def test_synth_refuses_a_symbol_that_is_not_a_plain_upper_case_name(symbol: str, home: Path):
    out = run_cli(["data", "synth", "--symbol", symbol, "--days", "400"], expect=ExitCode.USAGE)
    assert out.stderr.startswith("error: symbol") and not (home / "data").exists()


def test_synth_and_import_on_a_busy_symbol_are_exit_2(home: Path, tmp_path: Path):
    from mltrain.data.store import DataStore

    store = DataStore(Home(home))
    csv = tmp_path / "x.csv"
    csv.write_text("date,close\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n")
    with held_elsewhere(lambda: store.lock("SYN", "test writer")):
        out = run_cli(["data", "synth", "--symbol", "SYN", "--days", "400"], expect=ExitCode.USAGE)
        assert "test writer" in out.stderr and "--wait" in out.stderr
        run_cli(["data", "import", str(csv), "--symbol", "SYN"], expect=ExitCode.USAGE)
    assert not store.has("SYN")
    run_cli(["data", "synth", "--symbol", "SYN", "--days", "400", "--wait"])
    assert (home / "data" / "SYN.regimes.csv").is_file() and store.has("SYN")


# ---------------------------------------------------------------- 15.15 output that cannot be written


def _mltrain(args: list[str], home: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLTRAIN_HOME": str(home), "PYTHONPATH": str(REPO / "src"), **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "mltrain", *args],
        capture_output=kw.pop("capture", True),
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        **kw,
    )


def test_models_list_with_stdout_closed_is_one_line_and_exit_1(reg: Registry, home: Path):
    add_version(reg)
    proc = subprocess.run(
        f'"{sys.executable}" -m mltrain models list >&-',
        shell=True,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "MLTRAIN_HOME": str(home), "PYTHONPATH": str(REPO / "src")},
    )
    assert proc.returncode == ExitCode.FAILURE
    assert (
        proc.stderr.strip() == "error: stdout is closed; nothing could be printed (redirect it to a file or "
        "/dev/null)"
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("as_json", [False, True])
def test_models_list_into_a_full_disk_is_one_line_and_exit_1(reg: Registry, home: Path, as_json: bool):
    add_version(reg)
    with open("/dev/full", "w") as full:
        proc = _mltrain(
            ["models", "list", *(["--json"] if as_json else [])],
            home,
            capture=False,
            stdout=full,
            stderr=subprocess.PIPE,
        )
    assert proc.returncode == ExitCode.FAILURE
    assert proc.stderr.strip().splitlines() == [
        "error: cannot write the output to stdout: No space left on device"
    ]


def test_info_with_a_non_ascii_home_and_an_ascii_terminal_is_one_line_and_exit_1(tmp_path: Path):
    home = tmp_path / "prévisions"
    proc = _mltrain(["info"], home, env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == ExitCode.FAILURE
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "error: cannot print the output in this terminal's encoding (ascii); set PYTHONIOENCODING=utf-8"
        )
    )
    assert "Traceback" not in proc.stderr
    ok = _mltrain(["info", "--json"], home, env={"PYTHONIOENCODING": "ascii"})  # JSON escapes it: fine
    assert ok.returncode == 0 and json.loads(ok.stdout)["data"]["home"] == str(home)


# ---------------------------------------------------------------- data update through the CLI

TODAY = pd.Timestamp("2026-01-10")


@pytest.fixture
def fx():
    pytest.importorskip("ccxt", reason="data update needs the optional ccxt package (mltrain[fetch])")
    from .fake_exchange import FakeExchange
    from .test_update import extended

    with FakeExchange(
        {"BTCUSDT": extended("BTC", TODAY), "ETHUSDT": extended("ETH", TODAY, seed=4)}
    ) as server:
        yield server


def test_data_update_cli_first_and_incremental_run(fx, home: Path):
    doc = run_cli(["data", "update", "BTC", "--api-url", fx.url, "--json"], today=TODAY).json
    (row,) = doc["data"]
    assert row["symbol"] == "BTC" and row["status"] == "updated" and row["last"] == "2026-01-09"
    assert row["new_rows"] == 4  # 2026-01-06..09: the embedded history ends 2026-01-05; the 10th is forming
    again = run_cli(["data", "update", "BTC", "--api-url", fx.url], today=TODAY)
    assert "up to date" in again.stdout and "BTC: fetching" in again.stderr
    quiet = run_cli(["data", "update", "--api-url", fx.url, "--quiet"], today=TODAY)  # default: fetched ones
    assert quiet.stderr == "" and "BTC" in quiet.stdout and "ETH" not in quiet.stdout


def test_data_update_faults_give_their_exit_codes(fx, home: Path):
    out = run_cli(
        ["data", "update", "BTC", "--exchange", "binanse", "--api-url", fx.url],
        expect=ExitCode.USAGE,
        today=TODAY,
    )
    assert "binance" in out.stderr  # did you mean
    out = run_cli(
        ["data", "update", "NOPE", "--api-url", fx.url, "--json"], expect=ExitCode.USAGE, today=TODAY
    )
    assert out.json["ok"] is False
    assert not (home / "data").exists() or not list((home / "data").glob("*.json"))


@pytest.mark.slow
def test_predict_max_age_refuses_before_predicting_on_old_candles(trained_home: Path, monkeypatch):
    monkeypatch.setenv("MLTRAIN_HOME", str(trained_home))
    late = pd.Timestamp("2026-03-01")  # the embedded candles end 2026-01-05
    out = run_cli(
        ["predict", "volatility_forecaster", "--max-age", "30", "--json"], expect=ExitCode.FAILURE, today=late
    )
    assert out.json["ok"] is False and "--max-age 30" in out.stderr and "mltrain data update" in out.stderr
    assert "mltrain data import FILE --symbol BTC --merge" in out.stderr  # both ways to newer candles
    ok = run_cli(["predict", "volatility_forecaster", "--max-age", "100", "--json"], today=late)
    assert ok.json["data"]["status"] == "production" and ok.json["data"]["predictions"]
    warned = run_cli(["predict", "volatility_forecaster"], today=late)  # default: a warning only
    said = " ".join(warned.stderr.split())
    assert "warning:" in said and "`mltrain data update`" in said and "`mltrain data import FILE" in said


def test_import_merge_extends_the_embedded_series_and_says_how_many_days_are_new(home: Path, tmp_path: Path):
    csv = tmp_path / "btc_new.csv"
    csv.write_text(
        "date,open,high,low,close\n2026-01-06,93000,94000,92000,93500\n2026-01-07,93500,95000,93000,94800\n"
    )
    out = run_cli(
        ["data", "import", str(csv), "--symbol", "BTC", "--merge"], today=pd.Timestamp("2026-01-10")
    )
    assert "to 2026-01-07 (2 new)" in out.stdout
    doc = run_cli(["data", "show", "BTC", "--json"], today=pd.Timestamp("2026-01-10")).json["data"]
    assert doc["rows"] > 3000 and doc["last"] == "2026-01-07"


def test_data_update_shows_every_symbol_and_page_on_stderr_json_or_not_and_quiet_silences_it(fx, home: Path):
    out = run_cli(["data", "update", "BTC", "ETH", "--api-url", fx.url, "--json"], today=TODAY)
    assert [r["symbol"] for r in out.json["data"]] == ["BTC", "ETH"]  # stdout stays one JSON document
    lines = out.stderr.splitlines()
    assert lines[0].startswith("symbols 0/2 done (loading binance markets (up to 4 tries))")  # the first wait
    start = "symbols 0/2 done (BTC: fetching BTC/USDT from 2026-01-05, about 5 days in ~1 pages)"
    assert lines[1].startswith(start)
    page = "symbols 0/2 done (BTC: page 1, 6 candles through 2026-01-10)"  # the forming day is dropped later
    assert any(line.startswith(page) for line in lines)
    done = "symbols 1/2 done (BTC: updated, 4 new days through 2026-01-09)"
    assert any(line.startswith(done) for line in lines)
    assert any("(ETH: page 1," in line for line in lines)
    assert lines[-1].startswith("symbols 2/2 done (ETH: updated") and "ETA" in lines[-1]
    quiet = run_cli(["data", "update", "BTC", "--api-url", fx.url, "--json", "--quiet"], today=TODAY)
    assert quiet.stderr == "" and quiet.json["data"][0]["status"] == "up to date"
