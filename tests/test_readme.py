"""The README's "Everyday use" block, run command by command (issue 15, "Done means").

The commands are read from README.md itself, so an example that stops working fails here. Each runs in-process
on this test's temp home with the UTC day fixed; what a real run would change is stated and kept small:
- training commands get a tiny config (`--days`, `--epochs`, `--patience`, `--promotion-folds 1`, for a regime
  model `--promotion-regime-days 0`) and `--yes` (no terminal here); evaluations run their two folds
  in-process (`--workers 1`);
- the network is a fake Binance on 127.0.0.1 (tests/fake_exchange.py) through `--api-url`;
- `~/Downloads/BTCUSDT-1d.csv` is a file the test writes; `out/` is under the temp dir;
- the `models list | show | ...` synopsis line is expanded into one concrete call of each subcommand.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from mltrain.errors import ExitCode
from mltrain.paths import Home
from mltrain.registry import Registry

from .conftest import run_cli

README = Path(__file__).resolve().parents[1] / "README.md"
TODAY = pd.Timestamp("2026-01-10")  # the fake exchange's candles run through the 9th; the 10th is forming
TINY = {
    "volatility_forecaster": ["--days", "120", "--epochs", "10", "--patience", "5"],
    "btc_regime_detector": ["--days", "365", "--epochs", "10", "--patience", "5", "--symbols", "ETH,SOL"],
}


def everyday_commands() -> list[str]:
    """The indented lines of the README's "Everyday use" block, comments cut, `mltrain` dropped."""
    text = README.read_text()
    block = text.split("## Everyday use\n\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    assert lines and all(line.startswith("mltrain ") for line in lines), block
    return [re.sub(r"\s+#.*$", "", line)[len("mltrain ") :] for line in lines]


def test_the_readme_block_is_found_and_covers_the_main_commands():
    firsts = {shlex.split(c)[0] for c in everyday_commands()}
    assert {"defaults", "presets", "data", "train", "predict", "models", "jobs", "evaluate", "info"} <= firsts


def adapt(args: list[str], fx_url: str, tmp: Path, reg: Registry) -> list[list[str]]:
    """What the test runs for one README command (see the module docstring)."""
    if args[0] == "models" and "|" in args:  # the synopsis line
        name = "volatility_forecaster"
        versions = reg.versions(name)
        production = reg.aliases(name).get("production")
        spare = next((v for v in versions if v != production), None)  # never production: rm refuses it
        return [
            ["models", "list"],
            ["models", "show", name],
            ["models", "promote", name, str(versions[-1]), "--force"],
            ["models", "rollback", name],
            ["models", "compare", name, "1", "2"],
            *([["models", "rm", name, str(spare)]] if spare is not None and spare != versions[-1] else []),
            ["models", "prune", name, "--keep", "1"],
        ]
    args = [str(tmp / "BTCUSDT-1d.csv") if a == "~/Downloads/BTCUSDT-1d.csv" else a for a in args]
    args = [str(tmp / a) if a.startswith("out/") else a for a in args]
    args = [
        "2" if a == "all" and args[k - 1] == "--folds" else a for k, a in enumerate(args)
    ]  # tiny: 2 folds
    if args[:2] == ["data", "update"] or "--update-data" in args:
        args += ["--api-url", fx_url]
    if args[0] == "evaluate" and "--folds" not in args:
        args += ["--folds", "2"]
    if args[0] == "evaluate" and "--dry-run" not in args:
        args += ["--workers", "1"]  # two tiny folds run in this process: a pool costs more than it saves
    if args[0] in ("train", "evaluate") and "--dry-run" not in args:
        args += TINY[args[1]]
        if args[0] == "train":
            args += ["--promotion-folds", "1"]  # the champion/challenger check on one fold, not four
            if "regime" in args[1]:  # ...and not reaching back to the last Bear (promotion.py)
                args += ["--promotion-regime-days", "0"]
        if args[0] == "train" and "--yes" not in args:
            args.append("--yes")
    return [args]


def expected(args: list[str]) -> tuple[int, ...]:
    if args[0] == "train" and "--dry-run" not in args:
        return (ExitCode.OK, ExitCode.NOT_PROMOTED)  # a tiny run may fail its gate: saved as rejected
    if args[:2] == ["models", "rollback"]:
        return (ExitCode.OK, ExitCode.USAGE)  # "no earlier production version" depends on the gates above
    return (ExitCode.OK,)


def ensure_production(reg: Registry, name: str) -> None:
    """predict serves only a production version: promote the newest if every tiny run failed its gate."""
    if reg.aliases(name).get("production") is None:
        run_cli(["models", "promote", name, str(reg.versions(name)[-1]), "--force"], today=TODAY)


@pytest.mark.slow
def test_every_everyday_command_in_the_readme_runs(home: Path, tmp_path: Path):
    pytest.importorskip("ccxt", reason="`data update` needs the optional ccxt package (mltrain[fetch])")
    from .fake_exchange import FakeExchange
    from .test_update import extended

    served = {f"{s}USDT": extended(s, TODAY, seed=i) for i, s in enumerate(("BTC", "ETH", "SOL"), start=3)}
    served["BTCUSDT"].loc["2026-01-01":"2026-01-09"].to_csv(tmp_path / "BTCUSDT-1d.csv", index_label="date")
    reg = Registry(Home(home))
    ran = []
    with FakeExchange(served) as fx:
        for command in everyday_commands():
            for args in adapt(shlex.split(command), fx.url, tmp_path, reg):
                if args[0] == "predict":
                    ensure_production(reg, args[1])
                out = run_cli(args, expect=expected(args), today=TODAY)
                assert "Traceback" not in out.stderr and "internal error" not in out.stderr, (
                    args,
                    out.stderr,
                )
                ran.append(args[:2])
    assert ["data", "update"] in ran and ["evaluate", "volatility_forecaster"] in ran
    assert (tmp_path / "out").is_dir()
    last = run_cli(["data", "show", "BTC", "--json"], today=TODAY).json["data"]["last"]
    assert last == "2026-01-09"  # updated from the fake exchange, merged with the README's file
