"""Background tasks a component owns: started by it, and ended by it on stop.

Every component that runs a loop (source health, Pi health, time sync, the watchdog,
state reports, the audio self-test) ends it the same way; this is that way, once. The
components that sample something blocking on an interval (Pi health, time sync) run the
same loop: :func:`poll`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended; its cancellation is not an error."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def poll(read: Callable[[], T], update: Callable[[T], None], interval: float) -> None:
    """Forever: ``update(read())`` with ``read`` on a worker thread (file reads, a command
    that can take seconds), then wait ``interval`` seconds. The first read comes at once."""
    while True:
        update(await asyncio.to_thread(read))
        await asyncio.sleep(interval)
