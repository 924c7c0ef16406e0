"""Config files (`--config`, presets, sweep spaces) read as plain YAML: a safe loader without aliases, Python
tags or duplicate keys, and the line of every key, so an error can name where a bad value is."""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, excerpt

if TYPE_CHECKING:
    import yaml


@dataclass
class YamlDoc:
    """A flat YAML mapping with the line of each top-level key."""

    path: Path
    values: dict[str, Any]
    lines: dict[str, int]


BOOL_TAG, FLOAT_TAG = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"


@cache
def _plain_loader() -> type:
    """The safe loader without anchors and aliases (a few hundred bytes of aliases can expand to gigabytes),
    with YAML 1.2 booleans (a symbol NO stays a string) and floats such as 1e-3 (YAML 1.1 reads a string).
    Built on first use: importing yaml is start-up time that `--help` and completion do not need."""
    import yaml

    class _PlainLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise yaml.composer.ComposerError(
                    None, None, "anchors and aliases (&, *) are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    _PlainLoader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != BOOL_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _PlainLoader.add_implicit_resolver(
        BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    _PlainLoader.add_implicit_resolver(
        FLOAT_TAG, re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
    )
    return _PlainLoader


def _check_keys(node: yaml.Node, path: Path, what: str) -> None:
    """Duplicate keys (YAML would keep the last silently) and merge keys are refused, with their line."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(f"merge key '<<' in {what} {path} line {line} is not allowed")
            text = str(key.value)
            if text in seen:
                raise ConfigError(
                    f"duplicate key {excerpt(text)} in {what} {path} line {line} "
                    f"(already set on line {seen[text]})"
                )
            seen[text] = line
            _check_keys(value, path, what)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_keys(item, path, what)


MAX_BYTES = 1 << 20  # a config, preset or space file is a few hundred bytes; more is not one


def _read(path: Path, what: str) -> bytes:
    """A plain file's bytes, at most MAX_BYTES. O_NONBLOCK makes opening a FIFO return at once (a plain read
    waited forever for a writer), and fstat refuses anything but a regular file."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a plain file"
            )
            raise ConfigError(f"{what} {path} is {kind}; give a plain YAML file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{what} {path} is larger than {MAX_BYTES >> 20} MiB; it cannot be a config file")
    return data


def load_yaml_mapping(path: Path, what: str) -> YamlDoc:
    """Parse with a safe loader only: no Python tags, no code, no aliases, no duplicate keys. The file is read
    every time; a text this process parsed before is not parsed again."""
    try:
        text = _read(path, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    parsed = _parsed.get(text)
    if parsed is None:
        parsed = _parsed[text] = _parse(text, path, what)
        while len(_parsed) > PARSED_KEPT:
            _parsed.popitem(last=False)  # the text read longest ago
    else:
        _parsed.move_to_end(text)
    values, lines = parsed
    return YamlDoc(path, copy.deepcopy(values), dict(lines))


PARSED_KEPT = 64  # texts whose parse is kept per process: presets are re-read by every command
_parsed: OrderedDict[str, tuple[dict[str, Any], dict[str, int]]] = OrderedDict()


def _parse(text: str, path: Path, what: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping and its keys' lines; a pure function of the text (`path` and `what` only name it in an
    error), so a text parsed before is answered from `_parsed` (the pure-Python loader takes milliseconds)."""
    import yaml

    loader = _plain_loader()(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_keys(node, path, what)
        values = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"invalid YAML in {what} {path}{where}: {problem} (only plain YAML values are allowed)"
        ) from exc
    except ValueError as exc:  # a number the constructor cannot build, e.g. past Python's int digit limit
        raise ConfigError(f"invalid value in {what} {path}: {excerpt(str(exc))}") from exc
    finally:
        loader.dispose()
    if values is None:
        return {}, {}
    if not isinstance(values, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{what} {path} must be a mapping of field: value, e.g. 'days: 365'")
    lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    for key, value in node.value:  # a section's keys (a preset's `volatility:` fields) as section.key
        if isinstance(value, yaml.MappingNode):
            lines.update({f"{key.value}.{k.value}": k.start_mark.line + 1 for k, _ in value.value})
    return {str(k): v for k, v in values.items()}, lines
