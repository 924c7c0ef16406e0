"""Job records and logs: ids matched in full, logs never written through a planted symlink."""

from pathlib import Path

import pytest

from mltrain.errors import RegistryError, UsageError
from mltrain.jobs import Jobs, app_logger
from mltrain.paths import Home


@pytest.mark.parametrize("bad", ["20260101T000000-aaaaaa\n", "../x", ".hidden", "a/b", ""])
def test_job_ids_are_matched_in_full(home: Path, bad: str):
    with pytest.raises(UsageError, match="invalid job id"):
        Jobs(Home(home)).path(bad)


def test_job_log_and_app_log_refuse_symlinks(home: Path, tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    jobs = Jobs(Home(home))
    jobs.log_path("j1").parent.mkdir(parents=True)
    jobs.log_path("j1").symlink_to(outside)
    with pytest.raises(RegistryError, match="symbolic link"):
        jobs.open_log("j1")
    Home(home).app_log.symlink_to(outside)
    with pytest.raises(RegistryError, match="symbolic link"):
        app_logger(Home(home))
    assert outside.read_text() == "keep"
    with jobs.open_log("j2") as log:
        log.write("epoch 1\n")
    assert jobs.log_path("j2").read_text() == "epoch 1\n"
