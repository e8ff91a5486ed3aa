"""The notifier: non-blocking publish, per-subscriber bounded queues, filters, clean close."""

from __future__ import annotations

import asyncio

from ivr.calls.notifier import CallNotice, CallNotifier
from tests.plugins.fake_ari import guard


def _n(kind: str, call_id: int = 1) -> CallNotice:
    return CallNotice(kind=kind, call_id=call_id, call_uid=f"uid-{call_id}")


async def test_every_subscriber_gets_every_notice_in_order() -> None:
    notifier = CallNotifier()
    a, b = notifier.subscribe(), notifier.subscribe()
    for kind in ("call_started", "dtmf", "call_ended"):
        notifier.publish(_n(kind))
    for sub in (a, b):
        assert [(await sub.get()).kind for _ in range(3)] == ["call_started", "dtmf", "call_ended"]  # type: ignore[union-attr]
    assert notifier.subscribers == 2


async def test_a_slow_subscriber_loses_the_oldest_and_knows_it() -> None:
    notifier = CallNotifier()
    slow = notifier.subscribe(maxsize=2)
    for i in range(5):
        notifier.publish(_n(f"e{i}"))  # never blocks, whatever the subscriber does
    assert slow.dropped == 3
    got = [await slow.get(), await slow.get()]
    assert [n.kind for n in got if n] == ["e3", "e4"]


async def test_filter_and_close() -> None:
    notifier = CallNotifier()
    only_two = notifier.subscribe(accept=lambda n: n.call_id == 2)
    reader = asyncio.create_task(_collect(only_two))
    notifier.publish(_n("a", 1))
    notifier.publish(_n("b", 2))
    await asyncio.sleep(0)
    only_two.close()
    assert await guard(reader) == ["b"]
    assert notifier.subscribers == 0
    notifier.publish(_n("c", 2))  # nobody listening: fine


async def _collect(sub) -> list[str]:  # type: ignore[no-untyped-def]
    return [n.kind async for n in sub]


async def test_context_manager_and_notifier_close() -> None:
    notifier = CallNotifier()
    async with notifier.subscribe() as sub:
        notifier.publish(_n("x"))
        assert (await sub.get()).kind == "x"  # type: ignore[union-attr]
    assert sub.closed and notifier.subscribers == 0
    other = notifier.subscribe()
    notifier.close()
    assert await other.get() is None
