"""`agi://host/hangup`: a site's hangup handler tells us the call ended and who ended it.

For calls whose row nobody else closes: lookup-only calls (the site's own dialplan queues them) and AGI flow
calls that left AGI for app_queue or the dialplan fallback. Put it in a hangup handler,

    Set(CHANNEL(hangup_handler_push)=hotline-agi-hangup,s,1)     ; early, in the site's inbound context
    [hotline-agi-hangup] exten => s,1,AGI(agi://127.0.0.1:4573/hangup) same => n,Return()

or in `exten => h,1,AGI(agi://127.0.0.1:4573/hangup)` of the context the call ends in. It runs on the dead
channel, where GET VARIABLE still answers. Who hung up comes from ${CHANNEL(hangupsource)}, compared with
this channel's own name; what Asterisk 22 reports (checked against the real one, tests/agi):

  the channel itself                       a SIP caller's BYE                        -> caller
  empty, on a Local channel                its other half went away (the upstream)   -> caller
  dialplan/builtin                         Hangup() in a dialplan (after the message) -> system
  <MEMBERINTERFACE>-<seq>                  the answering queue member's BYE          -> agent
  another channel, after an answer         a Dial()ed party, a transferee            -> agent
  anything else                                                                      -> unknown
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import select

from ivr.agi.connection import AgiConnection
from ivr.agi.parser import AgiEnvironment
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Agent, HangupSide

log = logging.getLogger(__name__)

# Asterisk's own texts (main/causes.c, ast_cause2str), as ARI reports them in cause_txt.
Q850 = {
    0: "Not defined", 1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy",
    18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
    27: "Destination out of order", 28: "Invalid number format (incomplete number)", 31: "Normal, unspecified",
    34: "Circuit/channel congestion", 38: "Network out of order", 41: "Temporary failure",
    42: "Switching equipment congestion", 102: "Recovery on timer expiry", 127: "Interworking, unspecified",
}
# What the handler reads; each is one GET VARIABLE round trip on the dead channel.
VARIABLES = ("HANGUPCAUSE", "CHANNEL(hangupsource)", "MEMBERINTERFACE", "DIALSTATUS", "QUEUESTATUS",
             "HOTLINE_FALLBACK_REASON", "HOTLINE_MESSAGE")


@dataclass(frozen=True)
class HangupFacts:
    channel: str  # this channel's name (agi_channel)
    source: str = ""  # ${CHANNEL(hangupsource)}
    cause: str = ""  # ${HANGUPCAUSE}, a Q.850 number
    member: str = ""  # ${MEMBERINTERFACE}: the queue member that answered (setinterfacevar=yes)
    dial_status: str = ""
    queue_status: str = ""
    fallback_reason: str = ""
    message: str = ""

    @property
    def answered(self) -> bool:
        return bool(self.member) or self.dial_status == "ANSWER"

    @property
    def side(self) -> HangupSide:
        return hangup_side(self.source, self.channel, member=self.member, answered=self.answered)

    @property
    def cause_text(self) -> str:
        try:
            code = int(self.cause)
        except ValueError:
            return self.cause[:64]
        return Q850.get(code, f"cause {code}")

    @property
    def agent_endpoint(self) -> str:
        """The answering member's endpoint name (PJSIP/agent-1001 -> agent-1001), or ""."""
        return self.member.partition("/")[2] if self.member else ""


def _local_pair(name: str) -> str:
    # Local/95598@ctx-0000002a;1 and ;2 are one call seen from its two ends.
    if name.startswith("Local/") and name[-2:] in (";1", ";2"):
        return name[:-2]
    return name


def hangup_side(source: str, channel: str, *, member: str = "", answered: bool = False) -> HangupSide:
    if source == channel:
        return HangupSide.CALLER
    if not source:
        return HangupSide.CALLER if channel.startswith("Local/") else HangupSide.UNKNOWN
    if source.startswith("Local/") and _local_pair(source) == _local_pair(channel):
        return HangupSide.CALLER
    if source.startswith("dialplan/"):
        return HangupSide.SYSTEM
    if member and source.startswith(member + "-"):
        return HangupSide.AGENT
    return HangupSide.AGENT if answered else HangupSide.UNKNOWN


async def read_facts(conn: AgiConnection, env: AgiEnvironment) -> HangupFacts:
    values: dict[str, str] = {}
    for name in VARIABLES:
        reply = await conn.execute("GET VARIABLE", name, failure=())
        values[name] = (reply.data or "") if reply.result == "1" else ""
    return HangupFacts(channel=env.channel, source=values["CHANNEL(hangupsource)"], cause=values["HANGUPCAUSE"],
                       member=values["MEMBERINTERFACE"], dial_status=values["DIALSTATUS"],
                       queue_status=values["QUEUESTATUS"], fallback_reason=values["HOTLINE_FALLBACK_REASON"],
                       message=values["HOTLINE_MESSAGE"])


# What the AGI flow session writes when it sees the hang-up: AGI's HANGUP notice carries no cause.
SESSION_HANGUP_CAUSE = "hangup"


async def close_from_hangup(db: Database, uniqueid: str, facts: HangupFacts) -> int | None:
    """Close the call row of this channel with the side and cause; the row's id, or None if nothing to close.
    A row the flow session already closed gets the real Q.850 cause it could not know."""
    timeline = Timeline(db)
    call = await timeline.by_channel(uniqueid)
    if call is None:
        return None  # not ours
    if call.ended_at is not None:
        if call.protocol != "agi" or call.hangup_cause != SESSION_HANGUP_CAUSE or not facts.cause:
            return None  # closed by ARI, or already with its cause
        await timeline.update(call.id, hangup_cause=facts.cause_text)
        await timeline.add_event(call.id, "agi_hangup", _event(facts))
        return call.id
    fields: dict[str, object] = {}
    if facts.answered and facts.agent_endpoint and call.agent_pk is None:
        async with db.session() as s:
            agent_pk = (await s.execute(select(Agent.id).where(Agent.sip_endpoint == facts.agent_endpoint))
                        ).scalar_one_or_none()
        if agent_pk is not None:
            fields["agent_pk"] = agent_pk
    if fields:
        await timeline.update(call.id, **fields)
    await timeline.add_event(call.id, "agi_hangup", _event(facts))
    closed = await timeline.close_call(call.id, side=facts.side, cause=facts.cause_text,
                                       outcome="answered" if facts.answered else None)
    return call.id if closed else None


class HangupHandler:
    def __init__(self, db: Database | None, *, db_timeout: float = 3.0) -> None:
        self.db = db
        self.db_timeout = db_timeout

    async def handle(self, conn: AgiConnection, env: AgiEnvironment) -> tuple[HangupFacts, int | None]:
        facts = await read_facts(conn, env)
        if self.db is None:
            return facts, None
        try:
            async with asyncio.timeout(self.db_timeout * 2):  # up to four small writes
                call_id = await close_from_hangup(self.db, env.uniqueid, facts)
        except Exception as exc:  # the call is over either way; resync or a sweeper can close the row later
            log.warning("agi hangup %s: could not close the call row: %s: %s", env.uniqueid, type(exc).__name__,
                        exc or "timed out")
            return facts, None
        return facts, call_id


def _event(facts: HangupFacts) -> dict[str, str]:
    return {"side": facts.side.value, "source": facts.source[:128], "cause": facts.cause[:16],
            "member": facts.member[:128], "dial_status": facts.dial_status[:32], "queue_status": facts.queue_status[:32],
            "fallback_reason": facts.fallback_reason[:64], "message": facts.message[:256]}
