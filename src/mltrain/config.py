"""TrainingConfig, model-type defaults, presets and the layering that records where each value came from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError, excerpt
from .paths import Home, builtin_presets_dir
from .specs import FIELDS, SPECS
from .textutil import SYMBOL_RE, suggest
from .yamlfile import YamlDoc, load_yaml_mapping

FIELD_ORDER = tuple(  # every config field, in the order outputs list them
    "days epochs patience batch_size learning_rate train_val_split hidden_size min_r2 symbols label_thresholds "
    "encoder pretrain_markets correction exposure cost_bps target_vol max_leverage promotion_folds "
    "promotion_regime_days".split()
)
LABEL_THRESHOLDS = ("fixed", "volatility_scaled")  # docs/regimes.md "Volatility-scaled thresholds"

ENCODERS = ("mlp", "gru")  # regime models: the network's input design
CORRECTIONS = ("off", "on")  # volatility models: whether the network's correction is applied
EXPOSURE_REGIMES = ("Bear", "Correction", "Bull", "Expansion")  # regime models: keys of `exposure`
EXPOSURE_MAX = 3.0  # the highest exposure a regime may map to (3x leverage)

DEFAULT_PRESET = "full"
CUSTOM_PRESET = "custom"


if TYPE_CHECKING:
    from pydantic import ValidationError

PROMOTION_FOLDS = 4  # promotion_folds when unset (kept out of `defaults --json`: a field added later)


@cache
def training_config() -> type:
    """The TrainingConfig model, built on first use: a config is validated by the commands that train,
    evaluate or estimate, while `--help`, `defaults` and completion never pay for importing pydantic."""
    from typing import Literal  # noqa: F401 - named by the string annotations pydantic resolves here

    from pydantic import BaseModel, ConfigDict, Field, field_validator

    def bounded(name: str, **extra: Any) -> Any:
        lo, hi, meaning = FIELDS[name]
        return Field(ge=lo, le=hi, description=meaning, **extra)

    class TrainingConfig(BaseModel):
        """Everything a training run can be told; validated once, then trusted."""

        # strict: "90" and true are not days; a float field still takes an int (learning_rate: 1 means 1.0)
        model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

        days: int = bounded("days")
        train_val_split: float = bounded("train_val_split")
        epochs: int = bounded("epochs")
        patience: int = bounded("patience")
        batch_size: int = bounded("batch_size")
        learning_rate: float = bounded("learning_rate")
        hidden_size: int | None = bounded("hidden_size", default=None)
        min_r2: float | None = bounded("min_r2", default=None)
        symbols: list[str] | None = Field(default=None, min_length=1, description=FIELDS["symbols"][2])
        label_thresholds: Literal["fixed", "volatility_scaled"] | None = Field(
            default=None, description=FIELDS["label_thresholds"][2]
        )
        encoder: Literal["mlp", "gru"] | None = Field(default=None, description=FIELDS["encoder"][2])
        pretrain_markets: int | None = bounded("pretrain_markets", default=None)
        correction: Literal["off", "on"] | None = Field(default=None, description=FIELDS["correction"][2])
        exposure: dict[str, float] | None = Field(default=None, description=FIELDS["exposure"][2])
        cost_bps: float | None = bounded("cost_bps", default=None)
        target_vol: float | None = bounded("target_vol", default=None)
        max_leverage: float | None = bounded("max_leverage", default=None)
        promotion_folds: int | None = bounded("promotion_folds", default=None)
        promotion_regime_days: int | None = bounded("promotion_regime_days", default=None)

        @field_validator("exposure")
        @classmethod
        def _exposure_per_regime(cls, value: dict[str, float] | None) -> dict[str, float] | None:
            if value is None:
                return value
            for key, level in value.items():
                if key not in EXPOSURE_REGIMES:
                    raise ValueError(f"{excerpt(key)} is not a regime")
                if not 0.0 <= level <= EXPOSURE_MAX:
                    raise ValueError(f"{key}: {level} is outside 0..{EXPOSURE_MAX}")
            # a regime left out keeps its default exposure
            return {r: float(value.get(r, 0.0 if r == "Bear" else 1.0)) for r in EXPOSURE_REGIMES}

        @field_validator("correction", mode="before")
        @classmethod
        def _yaml_on_off(cls, value: Any) -> Any:
            # YAML 1.1 reads a bare on / off as true / false: take them as the words they were
            return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

        @field_validator("symbols")
        @classmethod
        def _symbols_upper_unique(cls, value: list[str] | None) -> list[str] | None:
            if value is None:
                return value
            for symbol in value:
                if not SYMBOL_RE.fullmatch(symbol):
                    raise ValueError(
                        f"symbol {excerpt(symbol)} must be upper-case letters and digits, e.g. BTC"
                    )
            if len(set(value)) != len(value):
                raise ValueError("symbols must be unique")
            return value

    TrainingConfig.__module__, TrainingConfig.__qualname__ = __name__, "TrainingConfig"
    return TrainingConfig


def __getattr__(name: str) -> Any:
    """`from mltrain.config import TrainingConfig` builds the model then (module-level lazy attribute)."""
    if name == "TrainingConfig":
        return training_config()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def bounds_text(name: str) -> str:
    """The allowed range of a field, as users read it."""
    lo, hi, _ = FIELDS[name]
    if lo is not None and hi is not None:
        return f"{lo}..{hi}"
    if name == "symbols":
        return "a non-empty list of unique upper-case symbols, e.g. BTC,ETH"
    choices = {"label_thresholds": LABEL_THRESHOLDS, "encoder": ENCODERS, "correction": CORRECTIONS}
    if name in choices:
        return " or ".join(choices[name])
    if name == "exposure":
        return (
            f"a mapping of {', '.join(EXPOSURE_REGIMES)} to a number in 0..{EXPOSURE_MAX}, e.g. {{Bear: 0}} "
            "in YAML, Bear=0,Correction=0.5 as a flag"
        )
    return "see `mltrain defaults`"


# ---------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    values: dict[str, Any]  # fields for every model type
    lines: dict[str, int]
    source: Path | None  # None for the built-in "custom"
    # model type -> fields for that type only (a `regime:` or `volatility:` mapping in the file), layered
    # over `values`; what a type's defaults held before `defaults --json` went back to the seed values
    per_type: dict[str, dict[str, Any]] = field(default_factory=dict)
    replaces: Preset | None = None  # a user preset of a built-in's name: the built-in it replaces
    error: str | None = None  # a user preset file that cannot be read (load_presets(strict=False))

    def values_for(self, model_type: str) -> dict[str, Any]:
        """The fields this preset sets on a model of `model_type`."""
        return {**self.values, **self.per_type.get(model_type, {})}


PRESET_KEYS = set(FIELD_ORDER) | {"description"}


def _read_preset(path: Path) -> Preset:
    doc = load_yaml_mapping(path, "preset file")
    per_type: dict[str, dict[str, Any]] = {}
    for key, value in doc.values.items():
        if isinstance(value, dict) and key.isidentifier() and key not in PRESET_KEYS:
            # a model type's own section; the type's name is checked when a config is built for it
            per_type[key] = _section(key, value, f"preset file {path}", doc.lines)
        elif key not in PRESET_KEYS:
            if key in SPECS:
                raise _not_a_mapping(key, f"preset file {path}", doc.lines.get(key, "?"))
            raise ConfigError(
                f"unknown key {excerpt(key)} in preset file {path} line {doc.lines.get(key, '?')}; "
                f"allowed: {', '.join(sorted(PRESET_KEYS))} or a model type's section "
                f"(e.g. 'volatility:').{suggest(key, sorted(PRESET_KEYS))}"
            )
    values = {k: v for k, v in doc.values.items() if k != "description" and k not in per_type}
    return Preset(path.stem, str(doc.values.get("description", "")), values, doc.lines, path, per_type)


def _section(key: str, value: dict, where: str, lines: dict[str, int]) -> dict[str, Any]:
    """A model type's section of a preset or config file: its fields, each one a known field."""
    for name in map(str, value):
        if name not in FIELD_ORDER:
            raise ConfigError(
                f"unknown field {excerpt(name)} in section {key} of {where} (line "
                f"{lines.get(f'{key}.{name}', lines.get(key, '?'))}); allowed: {', '.join(FIELD_ORDER)}."
                f"{suggest(name, FIELD_ORDER)}"
            )
    return {str(k): v for k, v in value.items()}


def _not_a_mapping(section: str, where: str, line: int | str) -> ConfigError:
    return ConfigError(
        f"section {section} of {where} (line {line}) must be a mapping of fields, e.g. {section}: {{epochs: 50}}"
    )


def load_presets(home: Home, strict: bool = True) -> dict[str, Preset]:
    """Built-in presets, then user presets that add to or override them. A user preset file that cannot be
    read (a link, a FIFO, bad YAML, an unknown key) raises, or with `strict=False` stands in the result with
    its `error`: a command that does not use it goes on (get_preset raises when it is asked for)."""
    presets: dict[str, Preset] = {
        CUSTOM_PRESET: Preset(
            CUSTOM_PRESET, "the model type's defaults, changed only by flags or --config", {}, {}, None
        )
    }
    for folder in (builtin_presets_dir(), home.user_presets):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
                try:
                    preset = _read_user_preset(path) if folder == home.user_presets else _read_preset(path)
                except ConfigError as exc:
                    if strict:
                        raise
                    preset = Preset(path.stem, "", {}, {}, path, error=str(exc))
                if folder == home.user_presets and preset.name in presets:
                    preset = replace(preset, replaces=presets[preset.name])
                presets[preset.name] = preset
    return presets


def _read_user_preset(path: Path) -> Preset:
    if path.is_symlink():  # the home's rule: no link is followed
        raise ConfigError(
            f"preset {path} is a symbolic link; mltrain follows no link inside its home: copy the file there instead"
        )
    if not path.is_file():  # a FIFO (or a dangling link) there must not block every command
        raise ConfigError(f"preset {path} is not a plain file; remove it")
    return _read_preset(path)


def get_preset(name: str, presets: dict[str, Preset]) -> Preset:
    if name not in presets:
        usable = [n for n, p in presets.items() if p.error is None]
        raise ConfigError(
            f"unknown preset {excerpt(name)}; available: {', '.join(usable)}.{suggest(name, usable)}"
        )
    if presets[name].error:
        raise ConfigError(presets[name].error)
    return presets[name]


# ---------------------------------------------------------------- layering


@dataclass
class EffectiveConfig:
    """The validated config plus where each value came from."""

    config: Any  # a TrainingConfig (the class is built on first use: training_config())
    sources: dict[str, str]
    preset: str
    model_type: str
    has_custom_config: bool = field(default=False)

    def as_dict(self) -> dict[str, Any]:
        data = self.config.model_dump()
        # a field added later is left out by kinds that never use it; one a kind keeps out of its defaults
        # (the old API's shape) is shown once it is set
        shown = SPECS[self.model_type].defaults
        return {name: data[name] for name in FIELD_ORDER if name in shown or data[name] is not None}


def _raise_validation(exc: ValidationError, sources: dict[str, str], raw: dict[str, Any]) -> None:
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "config"
    if first["type"] == "extra_forbidden":
        raise ConfigError(
            f"unknown field {excerpt(name)} (from {sources.get(name, '?')}); "
            f"allowed: {', '.join(FIELD_ORDER)}.{suggest(name, FIELD_ORDER)}"
        )
    value = raw.get(name, first.get("input"))
    raise ConfigError(
        f"{name}={excerpt(value)} (from {sources.get(name, 'default')}) is invalid: "
        f"{first['msg']}; allowed: {bounds_text(name)}"
    )


def _config_layer(doc: YamlDoc, model_type: str) -> tuple[dict[str, Any], Any]:
    """A --config file's values for `model_type`: its common fields, then its `regime:` or `volatility:`
    section as a preset has them (one file can serve both types; another type's section is left to it)."""
    values: dict[str, Any] = {}
    section: dict[str, Any] = {}
    for key, value in doc.values.items():
        if key in SPECS:
            if not isinstance(value, dict):
                raise _not_a_mapping(key, f"config {doc.path}", doc.lines.get(key, "?"))
            fields = _section(key, value, f"config {doc.path}", doc.lines)
            section = fields if key == model_type else section
        elif isinstance(value, dict) and key not in FIELD_ORDER:
            raise ConfigError(
                f"section {excerpt(key)} in config {doc.path} (line {doc.lines.get(key, '?')}) is not a model "
                f"type; allowed: {', '.join(SPECS)}, or a field.{suggest(key, [*SPECS, *FIELD_ORDER])}"
            )
        else:
            values[key] = value

    def where(key: str) -> str:
        line = doc.lines.get(f"{model_type}.{key}" if key in section else key, "?")
        return f"config {doc.path}:{line}"

    return {**values, **section}, where


def build_config(
    model_type: str, preset: Preset, config_file: YamlDoc | None, flags: dict[str, Any]
) -> EffectiveConfig:
    """Layer defaults < preset < config file < flags, validate, and keep the source of each value."""
    from pydantic import ValidationError

    TrainingConfig = training_config()  # noqa: N806  (the class, built on first use)
    kind = SPECS[model_type]  # the type's declaration (specs.py): the config never imports kinds/
    unknown = sorted(set(preset.per_type) - set(SPECS))
    if unknown:
        raise ConfigError(
            f"preset file {preset.source} has a section {excerpt(unknown[0])}, which is not a model type; "
            f"allowed: {', '.join(SPECS)}"
        )
    raw = seed_defaults(kind)
    sources = {name: "default" for name in raw}
    layers: list[tuple[dict[str, Any], Any]] = [
        (
            preset.values_for(model_type),
            lambda k: f"preset {preset.name} ({preset.source}:{preset_line(preset, model_type, k)})",
        ),
    ]
    if config_file is not None:
        layers.append(_config_layer(config_file, model_type))
    layers.append(
        ({k: v for k, v in flags.items() if v is not None}, lambda k: f"flag --{k.replace('_', '-')}")
    )
    for values, where in layers:
        for key, value in values.items():
            if key not in FIELD_ORDER:
                raise ConfigError(
                    f"unknown field {excerpt(key)} (from {where(key)}); allowed: "
                    f"{', '.join(FIELD_ORDER)}.{suggest(key, FIELD_ORDER)}"
                )
            users = [k.name for k in SPECS.values() if key in k.uses]
            if users and key not in kind.uses and value is not None:
                owner = " or ".join(users)
                raise ConfigError(
                    f"{key} is for {owner} models only; {where(key)} sets it on a {model_type} "
                    f"model. Remove it or train a {owner} model"
                )
            if value is None and seed_defaults(kind).get(key) is not None:
                # null would not mean "the default": a volatility model's `symbols: null` crashed and its
                # `min_r2: null` turned the gate off; only a field whose default is null may be null
                raise ConfigError(
                    f"{key}: null (from {where(key)}) is not allowed for a {model_type} model; allowed: "
                    f"{bounds_text(key)} (leave the key out for the default)"
                )
            raw[key] = value
            sources[key] = where(key)
    try:
        config = TrainingConfig(**raw)
    except ValidationError as exc:
        _raise_validation(exc, sources, raw)
    custom = config.model_dump() != TrainingConfig(**plain_train_values(kind)).model_dump()
    return EffectiveConfig(config, sources, preset.name, model_type, custom)


def preset_line(preset: Preset, model_type: str, key: str) -> int | str:
    """The line that sets `key` for a model type: its section's, else the common one."""
    if key in preset.per_type.get(model_type, {}):
        return preset.lines.get(f"{model_type}.{key}", "?")
    return preset.lines.get(key, "?")


def seed_defaults(kind: Any) -> dict[str, Any]:
    """A type's defaults: the seed fields `defaults --json` pins, then the later fields it keeps out."""
    return {**kind.defaults, **kind.unlisted_defaults}


def plain_train_values(kind: Any) -> dict[str, Any]:
    """What a plain `train` uses: the type's defaults under the built-in default preset (a run that differs
    from it has a custom config)."""
    path = builtin_presets_dir() / f"{DEFAULT_PRESET}.yaml"
    preset = _read_preset(path) if path.is_file() else None
    return {**seed_defaults(kind), **(preset.values_for(kind.name) if preset else {})}


def parse_symbols(text: str | None) -> list[str] | None:
    return None if text is None else ([part.strip() for part in text.split(",") if part.strip()] or [""])
