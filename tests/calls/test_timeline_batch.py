"""Timeline.add_events: a burst of events in one transaction keeps the per-call sequence gap-free."""

from __future__ import annotations

import asyncio

from ivr.calls.timeline import Timeline
from ivr.db import Database


async def test_batches_and_single_appends_interleave_without_gaps(db: Database) -> None:
    timeline = Timeline(db)
    call, _ = await timeline.open_call(channel_id="batch-1", protocol="ari")
    results = await asyncio.gather(
        timeline.add_events(call.id, [("dtmf", {"digit": "1"}, None), ("dtmf", {"digit": "2"}, None)]),
        timeline.add_event(call.id, "playback", {"media": "sound:x"}),
        timeline.add_events(call.id, [("hold", None, None)]),
    )
    assert await timeline.add_events(call.id, []) == []
    events = await timeline.events(call.id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]  # "arrived" is 1
    assert sorted([*results[0], results[1], *results[2]]) == [2, 3, 4, 5]
    first, second = results[0]
    assert second == first + 1
    assert [e.data.get("digit") for e in events if e.kind == "dtmf"] == ["1", "2"]
