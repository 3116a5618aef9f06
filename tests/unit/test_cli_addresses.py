"""The command line's addresses: `status --url` takes what status.listen holds, and URLs."""

from __future__ import annotations

import argparse

import pytest

from alo_edge.cli.local_http import lab_url, status_url


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:8787", "http://127.0.0.1:8787/status"),
        ("[::1]:8787", "http://[::1]:8787/status"),
        ("http://10.0.0.5:8787", "http://10.0.0.5:8787/status"),
        ("http://10.0.0.5:8787/", "http://10.0.0.5:8787/status"),
        ("http://10.0.0.5:8787/status", "http://10.0.0.5:8787/status"),
    ],
)
def test_status_url_takes_host_port_or_a_url(given: str, url: str) -> None:
    assert status_url(given) == url


@pytest.mark.parametrize("given", ["foo", "127.0.0.1", "127.0.0.1:port", "ftp://x:1", ""])
def test_a_status_url_that_is_neither_is_a_usage_error(given: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected"):
        status_url(given)


def test_lab_url_takes_host_port_or_a_url() -> None:
    assert lab_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert lab_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(argparse.ArgumentTypeError):
        lab_url("lab")
