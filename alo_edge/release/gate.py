"""When may an update switch releases, and did the new release come up? (pure decisions)

``scripts/install-on-pi`` installs a new release beside the running one, then:

1. waits until nobody is talking (:func:`idle_verdict` on the running release's ``/status``),
2. switches the ``current`` link and restarts the unit; systemd's start job returns only
   once the new release has sent READY=1 (``Type=notify``),
3. watches the unit (:func:`judge`) until the new release is healthy or ``timeout`` s have
   passed; a broken release is switched back and the old one restarted.

"Healthy" is CONNECTED; or, when the old release was not CONNECTED either just before the
switch, retrying (ERROR / RECONNECT_PENDING), since then the cause is outside the release
(the network, the server, the token). A release that exits, is restarted by systemd, stays
in a start-up state, or cannot connect where the old one could, is broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alo_edge.session.states import ConnectionState

#: The unit properties the gate reads (``systemctl show``).
UNIT_PROPERTIES = ("ActiveState", "SubState", "StatusText", "NRestarts", "MainPID", "Result")
_RETRYING = {ConnectionState.ERROR.value, ConnectionState.RECONNECT_PENDING.value}


class Verdict(StrEnum):
    WAIT = "wait"
    HEALTHY = "healthy"
    BROKEN = "broken"


@dataclass(frozen=True)
class UnitSnapshot:
    """What systemd says of the unit at one moment."""

    active_state: str
    sub_state: str
    status_text: str
    n_restarts: int
    main_pid: int
    result: str = "success"

    @classmethod
    def from_properties(cls, properties: dict[str, str]) -> UnitSnapshot:
        """From ``systemctl show`` output parsed into a dict."""
        return cls(
            active_state=properties.get("ActiveState", ""),
            sub_state=properties.get("SubState", ""),
            status_text=properties.get("StatusText", ""),
            n_restarts=_int(properties.get("NRestarts")),
            main_pid=_int(properties.get("MainPID")),
            result=properties.get("Result", ""),
        )

    @property
    def running(self) -> bool:
        return (self.active_state, self.sub_state) == ("active", "running")

    @property
    def connection_state(self) -> str | None:
        """The connection state the service put first in STATUS= (``CONNECTED: ...``)."""
        head = self.status_text.split(":", 1)[0].strip()
        return head if head in ConnectionState.__members__ else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ActiveState": self.active_state,
            "SubState": self.sub_state,
            "StatusText": self.status_text,
            "NRestarts": str(self.n_restarts),
            "MainPID": str(self.main_pid),
            "Result": self.result,
        }


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def judge(
    before: UnitSnapshot | None,
    started: UnitSnapshot,
    now: UnitSnapshot,
    elapsed: float,
    timeout: float,
) -> tuple[Verdict, str]:
    """Is the new release healthy, broken, or not yet known?

    ``before``: the old release just before the switch (None: there was none running);
    ``started``: the unit right after its start job returned; ``now``: the latest look.
    """
    if now.active_state == "failed" or (not now.running and now.active_state != "activating"):
        return Verdict.BROKEN, f"the service stopped ({now.active_state}, {now.result})"
    if now.n_restarts > started.n_restarts or (
        started.main_pid and now.main_pid != started.main_pid
    ):
        return Verdict.BROKEN, f"the service exited and systemd restarted it ({now.result})"
    state = now.connection_state
    if state == ConnectionState.CONNECTED.value:
        return Verdict.HEALTHY, "CONNECTED"
    old_state = before.connection_state if before is not None else None
    old_connected = old_state == ConnectionState.CONNECTED.value
    if state in _RETRYING and not old_connected:
        why = f"the old release was {old_state or 'not running'} too"
        return (
            Verdict.HEALTHY,
            f"retrying for a reason outside the release ({why}): {now.status_text}",
        )
    if elapsed >= timeout:
        shown = now.status_text or f"{now.active_state}/{now.sub_state}"
        if old_connected:
            return (
                Verdict.BROKEN,
                f"not CONNECTED within {timeout:.0f} s (last: {shown}); the old release was",
            )
        return (
            Verdict.BROKEN,
            f"neither CONNECTED nor retrying within {timeout:.0f} s (last: {shown})",
        )
    return Verdict.WAIT, now.status_text or now.active_state


def idle_verdict(status: dict[str, Any] | None) -> tuple[bool, str]:
    """May the running release be restarted now? From its ``/status`` (None: unreachable)."""
    if status is None:
        return True, "the running release's /status does not answer: nobody can be talking"
    talk = status.get("talk")
    if not isinstance(talk, dict) or not isinstance(talk.get("active"), bool):
        return True, "the running release does not report talk activity"
    if talk["active"]:
        return False, f"someone is talking ({talk.get('reason', 'talk.active')})"
    return True, str(talk.get("reason", "nobody is talking"))
