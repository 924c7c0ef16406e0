from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mltrain.config import TrainingConfig, build_config, get_preset, load_presets, load_yaml_mapping
from mltrain.errors import ConfigError
from mltrain.kinds import KINDS
from mltrain.paths import Home, resolve_home

from .conftest import run_cli

BOUNDS = {
    "days": (90, 1825),
    "epochs": (10, 500),
    "patience": (5, 50),
    "batch_size": (8, 256),
    "learning_rate": (0.0001, 0.1),
    "train_val_split": (0.6, 0.9),
    "hidden_size": (32, 256),
    "min_r2": (-1.0, 1.0),
}
INT_FIELDS = {"days", "epochs", "patience", "batch_size", "hidden_size"}


# the seed document `defaults --json` returns: a contract scripts read (issue 23)
SEED = {
    "btc_regime_detector": dict(
        days=730,
        epochs=100,
        patience=15,
        batch_size=32,
        learning_rate=0.001,
        train_val_split=0.8,
        hidden_size=None,
        min_r2=None,
        symbols=None,
    ),
    "volatility_forecaster": dict(
        days=365,
        epochs=100,
        patience=15,
        batch_size=32,
        learning_rate=0.001,
        train_val_split=0.8,
        hidden_size=64,
        min_r2=0.5,
        symbols=["BTC", "ETH", "SOL"],
    ),
}


@pytest.mark.parametrize("model", list(SEED))
def test_defaults_json_is_exactly_the_seed_document(model):
    data = run_cli(["defaults", model, "--json"]).json["data"]
    assert data["config"] == SEED[model]
    assert list(data["config"]) == list(SEED[model])  # the keys in the seed's order
    every = run_cli(["defaults", model, "--json", "--all"]).json["data"]["config"]
    assert {k: v for k, v in every.items() if k in SEED[model]} == SEED[model]
    kind = "regime" if model.startswith("btc") else "volatility"
    assert set(every) - set(SEED[model]) == set(KINDS[kind].unlisted_defaults)
    assert set(KINDS[kind].uses) <= set(every)  # every field the type reads is listed (target_vol was not)
    text = run_cli(["defaults", model]).stdout
    assert all(extra in text for extra in set(every) - set(SEED[model]))


def test_builtin_presets_produce_what_they_produced_before_the_seed_defaults_came_back():
    presets = load_presets(resolve_home(None))
    full = {t: build_config(t, presets["full"], None, {}).config for t in ("regime", "volatility")}
    assert full["regime"].batch_size == 256 and full["regime"].encoder == "mlp"
    assert full["regime"].label_thresholds == "fixed" and full["regime"].pretrain_markets == 0
    vol = full["volatility"]
    assert (vol.days, vol.batch_size, vol.train_val_split, vol.hidden_size) == (730, 64, 0.9, 64)
    assert vol.min_r2 == -0.1  # the gate a forecaster as good as the best baseline passes
    for name in ("quick", "standard", "deep"):
        assert build_config("regime", presets[name], None, {}).config.batch_size == 256
        vol = build_config("volatility", presets[name], None, {}).config
        assert (vol.batch_size, vol.train_val_split, vol.min_r2) == (64, 0.9, -0.1)
    custom = build_config("volatility", presets["custom"], None, {}).config
    assert (custom.days, custom.batch_size, custom.min_r2) == (365, 32, 0.5)  # custom: the seed, 0.5 included


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
    eff = build_config(
        "volatility",
        get_preset("standard", presets),
        load_yaml_mapping(config_file, "config file"),
        {"epochs": 40},
    )
    assert eff.config.days == 400 and eff.config.epochs == 40 and eff.config.patience == 12
    assert eff.sources["days"] == f"config {config_file}:1"
    assert eff.sources["epochs"] == "flag --epochs"
    assert eff.sources["patience"].startswith("preset standard")
    assert eff.sources["learning_rate"] == "default"
    # a value from the preset's `volatility:` section names that section's line
    assert eff.sources["batch_size"] == f"preset standard ({get_preset('standard', presets).source}:8)"
    assert eff.has_custom_config


def test_a_config_file_takes_per_type_sections_as_a_preset_does(tmp_path: Path):
    """One file for both models: common fields, then the type's own section (the other type's is left to
    it); a section that is no model type, or a field that does not exist in one, is named with its line."""
    full = get_preset("full", load_presets(Home(tmp_path)))
    path = tmp_path / "both.yaml"
    path.write_text("epochs: 20\nregime:\n  batch_size: 256\nvolatility:\n  min_r2: -0.1\n  epochs: 30\n")
    doc = load_yaml_mapping(path, "config file")
    vol, reg = build_config("volatility", full, doc, {}), build_config("regime", full, doc, {})
    assert (vol.config.epochs, vol.config.min_r2, vol.config.batch_size) == (30, -0.1, 64)
    assert vol.sources["epochs"] == f"config {path}:6" and vol.sources["min_r2"] == f"config {path}:5"
    assert (reg.config.epochs, reg.config.batch_size, reg.config.min_r2) == (20, 256, None)
    assert reg.sources["epochs"] == f"config {path}:1" and reg.sources["batch_size"] == f"config {path}:3"
    for text, says in (
        ("regim:\n  epochs: 20\n", "section 'regim' in config"),
        ("volatility:\n  epoch: 20\n", "unknown field 'epoch' in section volatility of config"),
        ("regime: 5\n", "section regime of config"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            build_config("regime", full, load_yaml_mapping(path, "config file"), {})
        assert says in str(err.value) and "(line " in str(err.value)
        assert "Did you mean" in str(err.value) or "must be a mapping of fields" in str(err.value)


def test_full_preset_on_regime_is_not_custom(tmp_path: Path):
    eff = build_config("regime", get_preset("full", load_presets(Home(tmp_path))), None, {})
    assert not eff.has_custom_config


def test_volatility_field_on_regime_model_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="hidden_size is for volatility models only"):
        build_config("regime", get_preset("custom", load_presets(Home(tmp_path))), None, {"hidden_size": 64})


def test_null_is_refused_where_the_types_default_is_not_null(tmp_path: Path):
    """A volatility config file's `symbols: null` crashed (exit 1, internal error) and `min_r2: null` turned its
    gate off; a regime model's null hidden_size and min_r2 are its defaults and stay allowed."""
    preset = get_preset("full", load_presets(Home(tmp_path)))
    for text, field in (
        ("symbols: null\n", "symbols"),
        ("min_r2: ~\n", "min_r2"),
        ("epochs: null\n", "epochs"),
    ):
        path = tmp_path / f"{field}.yaml"
        path.write_text(text)
        with pytest.raises(
            ConfigError, match=f"{field}: null .*{path}:1.* not allowed for a volatility model"
        ):
            build_config("volatility", preset, load_yaml_mapping(path, "config file"), {})
    ok = tmp_path / "regime.yaml"
    ok.write_text("hidden_size: null\nmin_r2: null\n")
    assert build_config("regime", preset, load_yaml_mapping(ok, "config file"), {}).config.min_r2 is None
    run_cli(["train", "volatility_forecaster", "--config", tmp_path / "symbols.yaml", "--dry-run"], expect=2)


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
            return st.one_of(
                st.integers(max_value=lo - 1, min_value=-(10**6)),
                st.integers(min_value=hi + 1, max_value=10**6),
            )
        return st.one_of(
            st.floats(max_value=lo, exclude_max=True, min_value=-1e6),
            st.floats(min_value=hi, exclude_min=True, max_value=1e6),
        )

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


# ---------------------------------------------------------------- strictness (issue 15 items 11, 14, 15)


def _config(tmp_path: Path, text: str | bytes, model_type: str = "volatility"):
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return build_config(
        model_type,
        get_preset("custom", load_presets(Home(tmp_path))),
        load_yaml_mapping(path, "config file"),
        {},
    )


def test_yaml_alias_bomb_is_refused_before_expanding(tmp_path: Path):
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    rows += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    with pytest.raises(ConfigError, match=r"line 1: anchors and aliases"):
        _config(tmp_path, "\n".join(rows) + "\n")


def test_preset_with_an_alias_is_refused(tmp_path: Path):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "mine.yaml").write_text("description: x\ndays: &d 400\nepochs: *d\n")
    with pytest.raises(ConfigError, match="mine.yaml line 2: anchors and aliases"):
        load_presets(Home(tmp_path))


def test_duplicate_key_is_refused_with_both_lines(tmp_path: Path):
    with pytest.raises(
        ConfigError,
        match=r"duplicate key 'days' in config file .*c.yaml line 3 "
        r"\(already set on line 1\)",
    ):
        _config(tmp_path, "days: 365\nepochs: 30\ndays: 400\n")


@pytest.mark.parametrize(
    "text, field",
    [
        ('days: "90"\n', "days"),
        ("epochs: 20\ndays: true\n", "days"),
        ("days: 365.0\n", "days"),
        ("learning_rate: yes\n", "learning_rate"),
        ('symbols: "BTC"\n', "symbols"),
    ],
)
def test_values_of_the_wrong_type_are_not_coerced(tmp_path: Path, text: str, field: str):
    line = text.count("\n")
    with pytest.raises(ConfigError, match=rf"^{field}=.* \(from config .*c.yaml:{line}\) is invalid"):
        _config(tmp_path, text)


def test_ints_for_floats_and_exponent_floats_are_fine(tmp_path: Path):
    eff = _config(tmp_path, "min_r2: 1\nlearning_rate: 1e-3\nsymbols: [BTC, NO]\n")
    assert eff.config.min_r2 == 1.0 and eff.config.learning_rate == 0.001
    assert eff.config.symbols == ["BTC", "NO"]  # YAML 1.2 booleans: NO stays a symbol


def test_huge_rejected_value_is_echoed_as_a_short_excerpt(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, f"days: {'9' * 100_000}x\n")
    assert len(str(info.value)) < 300 and "..." in str(info.value)


def test_non_utf8_config_exits_2(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("description: caf\xe9\ndays: 400\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_yaml_mapping(path, "config file")
    result = run_cli(["train", "volatility_forecaster", "--dry-run", "--config", str(path)], expect=2)
    assert "not UTF-8" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("symbol", ["BTC\n", "ÉTH", "B TC", "X" * 21])
def test_symbols_are_matched_in_full(tmp_path: Path, symbol: str):
    with pytest.raises(ConfigError, match="symbols"):
        build_config(
            "volatility", get_preset("custom", load_presets(Home(tmp_path))), None, {"symbols": [symbol]}
        )


def test_integer_past_pythons_digit_limit_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="invalid value in config file"):
        _config(tmp_path, f"days: {'9' * 100_000}\n")


def test_correction_is_a_volatility_field_off_unless_set(tmp_path: Path):
    bad = run_cli(["train", "volatility_forecaster", "--correction", "maybe", "--yes"], expect=2)
    assert "correction='maybe'" in bad.stderr and "off or on" in bad.stderr and "Traceback" not in bad.stderr
    regime = run_cli(["evaluate", "btc_regime_detector", "--correction", "on"], expect=2)
    assert "correction is for volatility models only" in regime.stderr
    # `defaults --json` keeps the old API's shape; the text and a set value show the field
    assert "correction" not in run_cli(["defaults", "volatility_forecaster", "--json"]).json["data"]["config"]
    assert "correction" in run_cli(["defaults", "volatility_forecaster"]).stdout
    presets = load_presets(Home(tmp_path / "h"))
    for text, value in (
        ("correction: on\n", "on"),
        ("correction: off\n", "off"),
        ("correction: 'on'\n", "on"),
    ):
        file = tmp_path / "c.yaml"
        file.write_text(text)  # YAML 1.1 reads a bare on / off as a boolean
        loaded = load_yaml_mapping(file, "config file")
        config = build_config("volatility", get_preset("full", presets), loaded, {})
        assert config.config.correction == value and config.as_dict()["correction"] == value
    file.write_text("correction: 1\n")
    with pytest.raises(ConfigError, match="off or on"):
        build_config("volatility", get_preset("full", presets), load_yaml_mapping(file, "config file"), {})


def test_a_yaml_file_read_again_is_parsed_once_handed_out_as_a_copy_and_edits_are_seen(tmp_path, monkeypatch):
    from mltrain import yamlfile

    parses = []
    real = yamlfile._parse
    monkeypatch.setattr(yamlfile, "_parse", lambda *a: parses.append(1) or real(*a))
    monkeypatch.setattr(yamlfile, "_parsed", type(yamlfile._parsed)())
    path = tmp_path / "p.yaml"
    path.write_text("days: 365\nsymbols: [BTC]\n")
    first = yamlfile.load_yaml_mapping(path, "preset file")
    first.values["symbols"].append("ETH")  # the caller's copy
    again = yamlfile.load_yaml_mapping(path, "preset file")
    assert again.values == {"days": 365, "symbols": ["BTC"]} and again.lines == {"days": 1, "symbols": 2}
    assert len(parses) == 1
    path.write_text("days: 730\n")
    assert yamlfile.load_yaml_mapping(path, "preset file").values == {"days": 730} and len(parses) == 2
    path.write_text("- a list\n")  # refused every time: an error is never kept
    for _ in range(2):
        with pytest.raises(ConfigError, match="must be a mapping"):
            yamlfile.load_yaml_mapping(path, "preset file")
