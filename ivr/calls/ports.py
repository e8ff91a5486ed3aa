"""What the call layer needs from the rooms above it, as protocols: ivr/app.py plugs the implementations in
(recordings.store.RecordingStore for recordings), so the call layer never imports upward."""

from __future__ import annotations

import datetime as dt
from typing import Collection, Protocol, Sequence

from ivr.channel import Direction, RecordingHandle


class StoredTrack(Protocol):
    """One finished file of a call's recording, as the journal records it."""

    @property
    def direction(self) -> Direction: ...

    @property
    def path(self) -> object: ...

    @property
    def sha256(self) -> str: ...

    @property
    def duration_seconds(self) -> float: ...

    @property
    def size_bytes(self) -> int: ...


class QueueRequestLike(Protocol):
    """What a flow hands over when it wants a person (ivr.engine.context.QueueRequest has these): the ACD
    queues it on ARI, app_queue on AGI (with the call id, see ivr/calls/agi/queue.py)."""

    @property
    def queue(self) -> str: ...

    @property
    def skill(self) -> str: ...

    @property
    def priority(self) -> int: ...


class RecordingSink(Protocol):
    async def register(self, call_id: int, handle: RecordingHandle,
                       started_at: dt.datetime | None = None) -> None:
        """Rows for tracks that have just started recording."""
        ...

    async def finalize(self, call_id: int, handle: RecordingHandle) -> Sequence[StoredTrack]:
        """The call is over and Asterisk has closed the files: archive, hash, measure, queue transcription."""
        ...

    async def finalize_pending(self, exclude_calls: Collection[int] = (), *,
                               ended_before: dt.datetime | None = None) -> int:
        """Complete recordings whose finalize never ran (a restart, AGI calls); returns how many."""
        ...
