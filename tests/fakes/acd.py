"""In-memory doubles for the ACD's seams: a clock that moves only when told, a dialer whose legs the test
answers or lets ring, and a caller channel that records what the caller heard.

Used by the unit tests, the console's browser tests without Asterisk, and `hotline` demo mode; the real
telephony is ivr.acd.ari_dialer + ivr.ari.channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Sequence

from ivr.acd.ports import AgentLeg, DialError, LegOutcome
from ivr.channel import (
    CallerInfo,
    Channel,
    ChannelHungUp,
    DigitsResult,
    RecordingHandle,
    Unsupported,
)


class FakeClock:
    """Monotonic time starts at 0 and wall time at `start`; `advance` wakes sleepers in time order."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.timezone.utc)) -> None:
        self._t = 0.0
        self._start = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._changed = asyncio.Condition()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), fut))
        async with self._changed:
            self._changed.notify_all()
        await fut

    def pending(self) -> list[float]:
        """Wake-up times of everyone sleeping now."""
        return sorted(w for w, _, f in self._sleepers if not f.done())

    async def sleeper_at(self, when: float) -> None:
        """Wait until some task sleeps until exactly `when` (e.g. an offer's ring deadline)."""
        async with self._changed:
            await self._changed.wait_for(lambda: any(abs(w - when) < 1e-9 for w in self.pending()))

    async def advance(self, seconds: float) -> None:
        target = self._t + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            when, _, fut = heapq.heappop(self._sleepers)
            self._t = max(self._t, when)
            if not fut.done():
                fut.set_result(None)
                for _ in range(5):  # let the woken task run up to its next await
                    await asyncio.sleep(0)
        self._t = target


class MemoryLeg:
    _ids = itertools.count(1)

    def __init__(self, endpoint: str, call_uid: str, caller_id: str) -> None:
        self.id = f"leg-{next(self._ids)}"
        self.endpoint = endpoint
        self.call_uid = call_uid
        self.caller_id = caller_id
        loop = asyncio.get_running_loop()
        self._answered: asyncio.Future[LegOutcome] = loop.create_future()
        self._ended: asyncio.Future[str] = loop.create_future()
        self.cancelled = False

    # driven by the test (the "agent")
    def answer(self) -> None:
        if not self._answered.done():
            self._answered.set_result(LegOutcome.ANSWERED)

    def reject(self) -> None:
        self._end_before_answer(LegOutcome.BUSY, "busy")

    def fail(self) -> None:
        self._end_before_answer(LegOutcome.FAILED, "unallocated")

    def hang_up(self, cause: str = "normal") -> None:
        if not self._answered.done():
            self._answered.set_result(LegOutcome.FAILED)
        if not self._ended.done():
            self._ended.set_result(cause)

    def _end_before_answer(self, outcome: LegOutcome, cause: str) -> None:
        if not self._answered.done():
            self._answered.set_result(outcome)
        if not self._ended.done():
            self._ended.set_result(cause)

    @property
    def answered(self) -> bool:
        return self._answered.done() and self._answered.result() is LegOutcome.ANSWERED

    @property
    def ended(self) -> bool:
        return self._ended.done()

    # AgentLeg
    async def wait_answered(self) -> LegOutcome:
        return await asyncio.shield(self._answered)

    async def wait_ended(self) -> str:
        return await asyncio.shield(self._ended)


class MemoryDialer:
    """Legs appear on `rings` as the ACD rings them; endpoints in `unreachable` fail at once."""

    def __init__(self) -> None:
        self.rings: asyncio.Queue[MemoryLeg] = asyncio.Queue()
        self.legs: list[MemoryLeg] = []
        self.bridges: dict[str, tuple[Channel, MemoryLeg]] = {}
        self.unbridged: list[str] = []
        self.unreachable: set[str] = set()
        self._bridge_ids = itertools.count(1)

    async def next_ring(self) -> MemoryLeg:
        return await self.rings.get()

    async def ring(self, endpoint: str, *, call_uid: str, caller_id: str, timeout: float) -> MemoryLeg:
        if endpoint in self.unreachable:
            raise DialError(f"endpoint {endpoint} is not registered")
        leg = MemoryLeg(endpoint, call_uid, caller_id)
        self.legs.append(leg)
        self.rings.put_nowait(leg)
        return leg

    async def cancel(self, leg: AgentLeg) -> None:
        assert isinstance(leg, MemoryLeg)
        leg.cancelled = True
        leg.hang_up("cancelled")

    async def bridge(self, caller: Channel, leg: AgentLeg) -> str:
        assert isinstance(leg, MemoryLeg)
        if caller.hung_up:
            raise ChannelHungUp("caller gone before the bridge")
        bridge_id = f"bridge-{next(self._bridge_ids)}"
        self.bridges[bridge_id] = (caller, leg)
        return bridge_id

    async def unbridge(self, bridge_id: str) -> None:
        self.bridges.pop(bridge_id, None)
        self.unbridged.append(bridge_id)


@dataclass
class FakeChannel:
    """A caller channel: records what was played; `digits` holds scripted key presses."""

    channel_id: str
    caller_number: str = "13800138000"
    ops: list[tuple[str, object]] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    clock: object | None = None  # a FakeClock: collect_digits without scripted digits waits its timeout there
    _hung_up: bool = False

    @property
    def id(self) -> str:
        return self.channel_id

    @property
    def info(self) -> CallerInfo:
        return CallerInfo(channel_id=self.channel_id, caller_number=self.caller_number, protocol="test")

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    def remote_hangup(self) -> None:
        self._hung_up = True

    def _check(self) -> None:
        if self._hung_up:
            raise ChannelHungUp(self.channel_id)

    def played(self) -> list[str]:
        return [m for op, media in self.ops if op == "play" for m in media]  # type: ignore[attr-defined]

    async def answer(self) -> None:
        self._check()
        self.ops.append(("answer", None))

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        self._check()
        self.ops.append(("play", list(media)))
        return None

    async def collect_digits(self, *, max_digits: int, first_timeout: float, inter_timeout: float = 3.0,
                             terminators: str = "#", prompt: Sequence[str] = ()) -> DigitsResult:
        self._check()
        if prompt:
            self.ops.append(("play", list(prompt)))
        if self.digits:
            got = self.digits.pop(0)[:max_digits]
            self.ops.append(("digits", got))
            return DigitsResult(got, timed_out=False)
        if self.clock is not None:
            await self.clock.sleep(first_timeout)  # type: ignore[attr-defined]
        self._check()
        self.ops.append(("digits", ""))
        return DigitsResult("", timed_out=True)

    async def record(self, name: str, *, max_seconds: float, silence_seconds: float = 3.0,
                     beep: bool = True) -> str:
        raise Unsupported("FakeChannel does not record")

    async def start_call_recording(self, name: str) -> RecordingHandle:
        raise Unsupported("FakeChannel does not record")

    async def stop_call_recording(self, handle: RecordingHandle) -> None:
        raise Unsupported("FakeChannel does not record")

    async def set_variable(self, name: str, value: str) -> None:
        self.ops.append(("set", (name, value)))

    async def get_variable(self, name: str) -> str | None:
        return None

    async def hold(self) -> None:
        self._check()
        self.ops.append(("hold", None))

    async def unhold(self) -> None:
        self._check()
        self.ops.append(("unhold", None))

    async def start_moh(self, moh_class: str = "default") -> None:
        self._check()
        self.ops.append(("moh", moh_class))

    async def stop_moh(self) -> None:
        self._check()
        self.ops.append(("moh_stop", None))

    async def ring(self) -> None:
        self._check()
        self.ops.append(("ring", None))

    async def bridge_with(self, other: object) -> str:
        raise Unsupported("use the dialer to bridge")

    async def transfer(self, context: str, extension: str, priority: int = 1) -> None:
        self.ops.append(("transfer", (context, extension, priority)))

    async def continue_in_dialplan(self, context: str | None = None, extension: str | None = None,
                                   priority: int | None = None) -> None:
        self.ops.append(("continue", (context, extension, priority)))

    async def hangup(self, cause: str = "normal") -> None:
        self.ops.append(("hangup", cause))
        self._hung_up = True
