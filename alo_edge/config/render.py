"""The effective config as TOML, secrets masked, for ``alo-edge config``.

Secret keys (field metadata ``secret``) print as ``"********"``; any URL's userinfo,
query values and fragment as ``***`` (:func:`alo_edge.urls.mask_url`): an operator who
put a key into a URL's query still gets a config that is safe to paste.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from alo_edge.config.sections import Config
from alo_edge.config.types import Listen
from alo_edge.urls import mask_urls_in

MASK = '"********"'


def render_config(config: Config) -> str:
    """The effective config as TOML, with every secret masked; it loads back."""
    lines: list[str] = []
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        tables: list[tuple[str, tuple[Any, ...]]] = []
        hints = typing.get_type_hints(type(value))
        lines.append(f"[{section.name}]")
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if _is_table_array(hints[f.name]):
                tables.append((f.name, item))  # an array of tables goes after the keys
                continue
            if item is None:
                lines.append(f"# {f.name} is not set")
                continue
            lines.append(f"{f.name} = {_toml_value(item, secret=bool(f.metadata.get('secret')))}")
        for name, entries in tables:
            for entry in entries:
                lines += ["", f"[[{section.name}.{name}]]"]
                for f in dataclasses.fields(entry):
                    item = getattr(entry, f.name)
                    if item is not None:
                        secret = bool(f.metadata.get("secret"))
                        lines.append(f"{f.name} = {_toml_value(item, secret=secret)}")
        lines.append("")
    return "\n".join(lines)


def _is_table_array(hint: Any) -> bool:
    args = typing.get_args(hint)
    return typing.get_origin(hint) is tuple and bool(args) and dataclasses.is_dataclass(args[0])


def _toml_value(value: Any, *, secret: bool = False) -> str:
    if secret:
        return MASK
    if isinstance(value, Listen):
        return value.render()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(mask_urls_in(value))
    return repr(value)
