"""Exit codes through the real console entry point (a subprocess), JSON mode included."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def mltrain(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mltrain", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MLTRAIN_HOME": str(home), **env},
    )


def test_unknown_option_in_json_mode_is_one_json_document_and_exit_2(home: Path):
    out = mltrain(home, "train", "btc_regime_detector", "--bogus", "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["ok"] is False and "--bogus" in out.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["train", "btc_regime_detector", "--epochs", "abc"], "Invalid value for '--epochs'"),
        (["train", "btc_regime_detector", "--bogus"], "No such option: --bogus"),
        (["train"], "Missing argument 'model'"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_a_bad_option_or_argument_is_one_line_and_exit_2(home: Path, args: list[str], says: str):
    """As every other error (a cron log reads one line per failure), not Click's six-line box."""
    out = mltrain(home, *args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith(f"error: {says}") and len(out.stderr.splitlines()) == 1, out.stderr
    assert "--help` lists what is allowed" in out.stderr


def test_mltrain_alone_shows_the_help_and_no_error_line(home: Path):
    out = mltrain(home)
    assert out.returncode == 2 and "Usage: mltrain" in out.stdout and "error" not in out.stderr


@pytest.mark.slow  # trains a network
def test_gate_exit_3_survives_json_mode(home: Path):
    out = mltrain(
        home,
        "train",
        "volatility_forecaster",
        "--symbols",
        "BTC",
        "--min-r2",
        "1",
        "--days",
        "120",
        "--epochs",
        "10",
        "--patience",
        "5",
        "--promotion-folds",
        "1",
        "--yes",
        "--json",
    )
    assert out.returncode == 3 and json.loads(out.stdout)["data"]["promoted"] is False


def test_usage_error_exit_2_without_json(home: Path):
    out = mltrain(home, "defaults", "nope_model")
    assert out.returncode == 2 and out.stdout == "" and out.stderr.startswith("error: unknown model")


def test_shell_completion_script_and_completions(home: Path):
    # Typer reads the shell from the parent process (shellingham) and takes no argument to --show-completion
    # unless this variable is set (typer/completion.py): without it, a pytest run outside an interactive shell
    # fails with "Shell  not supported." and an interactive one gets its own shell's script, whatever it is
    script = mltrain(home, "--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert script.returncode == 0 and "_mltrain_completion" in script.stdout
    env = {
        **os.environ,
        "MLTRAIN_HOME": str(home),
        "_MLTRAIN_COMPLETE": "complete_bash",
        "COMP_WORDS": "mltrain mod",
        "COMP_CWORD": "1",
    }
    out = subprocess.run([sys.executable, "-m", "mltrain"], capture_output=True, text=True, env=env)
    assert "models" in out.stdout


def test_a_home_that_is_a_file_exits_2_naming_its_source(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    out = mltrain(blocker, "models", "list", "--json")
    assert out.returncode == 2 and "is a file, not a folder" in json.loads(out.stdout)["error"]
    assert "MLTRAIN_HOME" in out.stderr and "Traceback" not in out.stderr
