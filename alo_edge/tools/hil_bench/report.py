"""The bench's report: one timed check a line, as a table for a person or as JSON.

A check that raises an :class:`~alo_edge.errors.AloEdgeError` is recorded as failed and
the run goes on; :class:`BenchAbort` fails it and ends the run, for a failure that makes
the remaining checks meaningless (no session).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from alo_edge.errors import AloEdgeError
from alo_edge.panel.patterns import LedPattern


class BenchAbort(AloEdgeError):
    """A check failed in a way that makes the rest meaningless (no session)."""


@dataclass
class Check:
    """One line of the report."""

    name: str
    expected: str
    measured: str = ""
    ok: bool = False
    seconds: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Every check of a bench run."""

    virtual: bool
    wiring: str
    backend: str = ""
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @contextlib.contextmanager
    def check(self, name: str, expected: str) -> Iterator[Check]:
        """Times one check and adds it to the report, failed if it raised."""
        entry = Check(name, expected)
        started = time.monotonic()
        try:
            yield entry
        except BenchAbort:
            entry.ok = False
            raise
        except AloEdgeError as exc:
            # The session refused something: this check failed, the next ones may still run.
            entry.ok = False
            entry.measured = entry.measured or str(exc)
        finally:
            entry.seconds = time.monotonic() - started
            self.checks.append(entry)

    @property
    def ok(self) -> bool:
        """Every check ran and passed."""
        return self.error is None and bool(self.checks) and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The report as ``--json`` prints it; each check's ``values`` become its own keys."""
        return {
            "ok": self.ok,
            "virtual": self.virtual,
            "backend": self.backend,
            "wiring": self.wiring,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "checks": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "expected": c.expected,
                    "measured": c.measured,
                    "seconds": round(c.seconds, 3),
                    **c.values,
                }
                for c in self.checks
            ],
        }

    def table(self) -> str:
        """The report as a table for a person, with the verdict on the last line."""
        rows = [("check", "expected", "measured", "result")]
        rows += [(c.name, c.expected, c.measured, "ok" if c.ok else "FAIL") for c in self.checks]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        mode = "virtual: MockFactory, jumpers emulated" if self.virtual else "real pins"
        lines = [f"hil-bench ({mode}), backend {self.backend}, wiring {self.wiring}", ""]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  ".join([*cells, row[3]]).rstrip())
        failed = sum(1 for c in self.checks if not c.ok)
        lines.append("")
        if self.error:
            lines.append(f"stopped early: {self.error}")
        lines.append(
            f"{len(self.checks) - failed} passed, {failed} failed in {self.seconds:.1f} s: "
            + ("PASS" if self.ok else "FAIL")
        )
        return "\n".join(lines)


def on_off(lit: bool) -> str:
    """An LED level in words."""
    return "on" if lit else "off"


def describe_pattern(pattern: LedPattern) -> str:
    """What a check expects of an LED: the pattern's name, and its rhythm when it blinks."""
    if pattern.steady:
        return pattern.name
    return f"{pattern.name}: {pattern.frequency:.2f} Hz, duty {pattern.duty:.2f}"
