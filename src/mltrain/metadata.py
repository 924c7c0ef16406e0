"""The shape of a version's metadata.json, checked on every read: a damaged file is named where it is read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import RegistryError

SHA256_RE = re.compile(r"[0-9a-f]{64}")
REQUIRED_FILES = ("weights.safetensors", "history.csv")

# key -> JSON type every reader relies on; all of these are written by every training run
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "model_type": str,
    "created_at": str,
    "version": int,
    "files": dict,
    "config": dict,
    "metrics": dict,
    "baselines": dict,
    "data_windows": dict,
    "gate": dict,
}
# keys older or hand-made versions may lack, but which must have this type when present
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "creation_id": str,
    "job_id": str,
    "preset": str,
    "sources": dict,
    "timings": dict,
    "spec": dict,
    "library_versions": dict,
    "command_line": list,
    "has_custom_config": bool,
    "initial_status": str,
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    for kind, word in (
        (dict, "an object"),
        (list, "a list"),
        (str, "a string"),
        (int, "an integer"),
        (float, "a number"),
    ):
        if isinstance(value, kind):
            return word
    return "null" if value is None else type(value).__name__


def _want(kind: type | tuple[type, ...]) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "an integer", bool: "true/false"}.get(
        kind, str(kind)
    )  # type: ignore[arg-type]


def check_meta(meta: Any, path: Path, version: int) -> dict:
    """Return `meta` if it has the shape readers rely on, else a RegistryError naming the file and the key."""

    def corrupted(detail: str) -> RegistryError:
        return RegistryError(f"{path} is corrupted: {detail}; retrain or remove this version")

    if not isinstance(meta, dict):
        raise corrupted(f"expected an object, found {_json_type(meta)}")
    for key, kind in {**REQUIRED, **OPTIONAL}.items():
        if key not in meta:
            if key in REQUIRED:
                raise corrupted(
                    "no checksums ('files' key missing)" if key == "files" else f"the {key!r} key is missing"
                )
            continue
        value = meta[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise corrupted(f"{key!r} should be {_want(kind)}, found {_json_type(value)}")
    if meta["version"] != version:
        raise corrupted(f"it says version {meta['version']} but lies in folder v{version}")
    files = meta["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            raise corrupted(f"no checksum for {name}")
    for name, digest in files.items():
        plain = "/" not in name and not name.startswith(".")
        if not plain or not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
            raise corrupted(f"files[{name[:60]!r}] should map a file in the folder to its sha256")
    for symbol, window in meta["data_windows"].items():
        if not isinstance(window, dict):
            raise corrupted(f"data_windows[{symbol[:60]!r}] should be an object, found {_json_type(window)}")
    return meta
