"""Time for the ACD: one injectable clock so the ring clock can be tested without waiting 15 seconds.

`SystemClock` uses the event loop's monotonic time; `FakeClock` (tests.fakes.acd) moves only when a test says
so. Every deadline in the ACD is computed and awaited through this interface, never with bare asyncio.sleep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

from ivr.db.models import utcnow


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences are meaningful."""
        ...

    def now(self) -> dt.datetime:
        """Aware UTC wall time, for rows and for what people read."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def now(self) -> dt.datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
