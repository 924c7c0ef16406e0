"""Parameter values without pydantic where no conversion is needed, so a TAB or `defaults` starts fast.

Typer (0.25 and later) converts every parameter value, None included, through a pydantic TypeAdapter that it
builds on the parameter's first use. Importing pydantic and building adapters costs about 60 ms, most of the
start-up budget of a TAB completion or `mltrain defaults` (150 ms, bench/startup.py), although there nothing
needs converting: a missing option stays None and a text value stays the same text. This defers Typer's own
conversion to the first value that needs it; every other value (an INTEGER given as text, a PATH, a value
out of range) still goes through it, with its messages. tests/test_startup.py checks, parameter by
parameter, that both give the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def passes_unchanged(descriptor: Any, value: Any) -> bool:
    """Whether Typer's conversion would return `value` as it is: text for a str parameter, or a default that
    already has the parameter's number type, when the parameter has no parser, range or clamp."""
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or getattr(info, "parser", None) is not None:
        return False
    if getattr(info, "click_type", None) is not None:
        return False
    annotation = descriptor.annotation
    if annotation is str:
        return type(value) is str
    if annotation in (int, float):
        ranged = info.min is not None or info.max is not None or info.clamp
        return not ranged and type(value) is annotation
    return False


def install() -> None:
    """Defer Typer's conversion of each parameter to the first value that needs it."""
    try:
        from typer import _coercion, core
    except ImportError:
        return
    if not all(hasattr(_coercion, n) for n in ("RuntimeParam", "build_runtime_param")) or not hasattr(
        core._TyperParameter, "get_runtime_param"
    ):
        return  # another Typer layout: its own conversion stands

    @dataclass(frozen=True)
    class Deferred(_coercion.RuntimeParam):
        """Typer's RuntimeParam (None and multi-value handling included) that builds the real one late."""

        descriptor: Any = None

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if passes_unchanged(self.descriptor, value):
                return value
            built = self.__dict__.get("built")
            if built is None:  # frozen like its base: the cache is set around the dataclass guard
                built = _coercion.build_runtime_param(self.descriptor)
                object.__setattr__(self, "built", built)
            return built._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self):
        if self._runtime_param is None:
            d = self.type_descriptor
            self._runtime_param = Deferred(
                annotation=d.annotation, parameter_info=d.parameter_info, descriptor=d
            )
        return self._runtime_param

    core._TyperParameter.get_runtime_param = get_runtime_param
