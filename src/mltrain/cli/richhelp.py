"""Typer's help and error screens without loading the parts of Rich that mltrain never shows.

typer.rich_utils, which Typer imports to draw every help screen and usage error, imports rich.markdown (with
markdown-it-py and pygments) and rich.traceback (with rich.pretty and attrs, when installed) at its top: 25 to
50 ms of the 150 ms start-up budget of `mltrain --help` (bench/startup.py). It uses them only for help written
in Markdown (`rich_markup_mode="markdown"`) and for pretty tracebacks; mltrain writes its help in Rich markup
and turns pretty tracebacks off. So while typer.rich_utils itself is being imported, and only then, those two
names are stand-ins that import the real class at their first use; the screens are drawn as before
(tests/test_startup.py compares them). If the stand-ins do not fit (another Typer names more of those
modules), typer.rich_utils is imported the ordinary way.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
from typing import Any

TARGET = "typer.rich_utils"
DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}  # module -> the one name it gives


def deferred_class(module: str, name: str) -> type:
    """A class that stands for `module.name`: constructing it, or asking it for a class attribute
    (Traceback.from_exception), imports the real module and answers with the real class."""

    def real() -> Any:
        return getattr(importlib.import_module(module), name)

    class Forward(type):
        def __getattr__(cls, attr: str) -> Any:
            return getattr(real(), attr)

    class Deferred(metaclass=Forward):
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return real()(*args, **kwargs)  # an instance of the real class (so its __init__ runs once)

    Deferred.__name__ = Deferred.__qualname__ = name
    return Deferred


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def __getattr__(self, attr: str) -> Any:  # get_source, get_filename...: the real loader's
        return getattr(self.real, attr)

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        stand_ins = {}
        for name, attr in DEFERRED.items():
            if name not in sys.modules:
                stand_ins[name] = types.ModuleType(name)
                setattr(stand_ins[name], attr, deferred_class(name, attr))
        sys.modules.update(stand_ins)
        try:
            self.real.exec_module(module)
        except ImportError:
            self._drop(stand_ins)
            self.real.exec_module(module)  # names the stand-ins lack: the ordinary import
        finally:
            self._drop(stand_ins)

    @staticmethod
    def _drop(stand_ins: dict) -> None:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


class _Finder(importlib.abc.MetaPathFinder):
    """Finds typer.rich_utils as the other finders do and wraps its loader; any other module: not mine."""

    def __init__(self) -> None:
        self.busy = False

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET or self.busy:
            return None
        self.busy = True  # the lookup below asks every finder again, this one included
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.busy = False
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
            sys.meta_path.remove(self)  # one import to wrap (returning a spec ends the finders' loop here)
        return spec


def install() -> None:
    """Wrap the first import of typer.rich_utils (nothing happens, and nothing is imported, until then)."""
    if TARGET not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
