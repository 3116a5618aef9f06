"""Background tasks a component owns: started by it, and ended by it on stop.

Every component that runs a loop (source health, Pi health, time sync, the watchdog,
state reports, the audio self-test) ends it the same way; this is that way, once.
"""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended; its cancellation is not an error."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
