"""Reliability with real processes and real files: kill -9, concurrent trains, corruption, read-only."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mltrain.errors import UsageError
from mltrain.registry import validate_name

from .conftest import QUICK, VOL_TINY, copy_home, run_cli, train_regime

ROOT = Path(__file__).resolve().parent.parent
# about processes, locks and files, which are the same for every model type: a tiny volatility run on one
# symbol (its network off, the default, so the child imports neither torch's compiler nor hmmlearn: about
# 1.5 s of start-up fewer than a regime run, per child)
MODEL = "volatility_forecaster"
TRAIN = ["train", MODEL, "--preset", "quick", "--symbols", "BTC", *VOL_TINY]
ARGS = [*TRAIN, "--quiet"]


def spawn(home: Path, paused: Path | None = None, extra: list[str] | None = None) -> subprocess.Popen:
    """A training process; with `paused`, it stops while its version is staged (see tests/child_train.py)."""
    env = {
        **os.environ,
        "MLTRAIN_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    head = (
        [sys.executable, "-m", "tests.child_train", str(paused)]
        if paused
        else [sys.executable, "-m", "mltrain"]
    )
    return subprocess.Popen(
        head + ARGS + (extra or []),
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until a file the child writes exists (the child dying first is a failure, not a hang)."""
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def wait_for_staging(home: Path, signals: Path, proc: subprocess.Popen) -> Path:
    wait_for(signals / "staged", proc)
    staged = list((home / "registry" / MODEL).glob(".staging-*"))
    assert staged and (staged[0] / "weights.safetensors").exists()
    return staged[0]


@pytest.mark.slow  # trains a network
def test_kill_9_while_writing_leaves_no_version_and_next_run_succeeds(home: Path, tmp_path: Path):
    proc = spawn(home, paused=tmp_path / "signals")
    staging = wait_for_staging(home, tmp_path / "signals", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert staging.exists()  # the half-written version is still on disk...
    assert run_cli(["models", "list", "--json"]).json["data"] == []  # ...but nobody sees it
    job = run_cli(["jobs", "list", "--json"]).json["data"][0]
    assert job["status"] == "failed" and "interrupted" in job["error"]
    run_cli(TRAIN, expect=(0, 3))
    assert not staging.exists()  # cleaned up by the next run
    assert run_cli(["models", "list", "--json"]).json["data"][0]["latest_version"] == 1


def test_a_running_job_whose_pid_was_reused_shows_as_interrupted(home: Path):
    """After a reboot a job's pid can belong to another process: the recorded start time tells them apart."""
    from mltrain.jobs import Jobs
    from mltrain.paths import Home

    jobs = Jobs(Home(home))
    live = jobs.update(
        jobs.create("20260101T000000-aaaaaa", "btc_regime_detector", "regime", {}, False, {}, []),
        status="running",
    )
    reused = jobs.update(
        jobs.create("20260101T000000-bbbbbb", "btc_regime_detector", "regime", {}, False, {}, []),
        status="running",
        process=live["process"] + "0",
    )  # same pid, another process
    shown = {j["job_id"]: j for j in run_cli(["jobs", "list", "--json"]).json["data"]}
    assert live["process"] and shown[live["job_id"]]["status"] == "running"
    assert shown[reused["job_id"]]["status"] == "failed" and "interrupted" in shown[reused["job_id"]]["error"]


@pytest.mark.slow  # trains a network
def test_second_concurrent_train_exits_2_naming_the_job(home: Path, tmp_path: Path):
    first = spawn(home, paused=tmp_path / "signals")
    wait_for_staging(home, tmp_path / "signals", first)
    result = run_cli(TRAIN, expect=2)
    running = run_cli(["jobs", "list", "--status", "running", "--json"]).json["data"][0]
    assert (
        running["job_id"] in result.stderr and str(first.pid) in result.stderr and "--wait" in result.stderr
    )
    first.send_signal(signal.SIGKILL)  # paused inside the write hook: nothing to wait for
    first.wait(timeout=60)


@pytest.mark.slow  # trains a network
def test_sigterm_cancels_job_and_exits_130(home: Path):
    # Three symbols with patience 50 cannot stop before 153 epochs, so a signal sent right after the first
    # logged epoch always lands mid-training, however fast the machine (a fixed sleep raced a fast CI runner).
    cmd = [
        sys.executable,
        "-m",
        "mltrain",
        "train",
        "volatility_forecaster",
        "--correction",
        "on",  # off (the default) trains no network: nothing to stop mid-epoch
        "--days",
        "1825",
        "--epochs",
        "500",
        "--patience",
        "50",
        "--yes",
        "--quiet",
    ]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "MLTRAIN_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs = home / "logs" / "jobs"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if any("1/500" in path.read_text() for path in logs.glob("*.log")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    job = run_cli(["jobs", "list", "--json"]).json["data"][0]
    assert job["status"] == "cancelled"
    assert run_cli(["models", "list", "--json"]).json["data"] == []


@pytest.mark.slow  # trains a network
def test_wait_flag_queues_behind_the_running_job(home: Path, tmp_path: Path):
    """The second train runs in this process (the lock is the file's, whoever holds it) while a thread
    releases the first once the second has said it waits: one Python start-up fewer than two children."""
    signals = tmp_path / "signals"
    first = spawn(home, paused=signals)
    wait_for_staging(home, signals, first)
    app_log = home / "logs" / "mltrain.log"
    seen: list[bool] = []

    def release_once_the_second_waits() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and first.poll() is None:
            if app_log.exists() and "waiting for the lock" in app_log.read_text():  # the second found it busy
                seen.append(True)
                break
            time.sleep(0.02)
        (signals / "release").touch()  # also on a timeout, so the second never waits forever

    releaser = threading.Thread(target=release_once_the_second_waits, daemon=True)
    releaser.start()
    # 3: saved but refused by the gate (a tiny run on a short block may be)
    second = run_cli([*ARGS, "--wait"], expect=(0, 3))
    releaser.join(timeout=120)
    assert seen, "the second job never reported waiting for the lock"
    assert first.wait(timeout=120) in (0, 3) and second.code in (0, 3)
    assert run_cli(["models", "list", "--json"]).json["data"][0]["latest_version"] == 2


@pytest.fixture
def trained(home: Path, regime_once: Path) -> Path:
    copy_home(regime_once, home)  # the tests below damage it: each gets its own copy of one trained version
    return home / "registry" / "btc_regime_detector" / "v1"


@pytest.mark.slow  # trains a network
def test_flipped_byte_in_weights_is_detected(trained: Path):
    weights = trained / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = run_cli(["predict", "btc_regime_detector"], expect=1)
    assert "weights.safetensors" in result.stderr and "corrupted" in result.stderr


@pytest.mark.slow  # trains a network
def test_missing_weights_file_is_named(trained: Path):
    (trained / "weights.safetensors").unlink()
    assert "missing" in run_cli(["predict", "btc_regime_detector"], expect=1).stderr


@pytest.mark.slow  # trains a network
def test_malformed_metadata_names_the_file(trained: Path):
    (trained / "metadata.json").write_text("{not json")
    result = run_cli(["models", "show", "btc_regime_detector", "--version", "1"], expect=1)
    assert "metadata.json" in result.stderr and "malformed JSON" in result.stderr


@pytest.mark.slow  # trains a network
def test_damaged_aliases_fail_before_training_and_leave_no_version(trained: Path):
    aliases = trained.parent / "aliases.json"
    aliases.write_text("[1, 2")
    result = run_cli(
        ["train", "btc_regime_detector", "--preset", "quick", "--days", "365", *QUICK[2:]], expect=1
    )
    assert str(aliases) in result.stderr and "malformed JSON" in result.stderr
    assert sorted(p.name for p in trained.parent.iterdir() if p.name.startswith("v")) == ["v1"]


@pytest.mark.slow  # trains a network
def test_version_files_follow_the_umask_not_tempfile_0600(home: Path):
    previous = os.umask(0o022)
    try:
        train_regime()
    finally:
        os.umask(previous)
    folder = home / "registry" / "btc_regime_detector"
    assert (folder / "v1").stat().st_mode & 0o777 == 0o755
    for path in [*(folder / "v1").iterdir(), folder / "aliases.json"]:
        assert path.stat().st_mode & 0o777 == 0o644, path


@pytest.mark.slow  # trains a network
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_registry_gives_clear_error(home: Path):
    (home / "registry").mkdir(parents=True)
    (home / "registry").chmod(0o500)
    try:
        result = run_cli(
            ["train", "btc_regime_detector", "--preset", "quick", "--days", "365", *QUICK[2:]], expect=1
        )
        assert "registry" in result.stderr
    finally:
        (home / "registry").chmod(0o700)


@pytest.mark.slow  # trains a network
def test_read_only_file_system_error_is_one_line(home: Path):
    """Root ignores permissions, so a registry path that is a file stands in for an unwritable folder."""
    home.mkdir(parents=True)
    (home / "registry").write_text("not a folder")
    result = run_cli(
        ["train", "btc_regime_detector", "--preset", "quick", "--days", "365", *QUICK[2:]], expect=1
    )
    assert "registry" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory: pytest.TempPathFactory, regime_once: Path) -> Path:
    """A home after `train_regime()` three times on a fresh home (the first from `regime_once`); read-only:
    `copy_home` it first."""
    root = tmp_path_factory.mktemp("three-versions") / "home"
    copy_home(regime_once, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("MLTRAIN_HOME", str(root))
    for _ in range(2):
        train_regime()
    mp.undo()
    return root


@pytest.mark.slow  # trains a network
def test_prune_keeps_newest_production_and_rollback_target(home: Path, three_versions: Path):
    copy_home(three_versions, home)
    for _ in range(2):  # five in all
        train_regime()
    # production 2 (--force: tiny regime runs usually fail their gate); rollback would restore 5
    run_cli(["models", "promote", "btc_regime_detector", "2", "--force"])
    plan = run_cli(["models", "prune", "btc_regime_detector", "--keep", "1", "--dry-run", "--json"]).json[
        "data"
    ]
    assert plan["removed"] == [1, 3, 4] and plan["kept"] == [2, 5]
    said = run_cli(["models", "prune", "btc_regime_detector", "--keep", "1", "--dry-run"]).stdout
    assert "would remove v1, v3, v4; would keep v2, v5" in said  # a dry run keeps and removes nothing yet
    folder = home / "registry" / "btc_regime_detector"
    assert sorted(p.name for p in folder.glob("v*")) == [
        "v1",
        "v2",
        "v3",
        "v4",
        "v5",
    ]  # dry run removed nothing
    assert (
        "removed v1, v3, v4; kept v2, v5"
        in run_cli(["models", "prune", "btc_regime_detector", "--keep", "1"]).stdout
    )
    assert sorted(p.name for p in folder.glob("v*")) == ["v2", "v5"]
    assert run_cli(["models", "rollback", "btc_regime_detector", "--json"]).json["data"]["production"] == 5
    assert (
        "must be 1 or more"
        in run_cli(["models", "prune", "btc_regime_detector", "--keep", "0"], expect=2).stderr
    )


@pytest.mark.slow  # trains a network
def test_promote_rollback_compare_rm(home: Path, three_versions: Path):
    copy_home(three_versions, home)  # train_regime() three times
    assert run_cli(["models", "list", "--json"]).json["data"][0]["production_version"] == 3
    run_cli(["models", "promote", "btc_regime_detector", "1", "--force"])
    assert run_cli(["models", "rollback", "btc_regime_detector", "--json"]).json["data"]["production"] == 3
    log = (home / "registry" / "btc_regime_detector" / "aliases.log.jsonl").read_text().splitlines()
    assert [json.loads(line)["to"] for line in log] == [1, 2, 3, 1, 3]
    compare = run_cli(["models", "compare", "btc_regime_detector", "1", "2", "--json"]).json["data"]
    assert set(compare["versions"]) == {"v1", "v2"}
    assert "production version" in run_cli(["models", "rm", "btc_regime_detector", "3"], expect=2).stderr
    run_cli(["models", "rm", "btc_regime_detector", "2"])
    shown = run_cli(["models", "show", "btc_regime_detector", "--version", "1", "--json"]).json["data"]
    assert shown["status"] == "archived"
    run_cli(["models", "show", "btc_regime_detector", "--version", "2"], expect=2)


@pytest.mark.slow  # trains a network
def test_new_model_name_resolved_from_registry(home: Path):
    args = ["--preset", "quick", "--days", "365", "--symbols", "BTC", *QUICK[2:]]  # a pool of two series
    run_cli(["train", "eth_regime_watch", "--model-type", "regime", *args])
    assert run_cli(["defaults", "eth_regime_watch", "--json"]).json["data"]["model_type"] == "regime"
    assert run_cli(["models", "show", "eth_regime_watch", "--json"]).json["data"]["data_windows"].keys() == {
        "ETH"
    }
    assert (
        "contradicts"
        in run_cli(["train", "eth_regime_watch", "--model-type", "volatility", "--dry-run"], expect=2).stderr
    )


@pytest.mark.parametrize("name", ["../evil", "Bad", "a/b", ".hidden", ""])
def test_model_names_are_validated_before_paths(name: str):
    with pytest.raises(UsageError):
        validate_name(name)


@pytest.mark.slow  # trains a network
def test_estimate_uses_past_runs_once_there_are_some(home: Path, regime_once: Path):
    copy_home(regime_once, home, ("registry", "cache"))  # the run history of one tiny run on this host
    plan = run_cli(["train", "btc_regime_detector", "--dry-run", "--json"]).json["data"]
    assert "median of 1 past run" in plan["estimate"]["basis"]


def test_issue_15_3_removed_number_is_not_reused_and_rollback_does_not_pick_a_stranger(home: Path):
    vol = ["train", "volatility_forecaster", "--preset", "quick", "--symbols", "BTC", *VOL_TINY]
    run_cli([*vol, "--min-r2", "0"]), run_cli([*vol, "--min-r2", "0"])
    run_cli(["models", "promote", "volatility_forecaster", "1"])
    run_cli(["models", "rm", "volatility_forecaster", "2"])
    assert run_cli([*vol, "--min-r2", "1", "--json"], expect=3).json["data"]["version"] == 3
    assert (
        "no earlier production version"
        in run_cli(["models", "rollback", "volatility_forecaster"], expect=2).stderr
    )
    prune = run_cli(["models", "prune", "volatility_forecaster", "--keep", "1", "--dry-run", "--json"]).json[
        "data"
    ]
    assert prune["kept"] == [1, 3]
    refused = run_cli(["models", "promote", "volatility_forecaster", "3"], expect=2)
    assert "rejected" in refused.stderr and "--force" in refused.stderr
