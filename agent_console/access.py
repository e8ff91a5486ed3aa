"""The access log of the console's reads of personal data (table recording_access).

Every read of a customer record (the screen pop API), a transcript or a recording through the console is one
row: who (agent row), when, what (action + call / recording), and for a refused read why it was refused.
The QA service writes the rows of the reads it allows itself (recordings/privacy.log_access); the console
handlers write the refusals and the reads they serve directly. Screen pops pushed with an offer are not
rows here: the offers table is their record (which agent was offered which call, and when).

A row is written before the data is sent, so a read whose log cannot be written is not served.
"""

from __future__ import annotations

from ivr.db import Database
from ivr.db.models import RecordingAccess, utcnow

from agent_console.auth import Principal

VIEW_POP = "view_pop"
VIEW_TRANSCRIPT = "view_transcript"
PLAY = "play"
SEEK = "seek"


async def log_read(db: Database, who: Principal, action: str, *, call_id: int | None = None,
                   recording_id: int | None = None, refused: str | None = None) -> None:
    """One row: an allowed read (refused=None) or a refused one with the reason."""
    async with db.begin() as s:
        s.add(RecordingAccess(recording_id=recording_id, call_id=call_id, agent_pk=who.agent_pk, action=action[:32],
                              at=utcnow(), allowed=refused is None, refused_reason=(refused or "")[:200]))
