from pathlib import Path

import pytest
from pydantic import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltrain.kinds import KINDS
from mltrain.config import (TrainingConfig, build_config, get_preset, load_presets, load_yaml_mapping)
from mltrain.errors import ConfigError
from mltrain.paths import Home

from .conftest import run_cli

BOUNDS = {"days": (90, 1825), "epochs": (10, 500), "patience": (5, 50), "batch_size": (8, 256),
          "learning_rate": (0.0001, 0.1), "train_val_split": (0.6, 0.9), "hidden_size": (32, 256),
          "min_r2": (0.0, 1.0)}
INT_FIELDS = {"days", "epochs", "patience", "batch_size", "hidden_size"}


def test_defaults_match_the_spec():
    assert TrainingConfig(**KINDS["regime"].defaults).days == 730
    vol = TrainingConfig(**KINDS["volatility"].defaults)
    assert (vol.days, vol.hidden_size, vol.min_r2, vol.symbols) == (365, 64, 0.5, ["BTC", "ETH", "SOL"])


def test_config_is_frozen_and_forbids_unknown_keys():
    config = TrainingConfig(**KINDS["regime"].defaults)
    with pytest.raises(ValidationError, match="frozen"):
        config.days = 100  # type: ignore[misc]
    with pytest.raises(ValidationError, match="dropout"):
        TrainingConfig(**KINDS["regime"].defaults, dropout=0.1)


def test_layering_defaults_preset_file_flags(tmp_path: Path):
    presets = load_presets(Home(tmp_path))
    config_file = tmp_path / "c.yaml"
    config_file.write_text("days: 400\nepochs: 30\n")
    eff = build_config("volatility", get_preset("standard", presets), load_yaml_mapping(config_file, "config file"),
                       {"epochs": 40})
    assert eff.config.days == 400 and eff.config.epochs == 40 and eff.config.patience == 12
    assert eff.sources["days"] == f"config {config_file}:1"
    assert eff.sources["epochs"] == "flag --epochs"
    assert eff.sources["patience"].startswith("preset standard")
    assert eff.sources["batch_size"] == "default"
    assert eff.has_custom_config


def test_full_preset_on_regime_is_not_custom(tmp_path: Path):
    eff = build_config("regime", get_preset("full", load_presets(Home(tmp_path))), None, {})
    assert not eff.has_custom_config


def test_volatility_field_on_regime_model_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="hidden_size is for volatility models only"):
        build_config("regime", get_preset("custom", load_presets(Home(tmp_path))), None, {"hidden_size": 64})


def test_yaml_python_tags_are_refused(tmp_path: Path):
    bad = tmp_path / "evil.yaml"
    bad.write_text("days: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="line 1"):
        load_yaml_mapping(bad, "config file")


def test_bad_symbols_are_refused(tmp_path: Path):
    presets = load_presets(Home(tmp_path))
    for symbols in (["btc"], ["BTC", "BTC"], []):
        with pytest.raises(ConfigError, match="symbols"):
            build_config("volatility", get_preset("custom", presets), None, {"symbols": symbols})


def _out_of_bounds():
    def values(name):
        lo, hi = BOUNDS[name]
        if name in INT_FIELDS:
            return st.one_of(st.integers(max_value=lo - 1, min_value=-10**6), st.integers(min_value=hi + 1, max_value=10**6))
        return st.one_of(st.floats(max_value=lo, exclude_max=True, min_value=-1e6),
                         st.floats(min_value=hi, exclude_min=True, max_value=1e6))
    return st.sampled_from(sorted(BOUNDS)).flatmap(lambda n: st.tuples(st.just(n), values(n)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_out_of_bounds(), via_file=st.booleans())
def test_any_out_of_bounds_value_exits_2_naming_the_field(case, via_file, tmp_path: Path):
    name, value = case
    args = ["train", "volatility_forecaster", "--dry-run"]
    if via_file:
        path = tmp_path / "bad.yaml"
        path.write_text(f"{name}: {value!r}\n")
        args += ["--config", str(path)]
    else:
        args += [f"--{name.replace('_', '-')}", str(value)]
    result = run_cli(args, expect=2)
    assert name in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert ("config" if via_file else "flag") in result.stderr
