"""Model kinds: everything specific to one model type lives in one module behind `ModelKind`.

The rest of the code asks `KINDS[name]` and never branches on a type's name. A new type is a new
module with a `ModelKind` subclass and one `register(...)` call. Importing this package must stay
cheap (`mltrain --help`, `defaults` and `presets` never load torch or pandas; --help and `defaults` not even
numpy): kinds import their heavy libraries inside the methods that need them, or name numpy through
`lazyimport.lazy_module`, which imports it at its first use.
"""

from __future__ import annotations

from typing import Any

from ..specs import KindSpec, declare
from .base import EpochCallback, ModelKind, ScoreTable

__all__ = ["KINDS", "EpochCallback", "ModelKind", "ScoreTable", "build_network", "catalogue", "register"]

KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> ModelKind:
    """Make a model kind known to every command; its catalogue names become built-in model names."""
    if not kind.name or not kind.name.isidentifier():
        raise ValueError(f"a model kind needs an identifier as its name, not {kind.name!r}")
    KINDS[kind.name] = kind
    # the config layers and validates from the spec (specs.py), never from this registry above it
    declare(KindSpec(kind.name, kind.defaults, kind.uses, kind.unlisted_defaults))
    return kind


def catalogue() -> dict[str, str]:
    """Built-in model name -> its model type."""
    return {model: kind.name for kind in KINDS.values() for model in kind.catalogue}


def kind_of_arch(arch: str) -> ModelKind:
    """The kind that rebuilds a stored network spec."""
    for kind in KINDS.values():
        if arch in kind.archs:
            return kind
    raise ValueError(f"unknown architecture {arch!r}")


def build_network(spec: dict) -> Any:
    """Rebuild a stored network from its spec; spec["kind"] (the on-disk key) names the architecture."""
    return kind_of_arch(spec["kind"]).build_network(spec)


def resolve_model_type(name: str, flag: str | None, home: Any) -> str:
    """Catalogue, then registry, then --model-type; contradictions are errors."""
    from ..errors import UsageError
    from ..textutil import suggest

    known_names = catalogue()
    known = known_names.get(name)
    if known is None:  # a catalogue name is valid; only other names need checking and the registry's import
        from ..registry import Registry, validate_name

        validate_name(name)
    if flag is not None and flag not in KINDS:
        raise UsageError(f"--model-type {flag!r} is not a model type; allowed: {', '.join(KINDS)}")
    if known is None:
        registry = Registry(home)
        versions = registry.versions(name)
        if versions:
            known = registry.meta(name, versions[-1])["model_type"]
    if known is not None and flag is not None and flag != known:
        raise UsageError(f"--model-type {flag} contradicts model {name}, which is a {known} model")
    if known is None and flag is None:
        raise UsageError(
            f"unknown model {name!r}; known models: {', '.join(known_names)}."
            f"{suggest(name, list(known_names))} For a new model pass --model-type "
            f"{'|'.join(KINDS)}"
        )
    return known or flag  # type: ignore[return-value]


def _register_builtins() -> None:
    from .regime import RegimeKind
    from .volatility import VolatilityKind

    register(RegimeKind())
    register(VolatilityKind())


_register_builtins()
