"""Registry integrity at the API level (issue 15 items 2-5, 9, 10, 15; issue 13 item 5): versions written with
real safetensors files, no training needed."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import torch

from mltrain import registry as registry_module
from mltrain.errors import LockBusyError, RegistryError, UsageError
from mltrain.paths import Home
from mltrain.registry import (
    ALIAS_LOG,
    ALIASES_FILE,
    COUNTER_FILE,
    Registry,
    now_iso,
    sha256_file,
    validate_name,
)

from .conftest import run_cli

NAME = "btc_regime_detector"


@pytest.fixture
def reg(home: Path) -> Registry:
    return Registry(Home(home))


def add_version(reg: Registry, passed: bool = True, name: str = NAME) -> int:
    """What a training run does: write under the lock, promote if the gate passed."""
    meta = {
        "name": name,
        "model_type": "regime",
        "created_at": now_iso(),
        "config": {},
        "metrics": {},
        "baselines": {},
        "data_windows": {},
        "gate": {"passed": passed, "rule": "test gate"},
    }
    with reg.lock(name, {"job_id": "test-job"}):
        version = reg.write_version(name, {"w": torch.arange(4.0)}, meta, "epoch,loss\n1,0.5\n")
        if passed:
            reg.promote(name, version, reason="gate passed")
    return version


def log_rows(reg: Registry) -> list[dict]:
    return reg.alias_log(NAME)


def folder(reg: Registry) -> Path:
    return reg.model_dir(NAME)


# ---------------------------------------------------------------- 15.3 numbers never reused


def test_removed_newest_version_keeps_its_number_and_its_log_entries_do_not_follow_it(reg: Registry):
    add_version(reg), add_version(reg)
    reg.promote_version(NAME, 1)
    reg.remove(NAME, 2)
    assert add_version(reg, passed=False) == 3  # not a second v2
    assert json.loads((folder(reg) / COUNTER_FILE).read_text()) == {"last_version": 3}
    assert add_version(reg, passed=False) == 4
    ids = {v: reg.meta(NAME, v)["creation_id"] for v in (1, 3, 4)}
    assert len(set(ids.values())) == 3 and all(len(i) == 32 for i in ids.values())
    with pytest.raises(UsageError, match="no earlier production version"):
        reg.rollback(NAME)  # the only earlier production was the removed v2
    assert reg.prune(NAME, keep=1, dry_run=True) == ([3], [1, 4])  # v3 is not a rollback target
    assert reg.status(NAME, 3) == "rejected"


def test_legacy_registry_without_counter_or_ids_does_not_hand_rollback_to_a_reused_number(
    reg: Registry, tmp_path: Path
):
    """A registry written before counters: v2 was removed and its number reused by a rejected version. Entries
    without creation ids only match versions created before them."""
    add_version(reg), add_version(reg), add_version(reg, passed=False)
    for v in (1, 2, 3):  # strip what the old code did not write
        path = folder(reg) / f"v{v}" / "metadata.json"
        meta = json.loads(path.read_text())
        meta.pop("creation_id")
        meta["created_at"] = f"2026-01-0{v if v < 3 else 9}T00:00:00+00:00"
        path.write_text(json.dumps(meta))
    (folder(reg) / COUNTER_FILE).unlink()
    log = [
        {"alias": "production", "from": None, "to": 1, "at": "2026-01-01T00:00:01+00:00"},
        {"alias": "production", "from": 1, "to": 2, "at": "2026-01-02T00:00:01+00:00"},
        {"alias": "production", "from": 2, "to": 1, "at": "2026-01-03T00:00:01+00:00"},
    ]
    (folder(reg) / ALIAS_LOG).write_text("".join(json.dumps(r) + "\n" for r in log))
    (folder(reg) / ALIASES_FILE).write_text('{"production": 1}')
    os.rename(folder(reg) / "v2", tmp_path / "removed-v2")  # `models rm 2`, then the old code numbered
    os.rename(folder(reg) / "v3", folder(reg) / "v2")  # the next (rejected) version v2 again
    meta_path = folder(reg) / "v2" / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "version": 2}))
    assert reg.rollback_target(NAME) is None
    assert reg.status(NAME, 2) == "rejected"  # the old "to": 2 entry meant another version
    assert reg.prune(NAME, keep=1, dry_run=True)[0] == []  # only v1 (production) and v2 (newest) exist


# ---------------------------------------------------------------- 15.4 no-op and rejected promotes


def test_promoting_the_production_version_changes_and_logs_nothing(reg: Registry):
    add_version(reg), add_version(reg)
    aliases_before = (folder(reg) / ALIASES_FILE).read_bytes()
    log_before = (folder(reg) / ALIAS_LOG).read_bytes()
    result = reg.promote_version(NAME, 2)
    assert not result.changed and result.previous == 2 and result.status_before == "production"
    assert (folder(reg) / ALIASES_FILE).read_bytes() == aliases_before
    assert (folder(reg) / ALIAS_LOG).read_bytes() == log_before
    assert reg.rollback(NAME) == (2, 1)


def test_a_legacy_no_op_log_entry_does_not_make_rollback_a_no_op(reg: Registry):
    add_version(reg), add_version(reg)
    ids = reg.meta(NAME, 2)["creation_id"]
    with open(folder(reg) / ALIAS_LOG, "a") as log:  # what the old code logged for `promote 2` on v2
        log.write(
            json.dumps(
                {"alias": "production", "from": 2, "from_id": ids, "to": 2, "to_id": ids, "at": now_iso()}
            )
            + "\n"
        )
    assert reg.rollback_target(NAME) == 1


def test_promoting_a_rejected_version_needs_force(reg: Registry):
    add_version(reg), add_version(reg, passed=False)
    with pytest.raises(UsageError, match="rejected by its promotion gate.*--force") as info:
        reg.promote_version(NAME, 2)
    assert info.value.exit_code == 2
    assert reg.aliases(NAME)["production"] == 1 and len(log_rows(reg)) == 1
    result = reg.promote_version(NAME, 2, force=True)
    assert result.changed and result.status_before == "rejected" and reg.aliases(NAME)["production"] == 2


# ---------------------------------------------------------------- 15.5 promote is one step


def test_unwritable_alias_log_leaves_aliases_unchanged(reg: Registry):
    add_version(reg), add_version(reg)
    log = folder(reg) / ALIAS_LOG
    log.unlink()
    log.mkdir()  # a folder where the log file should be: unwritable even for root
    with pytest.raises(RegistryError, match=ALIAS_LOG):
        reg.promote_version(NAME, 1)
    assert reg.aliases(NAME) == {"production": 2}


def test_failed_aliases_write_takes_the_log_entry_back(reg: Registry, monkeypatch: pytest.MonkeyPatch):
    add_version(reg), add_version(reg)
    before = (folder(reg) / ALIAS_LOG).read_bytes()

    def disk_full(path, payload):
        raise RegistryError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(registry_module, "atomic_write_json", disk_full)  # no portable real disk-full
    with pytest.raises(RegistryError, match="No space"):
        reg.promote_version(NAME, 1)
    assert (folder(reg) / ALIAS_LOG).read_bytes() == before and reg.aliases(NAME) == {"production": 2}


# ---------------------------------------------------------------- 15.9 symlinks


def test_symlinked_lock_is_refused_and_its_target_untouched(reg: Registry, tmp_path: Path):
    outside = tmp_path / "precious.txt"
    outside.write_text("do not truncate me")
    folder(reg).mkdir(parents=True)
    (folder(reg) / ".lock").symlink_to(outside)
    with pytest.raises(RegistryError, match="symbolic link"):
        with reg.lock(NAME, {"job_id": "x"}):
            pass
    assert outside.read_text() == "do not truncate me"


def test_symlinked_alias_log_and_hard_linked_lock_are_refused(reg: Registry, tmp_path: Path):
    add_version(reg), add_version(reg)
    outside = tmp_path / "outside.log"
    outside.write_text("")
    (folder(reg) / ALIAS_LOG).unlink()
    (folder(reg) / ALIAS_LOG).symlink_to(outside)
    with pytest.raises(RegistryError, match="symbolic link"):
        reg.promote_version(NAME, 1)
    assert outside.read_text() == "" and reg.aliases(NAME) == {"production": 2}
    (folder(reg) / ".lock").unlink()
    os.link(outside, folder(reg) / ".lock")
    with pytest.raises(RegistryError, match="hard link"):
        reg.promote_version(NAME, 1)


# ---------------------------------------------------------------- 15.10 names


@pytest.mark.parametrize("name", ["btc_x\n", "btc\nx", "x" * 65, "btc x", "btç"])
def test_names_are_matched_in_full(name: str):
    with pytest.raises(UsageError):
        validate_name(name)


def test_only_plain_version_folders_count(reg: Registry):
    add_version(reg)
    for odd in ("v01", "v\u0663", "v1\n", "v0"):  # leading zero, Arabic-Indic digit, newline, zero
        (folder(reg) / odd).mkdir()
    assert reg.versions(NAME) == [1]


# ---------------------------------------------------------------- 15.15 damaged versions


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"metrics": "oops"}, "'metrics' should be an object, found a string"),
        ({"files": None}, "'files' should be an object"),
        ({"version": 7}, "says version 7"),
        ({"data_windows": {"BTC": 3}}, "data_windows['BTC']"),
    ],
)
def test_metadata_of_the_wrong_shape_is_named(reg: Registry, change: dict, expected: str):
    add_version(reg)
    path = folder(reg) / "v1" / "metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(RegistryError, match="corrupted") as info:
        reg.meta(NAME, 1)
    assert str(path) in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("content", [b'{"name": "caf\xe9"}', b"[" * 100_000])
def test_undecodable_or_absurdly_nested_metadata_is_malformed_not_an_internal_error(
    reg: Registry, content: bytes
):
    add_version(reg)
    (folder(reg) / "v1" / "metadata.json").write_bytes(content)
    with pytest.raises(RegistryError, match="malformed JSON in .*metadata.json"):
        reg.meta(NAME, 1)


def test_symlinked_model_folder_is_refused(reg: Registry, tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    reg.root.mkdir(parents=True)
    folder(reg).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RegistryError, match="symbolic link"):
        with reg.lock(NAME, {"job_id": "x"}):
            pass
    assert not (tmp_path / "elsewhere" / ".lock").exists()


def test_metadata_without_checksums_is_refused_and_cli_exits_1_without_traceback(reg: Registry):
    add_version(reg)
    path = folder(reg) / "v1" / "metadata.json"
    meta = json.loads(path.read_text())
    del meta["files"]
    path.write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="no checksums"):
        reg.load(NAME, 1)
    path.write_text(
        json.dumps(
            {**meta, "files": {"weights.safetensors": "0" * 64, "history.csv": "0" * 64}, "metrics": "oops"}
        )
    )
    result = run_cli(["models", "show", NAME, "--json"], expect=1)
    assert "metadata.json" in result.stderr and "Traceback" not in result.stderr


def test_truncated_weights_with_a_matching_checksum_are_corrupted(reg: Registry):
    add_version(reg)
    weights, path = folder(reg) / "v1" / "weights.safetensors", folder(reg) / "v1" / "metadata.json"
    weights.write_bytes(weights.read_bytes()[:-5])
    meta = json.loads(path.read_text())
    meta["files"]["weights.safetensors"] = sha256_file(weights)  # someone "fixed" the checksum
    path.write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="weights.safetensors is corrupted"):
        reg.load(NAME, 1)


# ---------------------------------------------------------------- 15.2 which version predict serves


def test_no_production_version_means_predict_must_be_told_which(reg: Registry):
    add_version(reg, passed=False)
    with pytest.raises(
        UsageError,
        match=r"no production version of btc_regime_detector \(v1 was rejected "
        r"by its gate\); pass --version 1",
    ) as info:
        reg.serving_version(NAME)
    assert info.value.exit_code == 2
    assert reg.serving_version(NAME, 1) == (1, "rejected")
    add_version(reg)
    assert reg.serving_version(NAME) == (2, "production")


# ---------------------------------------------------------------- 13.5 promote takes the model's lock


def test_promote_while_a_train_commits_waits_and_keeps_the_alias_log_consistent(reg: Registry):
    add_version(reg), add_version(reg)  # production v2
    staged, go, waiting = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def pause() -> None:  # inside write_version: files staged, not yet committed or promoted
        staged.set()
        assert go.wait(60)

    def train() -> None:
        meta = {**reg.meta(NAME, 1)}
        for key in ("version", "creation_id", "files"):
            meta.pop(key)
        try:
            with reg.lock(NAME, {"job_id": "racing-train"}):
                version = reg.write_version(NAME, {"w": torch.zeros(2)}, meta, "epoch\n", pause_hook=pause)
                reg.promote(NAME, version, reason="gate passed")
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    def on_wait(holder: dict) -> None:
        assert holder["job_id"] == "racing-train"
        waiting.set()
        go.set()  # the promote is about to block on the lock: let the train finish

    trainer = threading.Thread(target=train)
    trainer.start()
    assert staged.wait(60)
    with pytest.raises(LockBusyError, match="racing-train.*--wait"):
        reg.promote_version(NAME, 1)  # without wait: exit 2 at once, nothing changed

    def promote() -> None:
        try:
            reg.promote_version(NAME, 1, wait=True, on_wait=on_wait)
        except BaseException as exc:
            errors.append(exc)

    promoter = threading.Thread(target=promote)
    promoter.start()
    promoter.join(120), trainer.join(120)
    assert not errors and waiting.is_set() and not promoter.is_alive()
    rows = [r for r in log_rows(reg) if r["alias"] == "production"]
    assert [r["to"] for r in rows] == [1, 2, 3, 1]  # the manual promote came after the train's
    assert all(r["from"] == prev["to"] for prev, r in zip(rows, rows[1:]))
    assert reg.aliases(NAME) == {"production": rows[-1]["to"]}


def test_busy_lock_message_names_the_registry_command(reg: Registry):
    add_version(reg)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with reg.lock(NAME, {"command": "models prune"}):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(60)
    try:
        for attempt in (
            lambda: reg.remove(NAME, 1),
            lambda: reg.rollback(NAME),
            lambda: reg.prune(NAME, keep=1),
        ):
            busy = r"`mltrain models prune` \(pid \d+\); wait for it or pass --wait"
            with pytest.raises(LockBusyError, match=busy):
                attempt()
        assert reg.prune(NAME, keep=1, dry_run=True) == ([], [1])  # a dry run only reads
    finally:
        release.set()
        holder.join(60)
