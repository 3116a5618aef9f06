"""The lab's index page (``GET /``): one self-refreshing table row per channel.

Each cell is written for a person: numbers as they are, nothing as ``-``, a nested
report (the latency percentiles) as ``p50 37.0, p95 42.0, samples 300``, never as a
Python ``repr``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>alo-edge lab</title></head>
<body><h1>alo-edge lab</h1>
{body}
<p><a href="/api/channels">/api/channels</a></p>
</body></html>
"""


def cell(value: Any) -> str:
    """One report value as text: ``-`` for none, ``yes``/``no``, ``key value, ...``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key} {cell(item)}" for key, item in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(cell(item) for item in value) or "-"
    return str(value)


def index_page(reports: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """The page for ``(channel name, its /api/channels report)`` pairs."""
    if not reports:
        return _PAGE.format(body="<p>No channel has been published to yet.</p>")
    columns = list(reports[0][1])
    head = "".join(f"<th>{html.escape(column)}</th>" for column in ["channel", *columns])
    rows = "".join(
        "<tr>"
        + f'<td><a href="/view/{html.escape(name)}">{html.escape(name)}</a></td>'
        + "".join(f"<td>{html.escape(cell(report[c]))}</td>" for c in columns)
        + "</tr>"
        for name, report in reports
    )
    body = f'<table border="1"><tr>{head}</tr>{rows}</table><p>Open a channel to watch it.</p>'
    return _PAGE.format(body=body)
