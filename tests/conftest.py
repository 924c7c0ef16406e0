"""Shared fixtures: a temp MLTRAIN_HOME for every test, a fixed seed, the CLI run in-process."""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import typer.testing
from typer.testing import CliRunner

from mltrain.cli import Env, app
from mltrain.errors import ExitCode

from .cluster import shared_dask_cluster, start_run_cluster  # noqa: F401 (the first is a session fixture)

# what stops the run-wide Dask cluster the xdist controller started (cluster.start_run_cluster)
_STOP_CLUSTER = pytest.StashKey[object]()

# typer's CliRunner.invoke builds the Click command from the app on every call (about 20 ms: some 15 s of the
# suite's 700 in-process runs); the app never changes after import, so each process builds it once
if hasattr(typer.testing, "_get_command"):
    typer.testing._get_command = functools.cache(typer.testing._get_command)


def pytest_configure(config: pytest.Config) -> None:
    """Under `-n N` every worker and every process a test starts keeps to one BLAS/OpenMP thread, set here in
    the controller before its workers start (they and their children inherit it): N workers each spreading
    numpy and torch over every core would fight over the cores. Training itself already uses one torch thread
    (train.cpu_threads). The controller also starts the run's one Dask cluster, which its workers share."""
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, "1")
        config.stash[_STOP_CLUSTER] = start_run_cluster()


def pytest_unconfigure(config: pytest.Config) -> None:
    stop = config.stash.get(_STOP_CLUSTER, None)
    if stop is not None:
        stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests first, each file's order kept: with `-n N` the long runs start at once and the short
    ones fill in behind them, so the workers finish together instead of one ending on a 30 s test."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --promotion-folds 1: the champion/challenger check (promotion.py) trains one fold per config, not four
QUICK = ["--days", "120", "--epochs", "10", "--patience", "5", "--promotion-folds", "1", "--yes"]
# a tiny volatility run whose validation R² is positive for BTC and ETH on the embedded data, for tests that
# need a version to pass `--min-r2 0` (a 12-day block of QUICK scores below the training mean)
VOL_TINY = [
    "--days",
    "200",
    "--train-val-split",
    "0.75",
    "--epochs",
    "10",
    "--patience",
    "5",
    "--promotion-folds",
    "1",
    "--yes",
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own mltrain home; nothing touches the user's."""
    root = tmp_path / "mltrain-home"
    monkeypatch.setenv("MLTRAIN_HOME", str(root))
    monkeypatch.delenv("MLTRAIN_PRESETS_DIR", raising=False)
    return root


@pytest.fixture(autouse=True)
def no_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables fit COLUMNS when it is set (cli/tables.py): the tests see no width unless they set one, whatever
    the shell exported. Under pytest-xdist the workers would otherwise inherit COLUMNS=80 and LINES=24, which
    GNU readline, once loaded in the controller, puts in the C environment that child processes get."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(autouse=True)
def seed() -> None:
    np.random.seed(0)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def run_cli(
    args: list[str], expect: int | tuple[int, ...] = ExitCode.OK, input: str | None = None, today=None
) -> Result:
    """Run the real CLI in-process; fail on an unexpected exit code (one code, or any of a tuple).
    `today` (a pandas Timestamp) is the UTC day the command sees instead of the real clock."""
    argv = [str(a) for a in args]
    # the Env a real process builds in main(): the model's command_line is these args, not pytest's argv
    result = CliRunner().invoke(app, argv, input=input, obj=Env(argv=["mltrain", *argv], today=today))
    out = Result(result.exit_code, result.stdout, result.stderr)
    allowed = expect if isinstance(expect, tuple) else (expect,)
    assert result.exit_code in allowed, (
        f"exit {result.exit_code} not in {allowed}\nstdout: {result.stdout}\nstderr: {result.stderr}\n"
        f"exception: {result.exception!r}"
    )
    return out


# the pool narrowed to BTC and ETH (regime `symbols`): the network reads ~4,500 rows an epoch, not ~40,000
REGIME_TINY = [
    "train",
    "btc_regime_detector",
    "--preset",
    "quick",
    "--days",
    "365",
    "--symbols",
    "ETH",
    *QUICK[2:],
]


def train_regime(*extra: str, **kw) -> Result:
    """A tiny regime run for tests about something other than its gate. That gate (issue 15.6: no worse than
    the rule baseline) rejects most tiny runs (exit 3); a rejected version is then promoted with --force, so
    the registry holds a production version as after a passing run."""
    out = run_cli([*REGIME_TINY, *extra], expect=(ExitCode.OK, ExitCode.NOT_PROMOTED), **kw)
    if out.code == ExitCode.NOT_PROMOTED:
        rows = run_cli(["models", "list", "--json"]).json["data"]
        latest = next(r["latest_version"] for r in rows if r["model_name"] == "btc_regime_detector")
        run_cli(["models", "promote", "btc_regime_detector", str(latest), "--force"])
    return out


@pytest.fixture(scope="session")
def regime_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home after one `train_regime()` on a fresh home, trained once for every test that only needs such a
    version to exist (a test about training itself still trains). Read-only: `copy_home` it first."""
    root = tmp_path_factory.mktemp("regime-once") / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLTRAIN_HOME", str(root))
    train_regime()
    mp.undo()
    return root


def copy_home(source: Path, home: Path, parts: tuple[str, ...] = ("registry",)) -> None:
    """Copy the named folders of a trained home into this test's home (job records name their own home's log
    files, so they stay behind unless asked for)."""
    for part in parts:
        shutil.copytree(source / part, home / part, symlinks=True)


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory, regime_once: Path) -> Path:
    """A home with one regime and one volatility version, trained once and shared read-only."""
    root = tmp_path_factory.mktemp("trained") / "home"
    # the regime version of `regime_once` (a tiny run; if its gate refused it, it was promoted by hand as a
    # user would: the tests here want a production version to serve), then one volatility run
    shutil.copytree(regime_once, root, symlinks=True)
    mp = pytest.MonkeyPatch()
    mp.setenv("MLTRAIN_HOME", str(root))
    run_cli(
        [
            "train",
            "volatility_forecaster",
            "--preset",
            "quick",
            "--symbols",
            "BTC,ETH",
            "--min-r2",
            "0",
            *VOL_TINY,
        ]
    )
    mp.undo()
    return root
