"""Background housekeeping of the service (fallback sweeper, AGI recordings, retention): one loop shape.

    async with in_background(repeat(job, every=30, what="fallback sweep", first_after=0), "fallback-sweeper"):
        yield   # inside a cleanup_ctx entry

A job that raises is logged and tried again at the next pass: a dead database for a minute must not end the
housekeeping for the life of the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


async def repeat(job: Callable[[], Awaitable[object]], *, every: float, what: str,
                 first_after: float | None = None) -> None:
    """Run job() every `every` seconds, the first time after `first_after` (default: one period)."""
    await asyncio.sleep(every if first_after is None else first_after)
    while True:
        try:
            await job()
        except Exception:  # noqa: BLE001
            log.exception("%s failed; next try in %.0f s", what, every)
        await asyncio.sleep(every)


@asynccontextmanager
async def in_background(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """The coroutine as a task for the duration of the block; cancelled and awaited on the way out."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
