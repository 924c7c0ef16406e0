"""Odd input a cold walkthrough tried: the data store read a truncated or edited series without a check (a
shorter history, a last row of NaN, a pandas error), `data synth` replaced real data without a word and
half-wrote when it failed, a huge or negative --seed crashed after the checks, and empty paths or names
(`--home "$DIR"` with DIR unset) fell back to a default. Each case damages only its own home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mltrain.errors import ExitCode

from .conftest import run_cli
from .test_data import candles, write_generic


def imported(home: Path, tmp_path: Path, symbol: str = "XYZ") -> Path:
    """Import a small series; its content-named CSV in the store."""
    write_generic(tmp_path / "good.csv", candles(400))
    run_cli(["data", "import", tmp_path / "good.csv", "--symbol", symbol])
    meta = json.loads((home / "data" / f"{symbol}.json").read_text())
    return home / "data" / meta["file"]


def test_a_truncated_or_edited_store_file_is_named_and_a_replacing_import_mends_it(
    home: Path, tmp_path: Path
):
    stored = imported(home, tmp_path)
    whole = stored.read_bytes()
    stored.write_bytes(whole[: len(whole) // 3])  # cut inside a row
    err = run_cli(["data", "show", "XYZ"], expect=ExitCode.FAILURE).stderr
    assert f"data store file {stored} has changed since it was written" in err and "Traceback" not in err
    listed = run_cli(["data", "list", "--json"])  # named, and every other series still listed
    assert "has changed since it was written" in listed.stderr and "XYZ" not in str(listed.json["data"])
    lines = whole.decode().splitlines(keepends=True)
    stored.write_text("".join([*lines[:100], "garbage,row\n", *lines[101:]]))
    assert "has changed since it" in run_cli(["data", "show", "XYZ"], expect=ExitCode.FAILURE).stderr
    # a file the metadata names that no store write made: read, and named when it cannot be
    meta_path = home / "data" / "XYZ.json"
    meta = json.loads(meta_path.read_text())
    (home / "data" / "XYZ-mine.csv").write_text("".join([*lines[:100], "garbage,row\n"]))
    meta_path.write_text(json.dumps({**meta, "file": "XYZ-mine.csv"}))
    err = run_cli(["data", "show", "XYZ"], expect=ExitCode.FAILURE).stderr
    assert "XYZ-mine.csv cannot be read" in err and "import XYZ again" in err
    # merging onto it would keep the damage: refused; a replacing import is the way out, and says so
    again = tmp_path / "good.csv"
    run_cli(["data", "import", again, "--symbol", "XYZ", "--merge"], expect=ExitCode.FAILURE)
    out = run_cli(["data", "import", again, "--symbol", "XYZ", "--json"]).json["data"]
    assert any("replaced a damaged stored series" in note for note in out["notes"]) and out["rows"] == 400


def test_synth_keeps_real_data_unless_replace_and_never_half_writes(home: Path, tmp_path: Path):
    stored = imported(home, tmp_path)
    for symbol in ("XYZ", "BTC"):  # imported, embedded
        err = run_cli(["data", "synth", "--symbol", symbol, "--days", "300"], expect=ExitCode.USAGE).stderr
        assert f"the store holds real {symbol} data" in err and "--replace" in err
    assert stored.exists() and not (home / "data" / "XYZ.regimes.csv").exists()
    assert not (home / "data" / "BTC.json").exists()
    run_cli(["data", "synth", "--symbol", "XYZ", "--days", "300", "--replace"])
    regimes = home / "data" / "XYZ.regimes.csv"
    first = regimes.read_text()
    run_cli(["data", "synth", "--symbol", "XYZ", "--days", "320", "--seed", "1"])  # synthetic over synthetic
    assert regimes.read_text() != first
    # a damaged metadata stops the command before the true regimes are rewritten
    kept = regimes.read_text()
    (home / "data" / "XYZ.json").write_text("{bad")
    run_cli(["data", "synth", "--symbol", "XYZ", "--days", "400", "--seed", "2"], expect=ExitCode.FAILURE)
    assert regimes.read_text() == kept
    # an import over a synthetic series drops the regimes that described it
    run_cli(["data", "synth", "--symbol", "SYN", "--days", "300"])
    run_cli(["data", "import", tmp_path / "good.csv", "--symbol", "SYN"])
    assert not (home / "data" / "SYN.regimes.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["train", "volatility_forecaster", "--dry-run"],
        ["evaluate", "btc_regime_detector", "--synthetic", "--dry-run"],
        ["sweep", "volatility_forecaster", "--trials", "1"],
        ["data", "synth"],
    ],
)
@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1"])
def test_a_seed_out_of_range_is_refused_before_anything_runs(home: Path, args: list[str], seed: str):
    # in-process the usage error is Click's; main() makes it one line (tests/test_exit_codes.py)
    err = " ".join(run_cli([*args, "--seed", seed], expect=ExitCode.USAGE).stderr.split())
    assert "--seed" in err and ("4294967295" in err or "greater than or equal to 0" in err)


def test_import_names_what_the_path_is_and_empty_output_paths_are_refused(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A folder or a FIFO given to import read 'no such file'; --report '' wrote report.md and its figures
    into the current folder (an empty path is '.' to pathlib)."""
    import os

    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "dir.csv").mkdir()
    for name, said in (
        ("dir.csv", "is a folder"),
        ("pipe.csv", "is not a regular file"),
        ("no.csv", "no such"),
    ):
        err = run_cli(["data", "import", tmp_path / name, "--symbol", "XYZ"], expect=ExitCode.USAGE).stderr
        assert said in err
    monkeypatch.chdir(tmp_path)
    base = ["evaluate", "volatility_forecaster", "--folds", "2", "--dry-run"]
    for flag in ("--report", "--predictions"):
        assert "names nothing" in run_cli([*base, flag, ""], expect=ExitCode.USAGE).stderr
    assert not (tmp_path / "report.md").exists()


def test_a_truncated_json_names_line_column_and_what_is_wrong(home: Path, tmp_path: Path):
    imported(home, tmp_path)
    (home / "data" / "XYZ.json").write_text('{"file": "XYZ-')
    err = " ".join(run_cli(["data", "show", "XYZ"], expect=ExitCode.FAILURE).stderr.split())
    assert "XYZ.json line 1 column 10: unterminated string;" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--home", "", "jobs", "list"],
        ["train", "volatility_forecaster", "--dry-run", "--preset", ""],
        ["evaluate", "volatility_forecaster", "--dry-run", "--preset", " "],
    ],
)
def test_an_empty_home_or_preset_is_refused_not_read_as_the_default(home: Path, args: list[str]):
    assert "names nothing" in run_cli(args, expect=ExitCode.USAGE).stderr


def test_more_workers_than_cores_is_said(home: Path):
    import os

    many = (os.cpu_count() or 1) + 1
    err = run_cli(
        ["evaluate", "volatility_forecaster", "--folds", "2", "--dry-run", "--workers", many]
    ).stderr
    assert f"--workers {many} is more than this machine's" in err


def test_a_missing_or_damaged_series_says_how_to_mend_it_and_that_way_works(home: Path, tmp_path: Path):
    """A missing store CSV advised a re-import that failed the same way; a damaged synthetic series advised
    an import; `data synth --replace` over a damaged metadata must stop before the true regimes change."""
    stored = imported(home, tmp_path)
    stored.unlink()
    err = run_cli(["data", "show", "XYZ"], expect=ExitCode.FAILURE).stderr
    assert "is missing; import XYZ again" in err
    run_cli(["data", "import", tmp_path / "good.csv", "--symbol", "XYZ"])  # the way out it names
    assert len(run_cli(["data", "show", "XYZ", "--json"]).json["data"]["candles"]) > 0
    run_cli(["data", "synth", "--symbol", "SYN", "--days", "300"])
    made = json.loads((home / "data" / "SYN.json").read_text())["file"]
    (home / "data" / made).write_text("date,open\n")
    err = run_cli(["data", "show", "SYN"], expect=ExitCode.FAILURE).stderr
    assert "make it again (`mltrain data synth --symbol SYN --replace`)" in err
    regimes = (home / "data" / "SYN.regimes.csv").read_text()
    (home / "data" / "SYN.json").write_text("{bad")
    run_cli(["data", "synth", "--symbol", "SYN", "--days", "320", "--replace"], expect=ExitCode.FAILURE)
    assert (home / "data" / "SYN.regimes.csv").read_text() == regimes
    (home / "data" / "SYN.json").write_text(json.dumps({"file": made}))  # readable again, still damaged
    run_cli(["data", "synth", "--symbol", "SYN", "--days", "320", "--replace"])
    assert len(run_cli(["data", "show", "SYN", "--json"]).json["data"]["candles"]) > 0
    # an import that mends a damaged synthetic series keeps no advice that no longer applies in its notes
    made = json.loads((home / "data" / "SYN.json").read_text())["file"]
    (home / "data" / made).write_text("date,open\n")
    notes = run_cli(["data", "import", tmp_path / "good.csv", "--symbol", "SYN", "--json"]).json["data"][
        "notes"
    ]
    assert any("replaced a damaged stored series" in n for n in notes) and not any(
        "again" in n for n in notes
    )


def test_data_list_goes_on_past_a_metadata_that_parses_but_is_not_one(home: Path, tmp_path: Path):
    imported(home, tmp_path)
    run_cli(["data", "synth", "--symbol", "SYN", "--days", "300"])
    (home / "data" / "SYN.json").write_text("[]")
    listed = run_cli(["data", "list", "--json"])
    assert "SYN.json is not a JSON object" in " ".join(listed.stderr.split())
    assert "XYZ" in {r["symbol"] for r in listed.json["data"]}


def test_listings_go_on_past_a_job_with_a_bad_pid_and_a_series_with_no_candles(home: Path, tmp_path: Path):
    """A running job record with pid "abc" ended jobs list with a ValueError; a hand-named store file holding a
    header alone ended data list with an IndexError."""
    jobs = home / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    record = {"job_id": "j1", "model_name": "m", "model_type": "regime", "status": "running"}
    import socket

    record |= {"created_at": "2026-01-01T00:00:00+00:00", "host": socket.gethostname(), "pid": "abc"}
    (jobs / "j1.json").write_text(json.dumps(record))
    err = " ".join(run_cli(["jobs", "list"]).stderr.split())
    assert "j1.json is not a job record (ValueError: its pid)" in err
    imported(home, tmp_path)
    (home / "data" / "XYZ-mine.csv").write_text("date,open,high,low,close,volume\n")
    meta = json.loads((home / "data" / "XYZ.json").read_text())
    (home / "data" / "XYZ.json").write_text(json.dumps({**meta, "file": "XYZ-mine.csv"}))
    listed = run_cli(["data", "list", "--json"])
    assert "XYZ-mine.csv cannot be read" in " ".join(listed.stderr.split()) and listed.json["data"]


def test_synthetic_refuses_a_pool_it_would_ignore(home: Path):
    args = [
        "evaluate",
        "btc_regime_detector",
        "--synthetic",
        "--folds",
        "2",
        "--dry-run",
        "--symbols",
        "ETH,SOL",
    ]
    assert "--synthetic trains on the generated market alone" in run_cli(args, expect=ExitCode.USAGE).stderr
