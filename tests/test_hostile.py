"""Issue 26: a hostile home (FIFOs, links, huge integers, truncated files) and an inconsistent registry.
Every command that reads the home ends at once with a one-line error naming the file; nothing destructive
runs on an inconsistent registry. A FIFO can only hang a test that is broken: an alarm fails it instead."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from mltrain.errors import ExitCode

from .conftest import run_cli as conftest_run_cli

REGIME = "btc_regime_detector"
VOL = "volatility_forecaster"
ALARM_SECONDS = 30  # far above what any of these commands takes; only a hang reaches it


def run_cli(args: list[str], **kw):
    """conftest.run_cli under an alarm: a command blocked on a FIFO gets SIGALRM, the blocked open() is
    interrupted and the test fails instead of hanging the suite."""

    def hung(signum, frame):
        raise TimeoutError(f"`mltrain {' '.join(args)}` hung for {ALARM_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(ALARM_SECONDS)
    try:
        return conftest_run_cli(args, **kw)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def copied(trained_home: Path, home: Path) -> Path:
    """The session's trained home, copied into this test's home so it can be damaged."""
    shutil.copytree(trained_home, home, symlinks=True)
    return home


def model(home: Path, name: str = REGIME) -> Path:
    return home / "registry" / name


def fifo_at(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def versions(home: Path, name: str = REGIME) -> list[str]:
    return sorted(p.name for p in model(home, name).iterdir() if p.name.startswith("v"))


# every command that reads a model's registry files, with the exit codes it may end with when one is hostile
READERS = [
    ["predict", REGIME],
    ["models", "list"],
    ["models", "show", REGIME],
    ["models", "history", REGIME],
    ["models", "promote", REGIME, "1", "--force"],
    ["models", "rollback", REGIME],
    ["models", "prune", REGIME, "--keep", "1"],
    ["models", "rm", REGIME, "1"],
]


def hostile_result(args: list[str], path: Path) -> str:
    """Run `args`; it must end: exit 1 naming the file on stderr, or 0 or 2 where the command never needs
    the file or refuses for another reason first (`models list` warns per damaged model instead)."""
    out = run_cli(args, expect=(ExitCode.OK, ExitCode.FAILURE, ExitCode.USAGE))
    if out.code == ExitCode.FAILURE:
        assert path.name in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
    return out.stderr


@pytest.mark.parametrize(
    "file", ["aliases.json", "counter.json", "v1/metadata.json", "v1/weights.safetensors"]
)
@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_fifo_in_the_registry_never_blocks_a_command(copied: Path, file: str, args: list[str]):
    target = model(copied) / file
    fifo_at(target)
    before = versions(copied)
    err = hostile_result(args, target)
    if args[0] == "predict" and file != "counter.json":  # predict reads these: it must name the one refused
        assert target.name in err and "FIFO" in err
    assert target.is_fifo()  # never replaced by a regular file
    assert versions(copied) == before  # nothing removed while the registry cannot be read


@pytest.mark.parametrize("file", ["aliases.json", "counter.json", "v1/metadata.json"])
def test_a_symlink_or_a_huge_integer_in_the_registry_is_named(copied: Path, tmp_path: Path, file: str):
    target = model(copied) / file
    outside = tmp_path / "outside.json"
    outside.write_text(target.read_text() if target.exists() else "{}")
    target.unlink(missing_ok=True)
    target.symlink_to(outside)
    err = run_cli(["models", "prune", REGIME, "--keep", "1", "--dry-run"], expect=ExitCode.FAILURE).stderr
    assert "symbolic link" in err and file.split("/")[-1] in err
    target.unlink()
    target.write_text('{"production": ' + "9" * 5000 + ', "last_version": 1}')
    err = run_cli(["models", "prune", REGIME, "--keep", "1", "--dry-run"], expect=ExitCode.FAILURE).stderr
    assert "5000 digits" in err and file.split("/")[-1] in err and "internal error" not in err


def test_a_truncated_or_deep_file_is_malformed_json_naming_it(copied: Path):
    aliases = model(copied) / "aliases.json"
    aliases.write_text('{"production": ')
    assert "malformed JSON" in hostile_result(["predict", REGIME], aliases)
    aliases.write_text("[" * 70 + "]" * 70)
    assert "nested deeper" in hostile_result(["models", "prune", REGIME, "--keep", "1"], aliases)


def test_a_fifo_job_record_or_runs_history_never_blocks(copied: Path):
    jobs = sorted((copied / "jobs").glob("*.json"))
    fifo_at(jobs[0])
    listed = run_cli(["jobs", "list", "--json"])  # the other records are listed, as models list does
    assert jobs[0].name in listed.stderr and "FIFO" in listed.stderr and "warning" in listed.stderr
    assert {r["job_id"] for r in listed.json["data"]} == {p.stem for p in jobs[1:]}
    run_cli(["jobs", "show", jobs[0].stem], expect=ExitCode.FAILURE)


def test_a_fifo_in_the_data_store_never_blocks(copied: Path):
    store = copied / "data"
    store.mkdir(exist_ok=True)
    fifo_at(store / "BTC.json")
    listed = run_cli(["data", "list", "--json"])  # named, and the other series are listed
    assert "BTC.json" in listed.stderr and "FIFO" in listed.stderr and "warning" in listed.stderr
    assert listed.json["data"] and "BTC" not in {r["symbol"] for r in listed.json["data"]}
    err = run_cli(["data", "show", "BTC"], expect=ExitCode.FAILURE).stderr
    assert "BTC.json" in err and "FIFO" in err
    err = run_cli(["predict", REGIME], expect=ExitCode.FAILURE).stderr
    assert "BTC.json" in err


@pytest.mark.parametrize("file", ["aliases.json", "counter.json", "v1/metadata.json"])
def test_train_refuses_a_fifo_in_the_registry_before_training(copied: Path, file: str):
    fifo_at(model(copied) / file)
    before = versions(copied)
    err = run_cli(["train", REGIME, "--preset", "quick", "--yes"], expect=ExitCode.FAILURE).stderr
    assert file.split("/")[-1] in err and "FIFO" in err
    assert versions(copied) == before  # refused under the lock, before any epoch


def test_a_truncated_job_record_is_named(copied: Path):
    record = sorted((copied / "jobs").glob("*.json"))[0]
    record.write_text(record.read_text()[:40])
    err = run_cli(["jobs", "list"]).stderr  # named, and the listing goes on past it
    assert record.name in err and "malformed JSON" in err
    assert "malformed JSON" in run_cli(["jobs", "show", record.stem], expect=ExitCode.FAILURE).stderr
    # valid JSON that is not a job record: an AttributeError or a KeyError ended the listing once
    shapes = (
        "[]",
        '{"job_id": "x"}',
        '{"job_id": 5, "model_name": "m", "model_type": "regime", "status": "failed"}',
    )
    for shape in shapes:  # the last: an int id failed the sort with a TypeError
        record.write_text(shape)
        err = run_cli(["jobs", "list", "--status", "failed"]).stderr
        assert record.name in err and "is not a job record" in err
    record.write_text('{"job_id": "x", "model_name": "m"}')
    err = " ".join(run_cli(["jobs", "list"]).stderr.split())
    assert "(model_type, status, created_at: missing or not text)" in err  # names only what is missing


# ---------------------------------------------------------------- an inconsistent registry (issue 26.1)


@pytest.mark.parametrize("production", [99, -1, 0])
@pytest.mark.parametrize(
    "args",
    [
        ["models", "prune", REGIME, "--keep", "1"],
        ["models", "prune", REGIME, "--keep", "1", "--dry-run"],
        ["models", "rm", REGIME, "1"],
        ["models", "rollback", REGIME],
    ],
    ids=lambda a: " ".join(a[1:3] + a[5:]),
)
def test_destructive_commands_refuse_an_alias_to_a_missing_version(copied: Path, production, args):
    _second_version(copied)
    (model(copied) / "aliases.json").write_text(json.dumps({"production": production}))
    before = versions(copied)
    err = run_cli(args, expect=ExitCode.FAILURE).stderr
    assert f"names production v{production}, which does not exist" in err and "nothing was removed" in err
    assert len(err.strip().splitlines()) == 1
    assert versions(copied) == before


def test_destructive_commands_refuse_a_counter_below_the_versions(copied: Path):
    _second_version(copied)
    (model(copied) / "counter.json").write_text('{"last_version": 1}')
    err = run_cli(["models", "prune", REGIME, "--keep", "1"], expect=ExitCode.FAILURE).stderr
    assert "counter.json" in err and "below v2" in err
    assert versions(copied) == ["v1", "v2"]


def test_destructive_commands_refuse_an_unlogged_alias_to_a_rejected_version(copied: Path):
    _second_version(copied, passed=False)
    (model(copied) / "aliases.json").write_text('{"production": 2}')
    err = run_cli(["models", "rm", REGIME, "1"], expect=ExitCode.FAILURE).stderr
    assert "gate rejected" in err
    assert versions(copied) == ["v1", "v2"]


def test_a_consistent_registry_still_prunes(copied: Path):
    _second_version(copied)
    run_cli(["models", "promote", REGIME, "2"])
    assert run_cli(["models", "prune", REGIME, "--keep", "1", "--json"]).json["data"]["kept"] == [1, 2]


def _second_version(home: Path, passed: bool = True) -> None:
    """v2: a copy of v1 with a new creation id (and its gate result), the counter moved on as train does."""
    folder = model(home)
    shutil.copytree(folder / "v1", folder / "v2")
    meta = json.loads((folder / "v2" / "metadata.json").read_text())
    meta.update(version=2, creation_id="copied-v2")
    meta.setdefault("gate", {})["passed"] = passed
    (folder / "v2" / "metadata.json").write_text(json.dumps(meta))
    (folder / "counter.json").write_text('{"last_version": 2}')


# ---------------------------------------------------------------- output paths (issue 26.4)


def _prediction_result() -> dict:
    """The smallest evaluation result write_predictions accepts: one fold, one symbol, two days."""
    pred = {"dates": ["2025-01-01", "2025-01-02"], "actual": [0.1, 0.2], "model": [0.15, 0.25]}
    return {"folds": [{"predictions": {"BTC": pred}}]}


def test_predictions_into_a_regular_file_replace_it_whole(tmp_path: Path):
    from mltrain.evaluate import write_predictions

    target = tmp_path / "p.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_predictions(_prediction_result(), link)
    assert link.is_symlink() and target.read_text().startswith("date,symbol,fold,truth,model")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_predictions_into_a_fifo_are_written_into_it_never_renamed_over(tmp_path: Path):
    import threading

    from mltrain.evaluate import write_predictions

    fifo = tmp_path / "p.fifo"
    os.mkfifo(fifo)
    with pytest.raises(Exception) as refused:  # nobody reads it: exit 2, the FIFO stays
        write_predictions(_prediction_result(), fifo)
    assert refused.value.exit_code == ExitCode.USAGE and "no process is reading" in str(refused.value)
    assert fifo.is_fifo()
    got: list[bytes] = []
    reader_ready = threading.Event()

    def read() -> None:
        """Hold the FIFO open for reading (non-blocking: no writer yet), gather until EOF after data."""
        import time

        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        reader_ready.set()
        data, deadline = b"", time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:  # a writer is there, nothing written yet
                    chunk = None
                if chunk:
                    data += chunk
                elif chunk == b"" and data:  # the writer closed after writing
                    break
                else:
                    time.sleep(0.005)
        finally:
            os.close(fd)
        got.append(data)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    reader_ready.wait(5)
    write_predictions(_prediction_result(), fifo)
    thread.join(5)
    assert fifo.is_fifo() and got[0].startswith(b"date,symbol")


def test_predictions_onto_dev_full_fail_with_exit_1_naming_enospc():
    from mltrain.evaluate import write_predictions

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with pytest.raises(Exception) as failed:
        write_predictions(_prediction_result(), Path("/dev/full"))
    assert failed.value.exit_code == ExitCode.FAILURE and "ENOSPC" in str(failed.value)
    assert Path("/dev/full").is_char_device()


def test_evaluate_refuses_a_folder_or_socket_for_predictions_before_evaluating(tmp_path: Path):
    import socket

    err = run_cli(["evaluate", VOL, "--predictions", str(tmp_path)], expect=ExitCode.USAGE).stderr
    assert "is a folder" in err
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        err = run_cli(["evaluate", VOL, "--predictions", str(path)], expect=ExitCode.USAGE).stderr
    assert "neither a file" in err


# ---------------------------------------------------------------- a bad exchange (issue 26.2, 26.5, 26.7)

ccxt = pytest.importorskip("ccxt", reason="data update needs the optional ccxt package (mltrain[fetch])")


@pytest.fixture
def exchange():

    from .fake_exchange import FakeExchange
    from .test_update import TODAY, extended

    with FakeExchange({"BTCUSDT": extended("BTC", TODAY)}) as server:
        yield server


def _update(home: Path, fx, limits=None, today=None, sleeps=None):
    from mltrain.data.http import FetchLimits
    from mltrain.data.store import DataStore
    from mltrain.data.update import update_symbols
    from mltrain.paths import Home

    from .test_update import TODAY, clock_at

    return update_symbols(
        DataStore(Home(home)),
        ["BTC"],
        api_url=fx.url,
        clock=clock_at(today if today is not None else TODAY),
        backoff=(0.001, 0.002, 0.004),
        sleep=sleeps.append if sleeps is not None else (lambda s: None),
        limits=limits or FetchLimits(request_seconds=2, run_seconds=10),
    )


def _store_files(home: Path) -> dict:
    folder = home / "data"
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}


@pytest.mark.parametrize("fault", ["json500", "json502", "json429", "500", "cut"])
def test_5xx_and_429_are_retried_whatever_the_body(home: Path, exchange, fault: str):
    exchange.faults = [fault, fault]
    sleeps: list[float] = []
    [result] = _update(home, exchange, sleeps=sleeps)
    assert result["status"] == "updated" and len(sleeps) == 2


def test_a_json_500_that_never_clears_fails_after_the_tries(home: Path, exchange):
    from mltrain.errors import FetchError

    exchange.always = "json500"
    with pytest.raises(FetchError, match="failed after 4 tries"):
        _update(home, exchange)
    assert _store_files(home) == {} or "BTC.json" not in _store_files(home)


@pytest.mark.parametrize(
    "fault,match",
    [
        ("wrapped", "an object with keys \\['data'\\]"),
        ("seconds", "not in milliseconds"),
        ("short", "not a candle of 6 or more fields"),
        ("garbage", "not JSON"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_exit_1_and_stores_nothing(home: Path, exchange, fault, match):
    from mltrain.errors import FetchError

    exchange.always = fault
    with pytest.raises(FetchError, match=match) as failed:
        _update(home, exchange)
    assert failed.value.exit_code == ExitCode.FAILURE
    assert not (home / "data" / "BTC.json").exists()


def test_a_trickling_server_ends_within_the_deadlines(home: Path, exchange):
    import time

    from mltrain.data.http import FetchLimits
    from mltrain.errors import FetchError

    exchange.always = "trickle"
    started = time.monotonic()
    with pytest.raises(FetchError, match="deadline|within 0.2 s"):
        _update(home, exchange, limits=FetchLimits(request_seconds=0.2, run_seconds=0.5))
    assert time.monotonic() - started < 2.0  # the run's 0.5 s plus the exchange's setup, never 600 s
    assert not (home / "data" / "BTC.json").exists()


def test_a_huge_answer_is_refused(home: Path, exchange):
    from mltrain.data.http import FetchLimits
    from mltrain.errors import FetchError

    exchange.always, exchange.huge_bytes = "huge", 1 << 20
    with pytest.raises(FetchError, match="larger than 262,144 bytes"):
        _update(home, exchange, limits=FetchLimits(request_seconds=2, run_seconds=10, max_bytes=1 << 18))


def test_a_stale_series_after_an_empty_answer_warns(home: Path, exchange):
    import pandas as pd

    from .test_update import TODAY

    later = TODAY + pd.Timedelta(days=335)
    _update(home, exchange, today=later)  # through TODAY, the server's last candle
    [result] = _update(home, exchange, today=later)  # an empty answer
    assert result["status"] == "up to date"
    assert "335 days before today" in result["warnings"][0]
    out = run_cli(["data", "update", "BTC", "--api-url", exchange.url], today=later)
    assert "warning: BTC still ends" in out.stderr


def test_fetch_deadlines_come_from_the_environment(monkeypatch):
    from mltrain.data.http import FetchLimits, limits_from_env
    from mltrain.errors import UsageError

    assert limits_from_env({}) == FetchLimits()
    got = limits_from_env({"MLTRAIN_FETCH_REQUEST_SECONDS": "3", "MLTRAIN_FETCH_RUN_SECONDS": "9"})
    assert (got.request_seconds, got.run_seconds) == (3, 9)
    with pytest.raises(UsageError, match="MLTRAIN_FETCH_RUN_SECONDS"):
        limits_from_env({"MLTRAIN_FETCH_RUN_SECONDS": "0"})


# ---------------------------------------------------------------- an unreachable scheduler (issue 26.8)


def test_an_unreachable_dask_scheduler_is_said_in_seconds():
    import time

    pytest.importorskip("distributed")
    from mltrain.errors import UsageError
    from mltrain.executors import make_executor

    started = time.monotonic()
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        make_executor("dask://127.0.0.1:1")
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- linked folders in the home (issue 26.6)


@pytest.mark.parametrize("folder", ["registry", "data", "jobs"])
def test_a_home_folder_that_is_a_link_is_refused_like_a_linked_model_folder(
    copied: Path, tmp_path: Path, folder: str
):
    elsewhere = tmp_path / f"elsewhere-{folder}"
    (copied / folder).mkdir(exist_ok=True)
    shutil.move(copied / folder, elsewhere)
    (copied / folder).symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.rglob("*"))
    command = {"registry": ["models", "list"], "data": ["data", "list"], "jobs": ["jobs", "list"]}[folder]
    err = run_cli(command, expect=ExitCode.FAILURE).stderr
    assert f"{folder}: it is a symbolic link" in err and "MLTRAIN_HOME" in err
    err = run_cli(["predict", REGIME], expect=(ExitCode.FAILURE,)).stderr if folder != "jobs" else ""
    assert folder == "jobs" or "symbolic link" in err
    assert sorted(p.name for p in elsewhere.rglob("*")) == before  # nothing written through the link


def test_a_linked_model_folder_is_refused_for_reading_too(copied: Path, tmp_path: Path):
    shutil.move(model(copied), tmp_path / "elsewhere")
    model(copied).symlink_to(tmp_path / "elsewhere")
    err = run_cli(["predict", REGIME], expect=ExitCode.FAILURE).stderr
    assert "model folder is a symbolic link" in err
    assert REGIME not in run_cli(["models", "list"]).stdout


# ---------------------------------------------------------------- config, preset and space files


@pytest.mark.parametrize("flag", ["--config", "--space"])
def test_a_fifo_or_a_huge_file_as_a_config_or_space_is_refused_at_once(home: Path, tmp_path: Path, flag: str):
    """A FIFO given as --config or --space once blocked until killed (a plain read waits for a writer)."""
    command = ["train", "volatility_forecaster", "--dry-run"] if flag == "--config" else None
    command = command or ["sweep", "volatility_forecaster", "--trials", "1", "--folds", "1"]
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    out = run_cli([*command, flag, fifo], expect=ExitCode.USAGE)
    assert f"{fifo} is a FIFO; give a plain YAML file" in out.stderr and "Traceback" not in out.stderr
    huge = tmp_path / "huge.yaml"
    huge.write_text("# padding\n" * 120_000)  # 1.2 MB
    assert "larger than 1 MiB" in run_cli([*command, flag, huge], expect=ExitCode.USAGE).stderr
    assert "is a folder" in run_cli([*command, flag, tmp_path], expect=ExitCode.USAGE).stderr


def test_a_linked_preset_in_the_home_is_refused_not_followed(home: Path, tmp_path: Path):
    target = tmp_path / "elsewhere.yaml"
    target.write_text("description: from outside the home\ndays: 150\n")
    presets = home / "presets"
    presets.mkdir(parents=True)
    (presets / "lnk.yaml").symlink_to(target)
    out = run_cli(["presets"], expect=ExitCode.USAGE)
    assert "is a symbolic link; mltrain follows no link inside its home" in out.stderr


@pytest.mark.parametrize(
    "write, says",
    [
        (lambda p: p.write_text("days: [1\n"), "invalid YAML in preset file"),
        (lambda p: p.write_text("dayz: 100\n"), "unknown key 'dayz'"),
        (lambda p: p.symlink_to(p.parent.parent / "elsewhere.yaml"), "is a symbolic link"),
    ],
)
def test_one_broken_user_preset_stops_only_the_runs_that_ask_for_it(home: Path, write, says: str):
    """A bad file in the presets folder made every train, evaluate, sweep and defaults exit 2, whatever
    preset they used; now they warn and go on, and the runs that name it (and `presets`) still exit 2."""
    presets = home / "presets"
    presets.mkdir(parents=True)
    (home / "elsewhere.yaml").write_text("days: 150\n")
    write(presets / "mine.yaml")
    other = run_cli(["train", "volatility_forecaster", "--preset", "quick", "--dry-run", "--json"])
    assert says in other.stderr and "ignored: this run uses preset quick" in " ".join(other.stderr.split())
    assert other.json["data"]["preset"] == "quick"
    assert (
        says in run_cli(["train", "volatility_forecaster", "--preset", "mine", "--dry-run"], expect=2).stderr
    )
    assert says in run_cli(["presets"], expect=ExitCode.USAGE).stderr
    assert says in run_cli(["defaults", "btc_regime_detector"]).stderr  # warned too, and exit 0
