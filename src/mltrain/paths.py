"""Where everything lives: the one place that resolves locations."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Home:
    """The mltrain home and the folders inside it."""

    root: Path
    presets_override: Path | None = None

    def _folder(self, name: str) -> Path:
        """A folder of the home, refused when it is a symbolic link: everything mltrain reads or writes stays
        inside its home (as a linked model folder or log file is refused). To keep the home on another disk,
        point MLTRAIN_HOME (or --home) there instead (docs/registry.md)."""
        path = self.root / name
        if path.is_symlink():
            from .errors import RegistryError

            raise RegistryError(
                f"refusing to use {path}: it is a symbolic link (to {os.readlink(path)[:120]}); mltrain "
                "reads and writes only inside its home. Move that folder here in place of the link, or "
                "point MLTRAIN_HOME at a home on the other disk"
            )
        return path

    @property
    def registry(self) -> Path:
        return self._folder("registry")

    @property
    def data_store(self) -> Path:
        return self._folder("data")

    @property
    def jobs(self) -> Path:
        return self._folder("jobs")

    @property
    def logs(self) -> Path:
        return self._folder("logs")

    @property
    def app_log(self) -> Path:
        return self.logs / "mltrain.log"

    @property
    def cache(self) -> Path:
        return self._folder("cache")

    @property
    def user_presets(self) -> Path:
        return self.presets_override or (self.root / "presets")


def resolve_home(flag: str | None = None, env: Mapping[str, str] | None = None) -> Home:
    """CLI flag, then MLTRAIN_HOME, then the platform's user data directory."""
    env = os.environ if env is None else env
    presets = env.get("MLTRAIN_PRESETS_DIR")
    presets_dir = Path(presets).expanduser() if presets else None
    # `--home "$DIR"` with DIR unset: never fall back to another home
    if flag is not None and not flag.strip():
        raise UsageError(
            f"--home {flag!r} names nothing; give the mltrain home folder, or leave the flag out"
        )
    if flag:
        root, where = Path(flag).expanduser().resolve(), "--home"
    elif env.get("MLTRAIN_HOME"):
        root, where = Path(env["MLTRAIN_HOME"]).expanduser().resolve(), "MLTRAIN_HOME"
    else:
        from platformdirs import user_data_dir

        root, where = Path(user_data_dir("mltrain", appauthor=False)), "the platform's user data folder"
    if root.exists() and not root.is_dir():
        raise UsageError(f"mltrain home {root} (from {where}) is a file, not a folder; point it at a folder")
    return Home(root, presets_dir)


def builtin_presets_dir() -> Path:
    """Presets inside an installed wheel, else the checkout's top-level presets/ folder."""
    packaged = PACKAGE_DIR / "presets"
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent.parent / "presets"


def docs_dir() -> Path:
    """The documentation the CLI's notes name (docs/NAME.md): inside an installed wheel, else the checkout's."""
    packaged = PACKAGE_DIR / "docs"
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent.parent / "docs"


def embedded_data_dir() -> Path:
    return PACKAGE_DIR / "data" / "embedded"
