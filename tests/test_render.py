"""JSON envelopes are always valid JSON (issue 15 item 13)."""

import json
import math

import pytest

from mltrain import render
from mltrain.errors import ExitCode, MltrainError


def test_envelope_is_strict_json():
    text = render.envelope({"metrics": {"r2": 0.5}, "rows": [1, 2.5]})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}")) == {
        "ok": True,
        "data": {"metrics": {"r2": 0.5}, "rows": [1, 2.5]},
    }


@pytest.mark.parametrize(
    "bad, where",
    [(math.nan, "data.metrics.r2"), (math.inf, "data.metrics.r2"), (-math.inf, "data.metrics.r2")],
)
def test_non_finite_value_fails_naming_its_key_instead_of_printing_invalid_json(bad: float, where: str):
    with pytest.raises(MltrainError, match=rf"{where} is -?(nan|inf)") as info:
        render.envelope({"metrics": {"r2": bad}})
    assert info.value.exit_code == ExitCode.FAILURE
    with pytest.raises(MltrainError, match=r"data.predictions\[1\].forecast is nan"):
        render.envelope({"predictions": [{"forecast": 1.0}, {"forecast": math.nan}]})
