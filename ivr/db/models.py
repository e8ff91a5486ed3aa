"""The data model. One metadata for SQLite and PostgreSQL; every change goes through an Alembic revision.

Times are stored as UTC. SQLite keeps no zone, so UTCDateTime normalises on the way in and out: code above
this layer always sees aware datetimes.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a member needs no type migration.
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e],
                validate_strings=True)


class Role(enum.StrEnum):
    AGENT = "agent"
    QA = "qa"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    UNIT = "unit"  # a responsible unit's staff (agents.unit_code): their unit's work orders only


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    NOT_READY = "not_ready"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"


class CallState(enum.StrEnum):
    IVR = "ivr"
    QUEUED = "queued"
    OFFERING = "offering"
    TALKING = "talking"
    ENDED = "ended"


class HangupSide(enum.StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    SYSTEM = "system"
    UNKNOWN = "unknown"


class OfferResult(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    CALLER_GONE = "caller_gone"
    FAILED = "failed"


class Utility(enum.StrEnum):
    GAS = "gas"
    WATER = "water"
    HEAT = "heat"


class WorkOrderType(enum.StrEnum):
    CONSULTATION = "consultation"
    EMERGENCY = "emergency"
    REPAIR = "repair"
    SERVICE_APPLICATION = "service_application"
    COMPLAINT = "complaint"
    REPORT = "report"
    OPINION = "opinion"
    SUGGESTION = "suggestion"
    PRAISE = "praise"
    CALLBACK_REQUEST = "callback_request"


class WorkOrderStatus(enum.StrEnum):
    """The life of an order (ivr/workorders/states.py says what may follow what)."""

    NEW = "new"  # 受理
    DISPATCHED = "dispatched"  # 派单: at a responsible unit
    ACCEPTED = "accepted"  # 签收
    IN_PROGRESS = "in_progress"  # 处理中: the unit has reached the caller
    WAITING_CALLER = "waiting_caller"  # 待客户: the completion clock pauses
    RETURNED = "returned"  # 退单: back at the centre with the unit's reason
    REPLIED = "replied"  # 办结: the unit's result
    CALLBACK = "callback"  # 回访: the centre is answering the caller
    CLOSED = "closed"  # 归档


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# --- customers, areas, outages -------------------------------------------------------------------------


class Area(Base):
    __tablename__ = "areas"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(100), default="")


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    area_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    special_care: Mapped[bool] = mapped_column(Boolean, default=False)
    special_care_note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    phones: Mapped[list["CustomerPhone"]] = relationship(back_populates="customer", cascade="all, delete-orphan",
                                                         lazy="selectin")
    accounts: Mapped[list["Account"]] = relationship(back_populates="customer", cascade="all, delete-orphan",
                                                     lazy="selectin")


class CustomerPhone(Base):
    __tablename__ = "customer_phones"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    label: Mapped[str] = mapped_column(String(32), default="")
    customer: Mapped[Customer] = relationship(back_populates="phones")


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True)
    meter_no: Mapped[str] = mapped_column(String(32), default="")
    utility: Mapped[Utility] = mapped_column(_enum(Utility), default=Utility.GAS)
    balance: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    arrears: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(32), default="active")
    customer: Mapped[Customer] = relationship(back_populates="accounts")


class Outage(Base):
    __tablename__ = "outages"
    id: Mapped[int] = mapped_column(primary_key=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    utility: Mapped[Utility] = mapped_column(_enum(Utility), default=Utility.GAS)
    planned: Mapped[bool] = mapped_column(Boolean, default=True)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime | None]
    reason: Mapped[str] = mapped_column(String(300), default="")
    notice: Mapped[str] = mapped_column(Text, default="")  # what the IVR reads to callers from this area
    announced_at: Mapped[dt.datetime | None]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


# --- agents and queues ---------------------------------------------------------------------------------


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(16), unique=True)  # 工号, stated in the greeting
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.AGENT)
    sip_endpoint: Mapped[str | None] = mapped_column(String(64), unique=True)
    skills: Mapped[list[Any]] = mapped_column(default=list)
    team: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[AgentState] = mapped_column(_enum(AgentState), default=AgentState.OFFLINE)
    state_reason: Mapped[str] = mapped_column(String(100), default="")
    state_since: Mapped[dt.datetime] = mapped_column(default=utcnow)
    idle_since: Mapped[dt.datetime | None]  # longest-idle-first ordering
    wrap_up_seconds: Mapped[int] = mapped_column(Integer, default=15)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)  # role unit


class ConsoleSession(Base):
    """One console login. The signed cookie names the row; the row decides whether it still counts, so a
    logout, a disabled account, a changed role or password ends it for every process and across restarts."""

    __tablename__ = "console_sessions"
    sid: Mapped[str] = mapped_column(String(43), primary_key=True)
    agent_pk: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)  # the absolute lifetime
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # written at most once a minute
    address: Mapped[str] = mapped_column(String(64), default="")
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str] = mapped_column(String(32), default="")  # logout / disabled / role / password


class AgentStateChange(Base):
    __tablename__ = "agent_state_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_pk: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    state: Mapped[AgentState] = mapped_column(_enum(AgentState))
    reason: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Queue(Base):
    __tablename__ = "queues"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    skill: Mapped[str] = mapped_column(String(64))
    weight: Mapped[int] = mapped_column(Integer, default=0)  # higher queues are served first
    max_wait_seconds: Mapped[int] = mapped_column(Integer, default=300)
    announce_every_seconds: Mapped[int] = mapped_column(Integer, default=30)


# --- calls ---------------------------------------------------------------------------------------------


def _uuid() -> str:
    return uuid.uuid4().hex


class Call(Base):
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=_uuid)
    channel_id: Mapped[str] = mapped_column(String(128), unique=True)  # Asterisk uniqueid / ARI channel id
    protocol: Mapped[str] = mapped_column(String(8), default="ari")
    caller_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(100), default="")
    dialed: Mapped[str] = mapped_column(String(64), default="")
    flow: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[CallState] = mapped_column(_enum(CallState), default=CallState.IVR)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    skill: Mapped[str] = mapped_column(String(64), default="")
    queue_name: Mapped[str] = mapped_column(String(64), default="", index=True)
    agent_pk: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    queued_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]  # answered by an agent
    ended_at: Mapped[dt.datetime | None]
    ring_seconds_total: Mapped[float] = mapped_column(Float, default=0.0)  # all offers' ringing, for the apology
    hangup_side: Mapped[HangupSide | None] = mapped_column(_enum(HangupSide))
    hangup_cause: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="")  # answered/abandoned/fallback/ivr/voicemail
    category: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    fallback_reason: Mapped[str] = mapped_column(String(300), default="")
    events: Mapped[list["CallEvent"]] = relationship(back_populates="call", order_by="CallEvent.seq",
                                                     cascade="all, delete-orphan")


class CallEvent(Base):
    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_events_call_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    call: Mapped[Call] = relationship(back_populates="events")


class Offer(Base):
    """One attempt to give a queued call to an agent: the ring clock lives here."""

    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    agent_pk: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    ring_started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    result: Mapped[OfferResult] = mapped_column(_enum(OfferResult), default=OfferResult.RINGING)


class Violation(Base):
    __tablename__ = "violations"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent_pk: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(48))  # ring_no_answer, ...
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    detail: Mapped[str] = mapped_column(String(300), default="")


# --- recordings, transcripts, QA -----------------------------------------------------------------------


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("call_id", "direction", name="uq_recordings_call_direction"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(16))  # caller / agent / mixed
    path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), default="")
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the tracks began (the call's answer by the IVR): transcript times count from here, and QA needs
    # them counted from the agent's answer (calls.answered_at). None: the tracks start at the agent's answer.
    started_at: Mapped[dt.datetime | None]
    purged_at: Mapped[dt.datetime | None]


class RecordingAccess(Base):
    __tablename__ = "recording_access"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    agent_pk: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32), default="view")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Refused reads are logged too (who tried what, and why it was refused).
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    refused_reason: Mapped[str] = mapped_column(String(200), default="")


class TranscriptionJob(Base):
    """A lease-based job row: a worker that dies leaves an expired lease another worker takes over."""

    __tablename__ = "transcription_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), unique=True)
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")


class SpeechWorker(Base):
    """A running `hotline worker` says what it is doing, so the QA pages can tell a model that is loading
    from one that is missing or a worker that is not running."""

    __tablename__ = "transcription_workers"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="loading")  # loading / ready
    model: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"
    __table_args__ = (Index("ix_transcript_segments_call_start", "call_id", "start_seconds"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    speaker: Mapped[str] = mapped_column(String(16))  # caller / agent
    start_seconds: Mapped[float] = mapped_column(Float)
    end_seconds: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    words: Mapped[list[Any]] = mapped_column(default=list)


class QaScore(Base):
    __tablename__ = "qa_scores"
    __table_args__ = (UniqueConstraint("call_id", "rubric_version", name="uq_qa_scores_call_rubric"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    rubric_version: Mapped[str] = mapped_column(String(32))
    total: Mapped[float] = mapped_column(Float)
    max_total: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    instant_fail: Mapped[bool] = mapped_column(Boolean, default=False)
    must_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    results: Mapped[list[Any]] = mapped_column(default=list)  # per rule: id, points, passed, evidence
    # Why the call is in the must-review queue (low score, complaint words, instant fail), for the QA page.
    review_reasons: Mapped[list[Any]] = mapped_column(default=list)
    # sha256 of the rubric (and phrase lists) that produced the score: a rubric edited without a new version
    # would silently change scores under the same version, so the scorer refuses to mix them.
    rubric_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Why the call has no verdict (recordings/qa/model.py UNSCORABLE); "" when it has one.
    unscorable: Mapped[str] = mapped_column(String(32), default="")
    # Drawn for the spot-check list (抽检): a passing call a person looks at anyway.
    spot_check: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # Scored from the timeline only: the speech rules wait for the transcript.
    speech_pending: Mapped[bool] = mapped_column(Boolean, default=False)


class QaReview(Base):
    __tablename__ = "qa_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    score_id: Mapped[int] = mapped_column(ForeignKey("qa_scores.id", ondelete="CASCADE"), index=True)
    reviewer_pk: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    rule_id: Mapped[str] = mapped_column(String(64), default="")  # empty: a comment on the whole call
    points: Mapped[float | None] = mapped_column(Float)  # manual override
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PurgeLog(Base):
    __tablename__ = "purge_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(Integer)
    what: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- work orders and callbacks -------------------------------------------------------------------------


class Unit(Base):
    """A responsible unit (责任单位): a repair crew, a pipe-network office, a service hall."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    utility: Mapped[Utility | None] = mapped_column(_enum(Utility))
    handles: Mapped[list[Any]] = mapped_column(default=list)  # work-order types it is the default unit for
    phone: Mapped[str] = mapped_column(String(32), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WorkOrder(Base):
    """An order and the state of its clocks (ivr/workorders/clocks.py computes them, the sweep flips
    clock_state by the indexes below)."""

    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_clock_warn", "clock_state", "clock_warn_at"),
        Index("ix_work_orders_clock_due", "clock_state", "clock_due_at"),
        Index("ix_work_orders_clock_urge", "clock_state", "urge_at"),
        Index("ix_work_orders_clock_escalate", "clock_state", "escalate_at"),
        Index("ix_work_orders_unit_status", "unit_code", "status"),
        Index("ix_work_orders_matter", "matter_key", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[WorkOrderType] = mapped_column(_enum(WorkOrderType))
    status: Mapped[WorkOrderStatus] = mapped_column(_enum(WorkOrderStatus), default=WorkOrderStatus.NEW,
                                                    index=True)
    complaint_level: Mapped[int | None] = mapped_column(Integer)  # 1 major, 2 general, 3 minor
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    owner_pk: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)  # 首问负责
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    source: Mapped[str] = mapped_column(String(16), default="")  # ivr.workorders.OrderSource
    external_ref: Mapped[str | None] = mapped_column(String(64), unique=True)  # the 12345 platform's number
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(Text, default="")  # the unit's reply
    # complaints: what "the same matter" is keyed by (ivr/workorders/matters.py) and the level's reasons
    topic: Mapped[str] = mapped_column(String(64), default="")
    matter_key: Mapped[str] = mapped_column(String(200), default="")
    caller_key: Mapped[str] = mapped_column(String(80), default="")
    complaint_flags: Mapped[list[Any]] = mapped_column(default=list)
    # outage duplicates: calls about one outage attach to its parent order (主工单) and count there
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id", ondelete="SET NULL"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"), index=True)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dispatch_due_at: Mapped[dt.datetime | None]
    dispatched_at: Mapped[dt.datetime | None]  # the first dispatch (the on-time rate counts it)
    accepted_at: Mapped[dt.datetime | None]
    contact_due_at: Mapped[dt.datetime | None]
    contacted_at: Mapped[dt.datetime | None]
    finish_due_at: Mapped[dt.datetime | None]  # moved by pauses and granted extensions
    replied_at: Mapped[dt.datetime | None]
    returned_at: Mapped[dt.datetime | None]
    paused_at: Mapped[dt.datetime | None]  # waiting on the caller since
    finish_paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    reply_due_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    callback_required: Mapped[bool] = mapped_column(Boolean, default=True)
    callback_due_at: Mapped[dt.datetime | None]
    deadlines_estimated: Mapped[bool] = mapped_column(Boolean, default=False)  # a year the calendar lacks
    returns: Mapped[int] = mapped_column(Integer, default=0)
    extensions: Mapped[int] = mapped_column(Integer, default=0)  # granted
    extension_state: Mapped[str] = mapped_column(String(16), default="")  # requested / granted / refused
    extension_until: Mapped[dt.datetime | None]
    extension_reason: Mapped[str] = mapped_column(String(300), default="")
    clock_stage: Mapped[str] = mapped_column(String(16), default="")
    clock_state: Mapped[str] = mapped_column(String(16), default="unset")  # ok/near/overdue/paused/done
    clock_due_at: Mapped[dt.datetime | None]
    clock_warn_at: Mapped[dt.datetime | None]
    urge_at: Mapped[dt.datetime | None]  # 催办 due
    urged_at: Mapped[dt.datetime | None]
    escalate_at: Mapped[dt.datetime | None]
    escalated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    history: Mapped[list[Any]] = mapped_column(default=list)

    __mapper_args__ = {"version_id_col": version}


class WorkOrderTransition(Base):
    """One step of an order's life: what happened, from which state to which, who did it, when and why."""

    __tablename__ = "work_order_transitions"
    __table_args__ = (Index("ix_work_order_transitions_order_at", "order_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(32), default="")
    to_status: Mapped[str] = mapped_column(String(32), default="")
    actor_pk: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64), default="")  # "1001 李晓梅", "system", "12345"
    unit_code: Mapped[str | None] = mapped_column(String(32))  # the unit the order was at, for reports
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CallbackAttempt(Base):
    __tablename__ = "callback_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    scheduled_at: Mapped[dt.datetime]
    attempted_at: Mapped[dt.datetime | None]
    reached: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")
