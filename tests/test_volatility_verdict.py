"""The volatility verdict line says a lower QLIKE is a win only when the DM test says so (issue 11 audit)."""

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
    assert "beats (not significant) log_har_bc" in line and "ratio 0.997" in line


def test_a_significant_gain_and_any_loss_are_said_plainly():
    assert "model QLIKE 0.2800 beats log_har_bc" in verdict_lines(summary(0.28, 0.30, 0.01))[0]
    assert "LOSES TO (not significant) log_har_bc" in verdict_lines(summary(0.31, 0.30, 0.4))[0]
    assert "LOSES TO log_har_bc" in verdict_lines(summary(0.36, 0.30, 0.001))[0]
