"""Champion/challenger on the last walk-forward folds, the defaults end to end, the prediction log and
`models score`, and the cron recipe (issue 23)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from unittest.mock import ANY

import pandas as pd
import pytest

from mltrain import promotion
from mltrain.config import build_config, load_presets
from mltrain.data.store import DataStore
from mltrain.errors import ExitCode
from mltrain.kinds import KINDS
from mltrain.paths import Home
from mltrain.registry import Registry

from .conftest import run_cli

README = Path(__file__).resolve().parents[1] / "README.md"
TODAY = pd.Timestamp("2026-01-10")  # the fake exchange's candles run through the 9th
VOL = [
    "train",
    "volatility_forecaster",
    "--symbols",
    "BTC",
    "--days",
    "200",
    "--train-val-split",
    "0.75",
    "--promotion-folds",
    "2",
    "--yes",
]


def regime_folds(truths: list[list[int]], model: list[list[int]], rule: list[list[int]]) -> list[dict]:
    """Folds as RegimeKind.fold returns them (only the fields the promotion figures read)."""
    out, day = [], pd.Timestamp("2024-01-01")
    for t, m, r in zip(truths, model, rule):
        dates = [str((day + pd.Timedelta(days=i)).date()) for i in range(len(t))]
        day += pd.Timedelta(days=len(t))
        out.append({"predictions": {"BTC": {"dates": dates, "actual": t, "model": m, "rule": r}}})
    return out


def test_days_of_one_regime_never_decide_a_promotion():
    """A block holding only Bull days cannot rank detectors: the candidate is not promoted on it, whatever
    its score (the model equal to the truth here)."""
    bull = [[2] * 40, [2] * 40]
    config = build_config("regime", load_presets(Home(Path("/nonexistent")))["quick"], None, {}).config
    figures = KINDS["regime"].promotion_figures(regime_folds(bull, bull, [[1] * 40] * 2), None, config)
    assert figures["undecided"] and "Bull" in figures["undecided"]
    promote, reason = promotion.verdict(figures, has_production=False)
    assert not promote and reason.startswith("not promoted: every labelled day")
    # with several regimes in the pooled folds the same rule decides
    mixed = [[2] * 20 + [0] * 20, [1] * 20 + [3] * 20]
    figures = KINDS["regime"].promotion_figures(regime_folds(mixed, mixed, mixed), None, config)
    assert figures["undecided"] is None and figures["gate"]["passed"]


def test_the_regime_gate_passes_a_tie_with_the_rule_and_refuses_a_detector_worse_beyond_noise():
    """A detector as good as the rule passes (a strict >= refused a tie half the time); one whose paired
    interval against the rule lies below 0 is refused, the interval named in the reason."""
    config = build_config("regime", load_presets(Home(Path("/nonexistent")))["quick"], None, {}).config
    truth = [[2] * 60 + [1] * 60, [3] * 60 + [2] * 60]
    rule = [[2] * 55 + [1] * 65, [3] * 60 + [2] * 60]
    tie = [[2] * 60 + [1] * 55 + [2] * 5, [3] * 60 + [2] * 60]  # a few days off the rule, each way
    figures = KINDS["regime"].promotion_figures(regime_folds(truth, tie, rule), None, config)
    versus = figures["gate"]["candidate_minus_rule"]
    assert figures["candidate"]["balanced_accuracy"] < figures["baselines"]["rule"]["balanced_accuracy"]
    assert versus["ci_low"] < 0 <= versus["ci_high"] and figures["gate"]["passed"]
    assert promotion.verdict(figures, has_production=False)[0]
    worse = [[0] * 120, [0] * 60 + [2] * 60]  # Bear on every Bull, Correction and Expansion day but 60
    figures = KINDS["regime"].promotion_figures(regime_folds(truth, worse, rule), None, config)
    assert not figures["gate"]["passed"] and figures["gate"]["candidate_minus_rule"]["ci_high"] < 0
    promote, reason = promotion.verdict(figures, has_production=False)
    assert not promote and "paired 90% interval of the difference [" in reason


def test_the_regime_gate_reads_the_pooled_folds_not_the_one_regime_validation_block(home: Path):
    """Issue 23: train's validation block held only Bull days and the model equalled the rule there; the
    decision must come from the promotion folds (several regimes), the block's verdict kept beside it."""
    args = ["train", "btc_regime_detector", "--preset", "quick", "--days", "730", "--epochs", "10"]
    args += ["--symbols", "ETH"]  # a pool of two series: the gate's basis, not the pool, is under test
    out = run_cli([*args, "--patience", "5", "--promotion-folds", "2", "--yes", "--json"], expect=(0, 3))
    version = out.json["data"]["version"]
    meta = run_cli(["models", "show", "btc_regime_detector", str(version), "--json"]).json["data"]
    gate, evidence = meta["gate"], meta["promotion"]
    assert gate["basis"] == "promotion folds" and len(gate["regimes_in_validation"]) >= 2
    assert gate["value"] == evidence["candidate"]["balanced_accuracy"]
    assert "validation_block" in gate  # the one block's verdict, kept for reference, decides nothing
    assert len(evidence["folds"]) == 2 and evidence["reason"]
    assert set(evidence) >= {"folds", "candidate", "production", "baselines", "decision", "reason"}
    bear_out = evidence["decision"]["BTC"]  # the decision layer's figures (decision.py), as evaluate's
    assert {"model", "rule", "buy_and_hold"} <= set(bear_out["rows"])
    assert "max_drawdown" in bear_out["rows"]["model"] and "sharpe" in bear_out["rows"]["model"]
    text = run_cli(["models", "show", "btc_regime_detector", str(version)]).stdout
    assert "promotion: " in text and "folds: " in text


def test_a_worse_candidate_never_replaces_a_better_production_model(home: Path):
    """Production first; then a candidate whose fold forecasts are worse (its folds, scored by the real code
    and cached, get each day's error made 1.3 times as large): saved as a candidate, production unchanged,
    exit 3, the reason and the figures in its metadata."""
    first = run_cli([*VOL, "--json"]).json["data"]
    assert first["promoted"]
    reg = Registry(Home(home))
    # the candidate: another config (--days 210, a gate it passes), its folds scored now, made worse in the cache
    args = [*VOL[:5], "210", *VOL[6:], "--min-r2", "-1"]
    values = {"symbols": ["BTC"], "days": 210, "train_val_split": 0.75, "promotion_folds": 2, "min_r2": -1.0}
    config = build_config("volatility", load_presets(Home(home))["full"], None, values).config
    store, kind, name = DataStore(Home(home)), KINDS["volatility"], "volatility_forecaster"
    for end in promotion.anchored_ends(store, kind, name, config, 2):
        fold = promotion.scored_fold(Home(home), store, kind, name, config, 42, end, 2)
        pred = fold["predictions"]["BTC"]
        pred["model"] = [m + 0.3 * (m - a) for m, a in zip(pred["model"], pred["actual"])]
        promotion.cache_path(Home(home), store, kind, name, config, 42, end).write_text(json.dumps(fold))
    out = run_cli([*args, "--json"], expect=ExitCode.NOT_PROMOTED)
    data = out.json["data"]
    assert not data["promoted"] and data["status"] == "completed", out.stderr
    assert reg.aliases("volatility_forecaster")["production"] == first["version"]
    assert "worse than production beyond noise" in out.stderr
    meta = reg.meta("volatility_forecaster", data["version"])
    assert meta["initial_status"] == "candidate" and meta["promotion"]["worse_than_production"]
    assert meta["promotion"]["production_version"] == first["version"]
    text = run_cli(["train", *args[1:]], expect=ExitCode.NOT_PROMOTED).stdout
    assert "saved as a candidate (not promoted); production unchanged" in text


def test_the_same_run_again_ties_production_and_reads_its_folds_from_the_cache(home: Path):
    run_cli(VOL)
    cache = Path(home) / "cache" / "promotion"
    before = {p: p.stat().st_mtime for p in cache.glob("*.json")}
    # the dry run counts production's scorings once when they are the candidate's (same config and seed)...
    plan = run_cli([*VOL, "--dry-run", "--json"]).json["data"]["promotion_check"]
    assert plan == {"folds": 2, "scorings": 2, "folds_to_score": 0, "expected_seconds": 0.0, "basis": ANY}
    assert "all 2 walk-forward folds are cached" in run_cli([*VOL, "--dry-run"]).stdout
    # ...and apart when production is rescored with its own config and seed: only the candidate's to score
    other = run_cli([*VOL, "--seed", "7", "--dry-run", "--json"]).json["data"]["promotion_check"]
    assert other["folds"] == 2 and other["scorings"] == 4 and other["folds_to_score"] == 2
    assert other["basis"].startswith("candidate: ") and "production" not in other["basis"]
    text = run_cli([*VOL, "--seed", "7", "--dry-run"]).stdout
    assert "2 walk-forward folds, scored for the candidate and for production: 2 of 4 (the rest are" in text
    out = run_cli([*VOL, "--json"])
    assert out.json["data"]["promoted"]
    assert {p: p.stat().st_mtime for p in cache.glob("*.json")} == before  # nothing was rescored
    meta = Registry(Home(home)).meta("volatility_forecaster", out.json["data"]["version"])
    assert meta["promotion"]["production"]["BTC"]["dm_candidate_vs_production"]["p_value"] == 1.0


def test_no_promote_headline_says_candidate_when_the_gate_passed(home: Path):
    out = run_cli([*VOL, "--no-promote"])
    assert "saved as a candidate (not promoted)" in out.stdout and "gate failed" not in out.stdout
    # the version's record says the same: models show read "promotion: promoted: ..." for a candidate
    evidence = run_cli(["models", "show", "volatility_forecaster", "1", "--json"]).json["data"]["promotion"]
    assert evidence["promote"] is False and evidence["reason"].startswith(
        "not promoted: --no-promote kept it"
    )
    shown = " ".join(run_cli(["models", "show", "volatility_forecaster", "1"]).stdout.split())
    assert "promotion: not promoted: --no-promote" in shown and "promotion: promoted" not in shown


def test_models_score_scores_logged_forecasts_once_their_outcome_is_known(home: Path, tmp_path: Path):
    from .test_update import extended

    run_cli(VOL)
    score = run_cli(["models", "score", "volatility_forecaster", "--json"]).json["data"]
    assert score["logged"] == 0 and score["scored"] == 0
    newer = extended("BTC", pd.Timestamp("2026-02-03"))
    path = tmp_path / "btc.csv"
    newer.loc["2026-01-06":].to_csv(path, index_label="date")
    run_cli(["data", "import", path, "--symbol", "BTC", "--merge"])
    run_cli(["predict", "volatility_forecaster", "--since", "2026-01-06"])
    log = Path(home) / "predictions" / "volatility_forecaster.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert rows and all(r["version"] == 1 and r["in_sample"] is False for r in rows)
    out = run_cli(["models", "score", "volatility_forecaster", "--json"])
    data = out.json["data"]
    assert data["scored"] == len(rows) - 7 and data["pending"] == 7  # the last 7 days' outcome is not known
    assert set(data["symbols"]["BTC"]["qlike"]) == {"model", "persistence", "ewma"}
    # the text accounts for every line of the log: here a second predict repeats the last day
    run_cli(["predict", "volatility_forecaster"])
    again = run_cli(["models", "score", "volatility_forecaster", "--json"]).json["data"]
    assert again["log_lines"] == len(rows) + 1 and again["logged"] == data["logged"]
    text = " ".join(run_cli(["models", "score", "volatility_forecaster"]).stdout.split())
    assert "not counted: 0 in-sample replayed, 1 from other versions or repeating a symbol's day" in text
    btc = again["symbols"]["BTC"]
    assert f"BTC {btc['first']}..{btc['last']} ({btc['scored']} days): QLIKE" in text
    # too few days for the test: it says why there is no p-value instead of a bare n/a
    log.write_text("".join(json.dumps(r) + "\n" for r in rows[:5]))
    few = run_cli(["models", "score", "volatility_forecaster", "--json"]).json["data"]["symbols"]["BTC"]
    assert few["dm_model_vs_best"] is None and few["dm_untested"] == "under 10 scored days"
    text = " ".join(run_cli(["models", "score", "volatility_forecaster"]).stdout.split())
    assert "(5 days): QLIKE" in text and ": n/a, under 10 scored days)" in text
    # forecasts far off the outcome: production loses to the baselines beyond noise, exit 4 for cron
    log.write_text(
        "\n".join(
            json.dumps({**r, "forecast_annualized_vol": 5 * r["forecast_annualized_vol"]}) for r in rows
        )
        + "\n"
    )
    alert = run_cli(["models", "score", "volatility_forecaster"], expect=ExitCode.WORSE_THAN_BASELINE)
    assert "ALERT" in alert.stdout


def cron_commands() -> list[list[str]]:
    """The mltrain commands of the README's crontab lines, in order."""
    section = (
        README.read_text().split("## Cron: fresh candles, retrain, monitor\n", 1)[1].split("\n## ", 1)[0]
    )
    found = []
    for line in section.splitlines():
        if line.startswith("    ") and "mltrain" in line:
            for part in re.findall(r"\.venv/bin/mltrain ([^>;&]+)", line):
                found.append(shlex.split(part))
    return found


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_each_cron_line_logs_the_exit_code_its_commands_returned(tmp_path: Path, shell: str):
    """The README's crontab lines as a shell runs them, with `mltrain` a script that exits with a chosen code:
    the exit log must say that code (under bash, `exit $?` after a `$(date)` in the same echo logged 0)."""
    import os
    import shutil
    import subprocess

    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    section = (
        README.read_text().split("## Cron: fresh candles, retrain, monitor\n", 1)[1].split("\n## ", 1)[0]
    )
    lines = [line.strip() for line in section.splitlines() if re.match(r"    \d+ \d+ \* \* \* ", line)]
    assert len(lines) == 2
    fake = tmp_path / "mltrain"
    fake.write_text('#!/bin/sh\nexit "$FAKE_EXIT"\n')
    fake.chmod(0o755)
    for line in lines:
        command = line.split(None, 5)[5].replace("\\%", "%")  # cron hands the rest of the line to the shell
        command = command.replace("/srv/mltrain/.venv/bin/mltrain", str(fake))
        command = command.replace("/var/log/mltrain", str(tmp_path))
        for code in (0, 1, 3):
            subprocess.run([shell, "-c", command], env={**os.environ, "FAKE_EXIT": str(code)}, check=False)
            last = (tmp_path / "exit.log").read_text().splitlines()[-1]
            assert last.endswith(f" exit {code}"), (shell, line, last)


@pytest.mark.slow  # the recipe as written: the full preset and its four promotion folds (cached the second time)
def test_the_readme_cron_recipe_runs_twice_in_a_row_with_exit_0(home: Path):
    pytest.importorskip("ccxt", reason="`--update-data` needs the optional ccxt package (mltrain[fetch])")
    from .fake_exchange import FakeExchange
    from .test_update import extended

    commands = cron_commands()
    assert [c[:2] for c in commands] == [
        ["train", "volatility_forecaster"],
        ["predict", "volatility_forecaster"],
        ["models", "score"],
    ]
    served = {f"{s}USDT": extended(s, TODAY, seed=i) for i, s in enumerate(("BTC", "ETH", "SOL"), start=3)}
    with FakeExchange(served) as fx:
        for _ in range(2):
            for args in commands:
                extra = ["--api-url", fx.url] if args[0] == "train" else []
                out = run_cli([*args, *extra], today=TODAY)
                assert out.json["ok"]
    listed = run_cli(["models", "list", "--json"], today=TODAY).json["data"]
    vol = next(r for r in listed if r["model_name"] == "volatility_forecaster")
    # the README's advice: 7 days before the newest candle (2026-01-09)
    assert vol["last_data_date"] == "2026-01-02" and vol["production_version"] == 2


def test_a_failed_update_data_leaves_a_failed_job_record(home: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("ccxt", reason="`--update-data` needs the optional ccxt package (mltrain[fetch])")
    # a refused port is retried after 2, 8 and 30 s; a 1 s run deadline ends it after the first try
    monkeypatch.setenv("MLTRAIN_FETCH_RUN_SECONDS", "1")
    out = run_cli(
        [*VOL, "--update-data", "--api-url", "http://127.0.0.1:9/"],
        expect=ExitCode.FAILURE,
    )
    assert out.stderr
    jobs = run_cli(["jobs", "list", "--status", "failed", "--json"]).json["data"]
    assert len(jobs) == 1 and "--update-data" in jobs[0]["error"]
    job = run_cli(["jobs", "show", jobs[0]["job_id"], "--json"]).json["data"]
    # created when the run began, not when its download gave up
    assert job["created_at"] == job["started_at"] <= job["finished_at"]


def test_the_fold_cache_key_covers_every_candle_a_fold_can_read_and_no_later_one(home: Path, tmp_path: Path):
    """A promotion fold's cached result is found again only while every candle up to its reach is unchanged:
    one day's prices moved by a few cents before `through` change the fingerprint; candles after it do not."""
    through, prices = pd.Timestamp("2025-06-30"), ["open", "high", "low", "close"]
    frame = DataStore(Home(home)).load("ETH").frame

    def imported(changed: pd.DataFrame, name: str) -> str:
        path = tmp_path / f"ETH-{name}.csv"
        changed.to_csv(path, index_label="timestamp")
        run_cli(["data", "import", path, "--symbol", "ETH", "--replace"])
        return promotion.data_fingerprint(DataStore(Home(home)), through)

    before = imported(frame, "same")  # through the import path, as the variants below
    assert (
        promotion.data_fingerprint(DataStore(Home(home)), through) == before
    )  # the same candles, the same key
    later = frame.copy()
    later.loc[later.index > through, prices] *= 1.5  # after the fold's reach
    assert imported(later, "later") == before
    moved = frame.copy()
    moved.loc[pd.Timestamp("2021-03-01"), prices] *= 1.000001
    assert imported(moved, "moved") != before


def test_folds_without_a_bear_day_reach_back_until_every_regime_is_in_the_evidence(home: Path):
    """The full preset's last 4 promotion folds on the embedded BTC (2023-12-20..2025-07-25) hold no Bear day:
    judged on them alone, a detector's Bear calls could only be false alarms. The check reaches back one older
    fold at a time until each regime has `promotion_regime_days` (30) labelled days, and no further; 0 keeps
    the last 4; the time estimate counts the folds the check will train, and the output says why."""
    import io

    from mltrain.cli import render

    at, kind, name = Home(home), KINDS["regime"], "btc_regime_detector"
    store, presets = DataStore(at), load_presets(at)
    config = build_config("regime", presets["full"], None, {}).config
    truth = kind.promotion_classes(store, name, config)[0]

    def bear_days(ends: list) -> int:
        step = pd.Timedelta(days=146)  # the full preset's validation block: 730 days x (1 - 0.8)
        return sum(
            int(((truth.index > e - step) & (truth.index <= e) & (truth == "Bear")).sum()) for e in ends
        )

    last4 = promotion.anchored_ends(store, kind, name, config, 4)
    ends, reach = promotion.promotion_ends(store, kind, name, config)
    assert bear_days(last4) == 0 and ends[-4:] == last4 and len(ends) > 4
    assert bear_days(ends) >= 30 and bear_days(ends[1:]) < 30  # reached back as far as needed, no further
    assert f"reached back to {len(ends)} folds" in reach and "Bear" in reach
    plain = build_config("regime", presets["full"], None, {"promotion_regime_days": 0}).config
    assert promotion.promotion_ends(store, kind, name, plain) == (last4, None)
    # 18-day blocks: the last bear market lies some 70 folds back; the check looks at 20 at most and says so
    short = build_config("regime", presets["full"], None, {"days": 90}).config
    ends_short, reach_short = promotion.promotion_ends(store, kind, name, short)
    assert len(ends_short) <= 20 and "(the most the check scores)" in reach_short and "Bear" in reach_short
    assert promotion.pending_folds(at, kind, name, config, 42, None) == (
        [(config, len(ends))],
        len(ends),
        len(ends),
    )
    windows = [{"first": "2022-05-15", "last": "2022-10-07"}, {"first": "2022-10-08", "last": "2023-03-02"}]
    out = io.StringIO()
    render.promotion(
        {"model_type": "regime", "promotion": {"reason": "r", "folds": windows, "reach": reach}}, out
    )
    assert "2022-05-15..2023-03-02 (2 adjacent folds)" in out.getvalue() and "reached back" in out.getvalue()


def test_the_check_line_counts_folds_and_scorings_in_words():
    """Each case of the line train and its dry run print before the check (promotion_view.py)."""
    from mltrain.cli.promotion_view import promotion_check_line as line

    def check(folds, scorings, todo, seconds=12.0):
        return {"folds": folds, "scorings": scorings, "folds_to_score": todo, "expected_seconds": seconds}

    assert line(check(1, 1, 0, 0.0)) == "promotion check: its walk-forward fold is cached"
    assert line(check(4, 8, 0, 0.0)) == "promotion check: all 4 walk-forward folds are cached"
    assert line(check(1, 1, 1)) == "promotion check: 1 walk-forward fold to score, about 12 s more"
    assert line(check(4, 4, 1)) == (
        "promotion check: 1 of 4 walk-forward folds to score (the rest are cached), about 12 s more"
    )
    assert line(check(4, 8, 8)) == (
        "promotion check: 4 walk-forward folds, scored for the candidate and for production: all 8 to score, "
        "about 12 s more"
    )


def test_a_production_config_edited_by_hand_is_named_in_one_line(home: Path):
    """A metadata edited to days: "abc" made the next train print pydantic's page of errors with its URL."""
    from mltrain.config import seed_defaults
    from mltrain.errors import ConfigError

    config = {**seed_defaults(KINDS["regime"]), "days": "abc"}
    with pytest.raises(ConfigError) as caught:
        promotion.production_config({"config": config, "seed": 42})
    text = str(caught.value)
    assert (
        text.startswith("its stored config has days='abc': ") and "\n" not in text and "pydantic" not in text
    )
    # and it never stops the next train (it did: the estimate let the error out before any training); the
    # estimate leaves production out, and the check says why
    fresh = build_config("regime", load_presets(Home(home))["quick"], None, {}).config
    pending, windows, _ = promotion.pending_folds(
        Home(home), KINDS["regime"], "btc_regime_detector", fresh, 42, {"config": config}
    )
    assert len(pending) == 1 and windows > 0
    # a stored seed of null (a TypeError once) is named the same way and leaves production out too
    with pytest.raises(ConfigError, match="its stored seed None is not a whole number"):
        promotion.production_config({"config": seed_defaults(KINDS["regime"]), "seed": None})
    assert promotion.production_config({"config": seed_defaults(KINDS["regime"]), "seed": 42.0})[1] == 42
    fine = {"config": seed_defaults(KINDS["regime"]), "seed": None}
    assert (
        len(promotion.pending_folds(Home(home), KINDS["regime"], "btc_regime_detector", fresh, 42, fine)[0])
        == 1
    )


def test_models_list_puts_the_baseline_beside_the_pooled_headline():
    """'balanced_accuracy 0.8472 over 4 promotion folds' stood alone, where the rule had scored the same."""
    evidence = {
        "candidate": {"balanced_accuracy": 0.8472},
        "baselines": {"rule": {"balanced_accuracy": 0.8472}},
    }
    assert KINDS["regime"].pooled_baseline(evidence) == {
        "symbol": None,
        "baseline": "rule",
        "metric": None,
        "value": 0.8472,
    }
    assert KINDS["regime"].pooled_baseline({"candidate": {}}) is None
    # volatility: the best baseline by r2 on the lowest symbol, not promotion.best_baseline (best by QLIKE)
    vol = {
        "candidate": {"BTC": {"r2": 0.1}, "SOL": {"r2": -0.4}},
        "baselines": {"ewma": {"SOL": {"r2": 0.11}}, "gjr_garch": {"SOL": {"r2": 0.21}, "BTC": {"r2": 0.5}}},
        "best_baseline": {"SOL": {"name": "ewma", "r2": 0.11}},
    }
    best = {"symbol": "SOL", "baseline": "gjr_garch", "metric": "r2", "value": 0.21}
    assert KINDS["volatility"].pooled_baseline(vol) == best
