"""Where everything lives: the one place that resolves locations."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Home:
    """The mltrain home and the folders inside it."""

    root: Path
    presets_override: Path | None = None

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def data_store(self) -> Path:
        return self.root / "data"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def app_log(self) -> Path:
        return self.logs / "mltrain.log"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def user_presets(self) -> Path:
        return self.presets_override or (self.root / "presets")


def resolve_home(flag: str | None = None, env: Mapping[str, str] | None = None) -> Home:
    """CLI flag, then MLTRAIN_HOME, then the platform's user data directory."""
    env = os.environ if env is None else env
    presets = env.get("MLTRAIN_PRESETS_DIR")
    presets_dir = Path(presets).expanduser() if presets else None
    if flag:
        return Home(Path(flag).expanduser().resolve(), presets_dir)
    if env.get("MLTRAIN_HOME"):
        return Home(Path(env["MLTRAIN_HOME"]).expanduser().resolve(), presets_dir)
    from platformdirs import user_data_dir

    return Home(Path(user_data_dir("mltrain", appauthor=False)), presets_dir)


def builtin_presets_dir() -> Path:
    """Presets inside an installed wheel, else the checkout's top-level presets/ folder."""
    packaged = PACKAGE_DIR / "presets"
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent.parent / "presets"


def embedded_data_dir() -> Path:
    return PACKAGE_DIR / "data" / "embedded"
