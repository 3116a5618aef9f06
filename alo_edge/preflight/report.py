"""What ``alo-edge check`` prints and exits with, given the findings of its checks.

One line per finding, its verdict first so the eye finds ``FAIL`` and ``WARN``; with
``--json`` one document instead. The exit code says whether the device would work:
0 when nothing failed (warnings included), else 69 when hardware failed (a camera,
microphone, speaker or pin: ``RestartPreventExitStatus`` and installers read 69 as
"hardware missing"), 78 when the config did, and 1 for anything else (a token, a
server out of reach). A summary of the failure goes to stderr, as every other command
reports its error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alo_edge.errors import ExitCode
from alo_edge.preflight.base import Finding, Verdict

#: The verdict as the first word of a line, each the same width.
MARKS = {Verdict.OK: "ok  ", Verdict.WARN: "WARN", Verdict.FAIL: "FAIL", Verdict.SKIP: "skip"}
#: When several kinds of check failed, the exit code names the first kind in this order.
_PRECEDENCE = (ExitCode.HARDWARE, ExitCode.CONFIG, ExitCode.FAILURE)
_SUMMARY = {ExitCode.HARDWARE: "hardware missing", ExitCode.CONFIG: "configuration error"}


def failures(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that would stop the device working."""
    return [finding for finding in findings if finding.verdict is Verdict.FAIL]


def exit_code(findings: Sequence[Finding]) -> ExitCode:
    """0 when nothing failed; else the exit code of the gravest kind that did."""
    codes = {finding.exit_code for finding in failures(findings)}
    return next((code for code in _PRECEDENCE if code in codes), ExitCode.OK)


def lines(findings: Sequence[Finding]) -> list[str]:
    """One line per finding: ``FAIL token: expired at ...; fix: ...``."""
    return [f"{MARKS[finding.verdict]} {finding.line()}" for finding in findings]


def summary(findings: Sequence[Finding]) -> str | None:
    """The one stderr line when something failed: the gravest failure, and how many more."""
    code = exit_code(findings)
    if code is ExitCode.OK:
        return None
    failed = failures(findings)
    first = next(finding for finding in failed if finding.exit_code is code)
    more = len(failed) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''} above)" if more else ""
    return f"alo-edge: {_SUMMARY.get(code, 'check failed')}: {first.message}{tail}"


def document(config: str, findings: Sequence[Finding]) -> dict[str, Any]:
    """``--json``: the config checked, whether the device would work, every finding."""
    code = exit_code(findings)
    return {
        "config": config,
        "ok": code is ExitCode.OK,
        "exitCode": int(code),
        "findings": [finding.to_dict() for finding in findings],
    }
