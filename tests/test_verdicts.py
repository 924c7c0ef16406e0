"""Verdict lines call a gain a win only when the evidence says so (the issue 11 audit): DM p for volatility,
the bootstrap interval above the rule for the regime detector."""

from __future__ import annotations

from mltrain.kinds.volatility_eval import verdict_lines


def summary(model_q: float, best_q: float, p: float) -> dict:
    return {
        "BTC": {
            "best_log_har": "log_har_bc",
            "scores": {"model": {"qlike": model_q}, "log_har_bc": {"qlike": best_q}},
            "ratio_to_best_log_har": round(model_q / best_q, 4),
            "dm": {"log_har_bc": {"p_value": p}},
            "mcs": {"included": ["model", "log_har_bc"]},
            "days": 100,
            "folds": 2,
            "first": "2025-01-01",
            "last": "2025-04-10",
        }
    }


def test_a_lower_qlike_without_evidence_is_not_called_a_win():
    (line,) = verdict_lines(summary(0.3024, 0.3033, 0.90))
    text = "ties (QLIKE lower, not significant) the best log-HAR variant, log_har_bc"
    assert text in line and "ratio 0.997" in line


def test_a_significant_gain_and_any_loss_are_said_plainly():
    # the sentence names what it compares with: the best log-HAR variant (the headline's best baseline is
    # the best of all of them, which may be another)
    variant = "the best log-HAR variant, log_har_bc"
    assert f"model QLIKE 0.2800 beats {variant}" in verdict_lines(summary(0.28, 0.30, 0.01))[0]
    # a higher QLIKE the test cannot tell from chance is a tie, as the headline says ("tie, worse"); it read
    # "LOSES TO (not significant)", a loss in capitals
    assert f"ties (QLIKE higher, not significant) {variant}" in verdict_lines(summary(0.31, 0.30, 0.4))[0]
    assert f"LOSES TO {variant}" in verdict_lines(summary(0.36, 0.30, 0.001))[0]


def regime_summary(model_ba: float, low: float, rule_ba: float) -> dict:
    def det(ba: float, lo: float) -> dict:
        return {
            "balanced_accuracy": ba,
            "ci_low": lo,
            "ci_high": ba + 0.05,
            "recall": {"Bear": 0.5, "Correction": 0.4, "Bull": 0.6, "Expansion": 0.7},
            "missed": 1,
            "regime_starts": 4,
            "mean_lag_miss_as_run_days": 10.0,
        }

    return {
        "BTC": {
            "detectors": {"model": det(model_ba, low), "rule": det(rule_ba, rule_ba - 0.05)},
            "days": 9,
            "folds": 1,
        }
    }


def test_regime_verdict_needs_the_interval_above_the_rule_to_say_beats():
    from mltrain.kinds.regime_eval import verdict_lines as regime_lines

    assert "] beats the rule's" in regime_lines(regime_summary(0.70, 0.66, 0.60))[0]
    assert "is above (within its interval" in regime_lines(regime_summary(0.636, 0.570, 0.629))[0]
    assert "does NOT beat" in regime_lines(regime_summary(0.50, 0.45, 0.70))[0]


def test_regime_verdict_carries_the_paired_difference_and_reads_it():
    from mltrain.kinds.regime_eval import verdict_lines as regime_lines

    paired = regime_summary(0.483, 0.424, 0.432)
    paired["BTC"]["model_minus_rule"] = {"difference": 0.051, "ci_low": 0.017, "ci_high": 0.081, "level": 0.9}
    line = regime_lines(paired)[0]
    assert "is above (paired interval above 0; its own interval does not clear" in line
    assert line.endswith("; model minus rule +0.051 [paired 90% +0.017, +0.081]")
    straddling = regime_summary(0.383, 0.340, 0.340)
    straddling["BTC"]["model_minus_rule"] = {"difference": 0.043, "ci_low": -0.005, "ci_high": 0.087}
    assert "is above (within its interval, not shown to beat)" in regime_lines(straddling)[0]
    # a summary recorded before the paired interval existed still reads
    assert "model minus rule" not in regime_lines(regime_summary(0.636, 0.570, 0.629))[0]


def test_a_network_that_learnt_from_a_few_rows_is_named_under_the_table():
    """A synthetic market is one series: its network can learn from a few dozen rows, and the score says little."""
    from mltrain.kinds.regime_eval import headline_table

    tiny = regime_summary(0.072, 0.0, 0.176)
    tiny["BTC"]["fewest_training_rows"] = 29
    notes = headline_table(tiny)[2]
    assert any("the network learnt from as few as BTC 29 rows in a fold" in n for n in notes)
    pooled = regime_summary(0.636, 0.570, 0.629)
    pooled["BTC"]["fewest_training_rows"] = 9000
    assert not any("as few as" in n for n in headline_table(pooled)[2])
    assert not any("as few as" in n for n in headline_table(regime_summary(0.636, 0.570, 0.629))[2])


def test_a_lag_with_no_regime_start_reads_as_such():
    """'lag counting misses None vs None days' was printed for blocks where no regime started."""
    from mltrain.kinds.regime_eval import verdict_lines as regime_lines

    summary = regime_summary(0.70, 0.66, 0.60)
    assert "lag counting misses 10.0 days vs 10.0 days;" in regime_lines(summary)[0]
    for who in ("model", "rule"):
        summary["BTC"]["detectors"][who]["mean_lag_miss_as_run_days"] = None
    line = regime_lines(summary)[0]
    assert "None" not in line and "lag counting misses n/a (no regime start) vs n/a (no regime start)" in line


def test_a_pooled_sample_of_one_regime_gets_no_verdict():
    """evaluate ranked detectors on days that were all Bear ('0.944 [0.889, 1.000] ... beats'): balanced
    accuracy there is Bear recall alone, which the promotion check already refuses to rank on."""
    from mltrain.kinds.regime_eval import headline_table
    from mltrain.kinds.regime_eval import verdict_lines as regime_lines

    summary = regime_summary(0.944, 0.889, 0.30)
    for who in ("model", "rule"):
        summary["BTC"]["detectors"][who]["recall"] = {
            "Bear": 0.9,
            "Correction": None,
            "Bull": None,
            "Expansion": None,
        }
    _, rows, notes = headline_table(summary)
    assert rows[0][-1] == "n/a" and any("every scored day is Bear" in n for n in notes)
    assert "cannot be ranked (every scored day is Bear)" in regime_lines(summary)[0]
    assert headline_table(regime_summary(0.70, 0.66, 0.60))[1][0][-1] == "beats"


def test_a_dm_verdict_needs_enough_independent_targets():
    """18 pooled days (about 2 independent 7-day targets) read 'DM p 0.0203, LOSES'."""
    from mltrain.kinds.volatility_eval import headline_table

    short = summary(0.36, 0.30, 0.001)
    short["BTC"]["days"] = 18
    short["BTC"]["dm"]["log_har_bc"]["p_value"] = 0.0203
    _, rows, notes = headline_table(short)
    assert rows[0][-1] == "n/a" and any("too few days for the DM test" in n and "BTC 18" in n for n in notes)
    assert "is not tested (too few days for the DM test) against" in verdict_lines(short)[0]
    assert headline_table(summary(0.36, 0.30, 0.001))[1][0][-1] == "LOSES"  # 100 days: tested
