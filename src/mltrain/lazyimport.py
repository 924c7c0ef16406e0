"""Modules imported at their first use rather than when the module naming them is imported.

numpy costs about 70-110 ms to import, more than the whole start-up budget of `mltrain --help`, `defaults`
and a TAB completion (150 ms, bench/startup.py). The model kinds use it throughout their code, yet those
commands only read a kind's name, catalogue and defaults. A kind module therefore names numpy lazily:

    if TYPE_CHECKING:
        import numpy as np
    else:
        np = lazy_module("numpy")

and the real import happens at the first `np.something` (Python 3.15's `lazy import numpy as np`, PEP 810,
says the same thing). After that first use the stand-in holds numpy's own namespace, so an attribute costs
what it costs on numpy itself.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """Stands in for a module until an attribute is asked for, then imports it and becomes a plain module
    holding its namespace (as importlib.util.LazyLoader does), so later lookups cost nothing extra."""

    def __getattr__(self, attr: str) -> Any:  # only called for names not yet in this module's __dict__
        module = importlib.import_module(self.__name__)
        self.__dict__.update(vars(module))
        self.__class__ = types.ModuleType  # the module's own __getattr__ (np.linalg...) now answers misses
        return getattr(self, attr)


def lazy_module(name: str) -> Any:
    """A stand-in for module `name` that imports it at the first attribute access (typed Any: see above)."""
    return LazyModule(name)
