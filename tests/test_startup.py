"""Start-up: what `--help`, `defaults` and a TAB import (bench/startup.py times them; no test here is timed),
the deferred Typer conversion (cli/coercion.py) against Typer's own, and the lazy numpy of the kinds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import typer.main
from typer import _coercion

from mltrain.cli import app, richhelp
from mltrain.kinds import catalogue
from mltrain.lazyimport import lazy_module
from mltrain.registry import validate_name

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("numpy", "pandas", "torch", "pydantic")
# print at exit (after main() has answered and raised SystemExit) which heavy modules the command imported
PROBE = (
    "import atexit, sys\n"
    f"atexit.register(lambda: print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    "from mltrain.cli import main\nmain()\n"
)


def start(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """A fresh `mltrain ARGS` process, as a shell starts it, that reports the heavy modules it imported."""
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, "MLTRAIN_HOME": str(home), **env},
    )


def loaded(out: subprocess.CompletedProcess) -> list[str]:
    line = next(x for x in out.stdout.splitlines() if x.startswith("LOADED"))
    return json.loads(line.removeprefix("LOADED ").replace("'", '"'))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["defaults", "btc_regime_detector"],
        ["defaults", "volatility_forecaster", "--json"],
        ["train", "--help"],
    ],
)
def test_help_and_defaults_import_none_of_numpy_pandas_torch_pydantic(home: Path, args: list[str]):
    out = start(home, *args)
    assert out.returncode == 0, out.stderr
    assert loaded(out) == []


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("mltrain train btc", "btc_regime_detector"),
        ("mltrain train btc_regime_detector --preset ", "full"),
        ("mltrain train btc_regime_detector --device c", "cpu"),
        ("mltrain data show ", "BTC"),
        ("mltrain predict btc_regime_detector --since 2024-01-01 --symbol ", "ETH"),
    ],
)
def test_a_tab_completes_from_the_home_without_numpy_pandas_torch_pydantic(
    home: Path, words: str, expected: str
):
    out = start(
        home,
        _MLTRAIN_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(words.split(" ")) - 1),
    )
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout.splitlines() and loaded(out) == []


def parameters():
    """Every parameter of every command: (command path, click parameter)."""
    found = []

    def walk(command, path):
        found.extend((path, p) for p in command.params)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "mltrain")
    return found


def sample_values(param) -> list:
    values = [None, param.default, "btc_regime_detector", "", " spaced ", "12", "0.5", "abc", "-3"]
    if param.nargs == -1 or param.multiple:
        values = [None, (), ("BTC", "ETH")]
    return values


def test_deferred_conversion_gives_what_typers_own_gives_for_every_parameter():
    """cli/coercion.py passes some values through without pydantic; for each parameter and each sample value
    the result, or the error message, must equal what Typer's own conversion gives."""
    checked = 0
    for path, param in parameters():
        own = _coercion.build_runtime_param(param.type_descriptor)
        deferred = param.get_runtime_param()
        assert type(deferred).__name__ == "Deferred", f"{path} {param.name}: conversion not deferred"
        for value in sample_values(param):
            results = []
            for conversion in (own, deferred):
                try:
                    results.append(("value", conversion.coerce(value, param=param, ctx=None)))
                except Exception as exc:  # the message a person would read
                    results.append(("error", type(exc).__name__, str(exc)))
            assert results[0] == results[1], f"{path} {param.name} {value!r}: {results}"
            assert type(results[0][-1]) is type(results[1][-1])
            checked += 1
    assert checked > 300


SCREENS = """
import json, sys
import typer.main
from typer.testing import CliRunner
from mltrain.cli import app
paths = []
def walk(command, path):
    paths.append(path)
    for name, sub in getattr(command, "commands", {}).items():
        walk(sub, [*path, name])
walk(typer.main.get_command(app), [])
argvs = [[*path, "--help"] for path in paths]
argvs += [["train"], ["train", "x", "--epochs", "abc"], ["nope"], ["models", "show"], ["--version"]]
screens = {" ".join(a): CliRunner().invoke(app, a).output for a in argvs}
heavy = ("rich.markdown", "rich.traceback", "markdown_it", "pygments")
skipped = sorted(m for m in heavy if m not in sys.modules)
print(json.dumps({"screens": screens, "skipped": skipped}))
"""


def test_help_and_error_screens_are_the_same_without_rich_markdown_and_traceback(home: Path):
    """cli/richhelp.py lets typer.rich_utils load without rich.markdown and rich.traceback; every help
    screen and usage error must read exactly as with them (typer.rich_utils imported first: the ordinary
    way)."""
    runs = {}
    for variant, first in (("deferred", ""), ("ordinary", "import typer.rich_utils\n")):
        out = subprocess.run(
            [sys.executable, "-c", first + SCREENS],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": SRC, "MLTRAIN_HOME": str(home), "COLUMNS": "80"},
        )
        assert out.returncode == 0, out.stderr
        runs[variant] = json.loads(out.stdout)
    assert runs["deferred"]["skipped"] == ["markdown_it", "pygments", "rich.markdown", "rich.traceback"]
    assert runs["ordinary"]["skipped"] == []
    screens = runs["deferred"]["screens"]
    assert len(screens) > 25 and "Usage: root models show" in screens["models show --help"]
    assert screens == runs["ordinary"]["screens"]


def test_the_deferred_rich_classes_give_the_real_ones():
    import rich.markdown
    import rich.traceback

    markdown = richhelp.deferred_class("rich.markdown", "Markdown")
    traceback = richhelp.deferred_class("rich.traceback", "Traceback")
    assert type(markdown("# title")) is rich.markdown.Markdown
    try:
        raise ValueError("shown")
    except ValueError as exc:
        shown = traceback.from_exception(type(exc), exc, exc.__traceback__)
    assert type(shown) is rich.traceback.Traceback


def test_every_catalogue_name_is_a_valid_model_name():
    """resolve_model_type skips the name check (and the registry's import) for catalogue names."""
    for name in catalogue():
        assert validate_name(name) == name


def test_lazy_module_imports_at_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "slow_to_import.py").write_text("LOADS = []\nLOADS.append(1)\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_import", raising=False)
    stand_in = lazy_module("slow_to_import")
    assert "slow_to_import" not in sys.modules
    assert stand_in.VALUE == 42 and stand_in.LOADS == [1]  # imported once, on the first attribute
    assert sys.modules["slow_to_import"].LOADS is stand_in.LOADS
    assert "VALUE" in vars(stand_in) and type(stand_in) is types.ModuleType  # a plain module from now on
    with pytest.raises(AttributeError):
        stand_in.missing  # noqa: B018
