"""The lab's index page writes every report value for a person, never as a Python repr."""

from __future__ import annotations

from alo_edge.lab.index import cell, index_page


def test_a_nested_report_reads_as_key_value_pairs() -> None:
    latency = {"p50": 37.0, "p95": 42.0, "samples": 300}
    assert cell(latency) == "p50 37.0, p95 42.0, samples 300"
    assert cell(None) == "-"
    assert cell(True) == "yes"
    assert cell([]) == "-"


def test_the_page_has_no_python_dict_in_it() -> None:
    page = index_page([("door", {"fps": 30.0, "latencyMs": {"p50": 37.0, "p95": 42.0}})])
    assert "<td>p50 37.0, p95 42.0</td>" in page
    assert "{" not in page.split("<body>")[1]
