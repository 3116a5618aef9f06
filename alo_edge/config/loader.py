"""TOML -> the section dataclasses, key by key; every error names the key path.

Layers: the package defaults (the dataclasses' own), then the TOML file. The loader
is generic: it reads each field's type hint and metadata (see :mod:`.sections`), so a
new key is one field, not new code. After the whole document converted, the field
rules that need the final value (``required``, ``pattern``) and the cross-key rules
(:mod:`.rules`) run in document order.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from alo_edge.config.rules import check_rules
from alo_edge.config.sections import Config
from alo_edge.config.types import Listen
from alo_edge.errors import ConfigError

#: Value types the loader hands a raw TOML value to (each owns its parsing).
_VALUE_TYPES: dict[Any, Any] = {Listen: Listen.parse}


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raise ConfigError naming the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a Config."""
    config: Config = _build(Config, data, "")
    _check_fields(config, "")
    check_rules(config)
    if not config.device.name:
        # A person reading the lab or the participant list needs some name; the id is one.
        config = dataclasses.replace(
            config, device=dataclasses.replace(config.device, name=config.device.user_id)
        )
    return config


def _check_fields(section: Any, path: str) -> None:
    """``required`` and ``pattern`` on the final values, sections in document order."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        where = f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(value) and type(value) not in _VALUE_TYPES:
            _check_fields(value, where)
            continue
        required = f.metadata.get("required")
        if required and not value:
            raise ConfigError(required, key=where)
        pattern = f.metadata.get("pattern")
        if pattern and value and not pattern[0].match(value):
            raise ConfigError(f"expected {pattern[1]}, got {value!r}", key=where)


def _build(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table, got {_describe(data)}", key=path or "(top level)")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else key
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            kind = "key" if path else "section"
            raise ConfigError(f"unknown {kind}{hint}; valid: {', '.join(fields)}", key=where)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            where = f"{path}.{name}" if path else name
            values[name] = _convert(hints[name], data[name], where, f.metadata)
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, metadata: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where, metadata)
    if hint in _VALUE_TYPES:
        return _VALUE_TYPES[hint](value, where)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {_describe(value)}", key=where)
        # Per-item rules (a pin range, choices) apply to each element.
        items = enumerate(value)
        return tuple(_convert(args[0], item, f"{where}[{i}]", metadata) for i, item in items)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_describe(value)}", key=where)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {_describe(value)}", key=where)
        _check_range(value, where, metadata)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"expected a number, got {_describe(value)}", key=where)
        _check_range(value, where, metadata)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_describe(value)}", key=where)
        choices = metadata.get("choices")
        if choices and value not in choices:
            valid = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"expected one of {valid}, got {value!r}", key=where)
        return value
    raise TypeError(f"config field type {hint!r} is not supported")  # a bug here, not bad input


def _check_range(value: float, where: str, metadata: Any) -> None:
    minimum = metadata.get("minimum")
    maximum = metadata.get("maximum")
    if minimum is not None:
        if metadata.get("exclusive") and value <= minimum:
            raise ConfigError(f"expected a number greater than {minimum}, got {value}", key=where)
        if value < minimum:
            raise ConfigError(f"expected at least {minimum}, got {value}", key=where)
    if maximum is not None and value > maximum:
        raise ConfigError(f"expected at most {maximum}, got {value}", key=where)


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a table" if isinstance(value, dict) else "a list"
    )
    return f"{kind} ({json.dumps(value, default=str)[:40]})"
