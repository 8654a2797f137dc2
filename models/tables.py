"""The programme-year ledger (SQLAlchemy 2 declarative tables).

A programme's calendar is compiled for a year into ``programme_years`` →
``milestone_instances`` → ``tasks`` (one per assignee). Everything that happens to a
task is a row: ``status_changes`` (audit trail), ``submissions`` (versions),
``outbox`` (one message to one recipient on one channel, unique deterministic key),
``deliveries`` (each attempt to send an outbox row). ``rollup_values`` hold the
figures the last rollup computed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime

Id = String(80)


class ProgrammeYear(Base):
    __tablename__ = "programme_years"
    __table_args__ = (UniqueConstraint("programme", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(Id)
    year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    calendar_digest: Mapped[str] = mapped_column(String(64), comment="sha256 of the calendar file compiled")
    compiled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the calendar digest, planner rules and working-day sources compiled"
    )

    milestones: Mapped[list[MilestoneInstance]] = relationship(back_populates="programme_year", lazy="raise")


class MilestoneInstance(Base):
    __tablename__ = "milestone_instances"
    __table_args__ = (UniqueConstraint("programme_year_id", "milestone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_year_id: Mapped[int] = mapped_column(ForeignKey("programme_years.id", ondelete="CASCADE"))
    milestone: Mapped[str] = mapped_column(Id)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    form: Mapped[str | None] = mapped_column(Id)
    reminder_policy: Mapped[str | None] = mapped_column(Id)
    opens: Mapped[dt.date | None] = mapped_column(Date)
    nominal_due: Mapped[dt.date] = mapped_column(Date)
    due: Mapped[dt.date] = mapped_column(Date)
    rest_day_rule: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="times the dates moved (iCalendar SEQUENCE)"
    )
    fan_out: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="a fan-out milestone's last inputs (source changes, draw) and the problems its rows had"
    )

    programme_year: Mapped[ProgrammeYear] = relationship(back_populates="milestones", lazy="raise")


class Task(Base):
    """One assignee's obligation for one milestone instance.

    ``due`` is the effective due date for this assignee (an extension moves it;
    ``original_due`` keeps the compiled one)."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("milestone_instance_id", "participant", "item_key"),
        Index("ix_tasks_state_due", "state", "due"),
        Index("ix_tasks_next_step", "programme_year_id", "state", "next_step_at"),
        Index("ix_tasks_opening", "programme_year_id", "state", "opens"),
        Index("ix_tasks_late", "programme_year_id", "state", "due"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_year_id: Mapped[int] = mapped_column(ForeignKey("programme_years.id", ondelete="CASCADE"), index=True)
    milestone_instance_id: Mapped[int] = mapped_column(ForeignKey("milestone_instances.id", ondelete="CASCADE"))
    participant: Mapped[str] = mapped_column(Id)
    state: Mapped[str] = mapped_column(String(20))
    opens: Mapped[dt.date | None] = mapped_column(Date)
    due: Mapped[dt.date] = mapped_column(Date)
    original_due: Mapped[dt.date] = mapped_column(Date)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="the coordinator accepted the latest version")
    accepted_by: Mapped[str | None] = mapped_column(String(120))
    item_key: Mapped[str] = mapped_column(
        String(200), default="", server_default="", comment="a fan-out task's item (its row's key); '' for the others"
    )
    item: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="a fan-out task's snapshot of its row: name, kept columns, the source task and version"
    )
    next_step_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime,
        comment="the earliest instant a reminder step may be queued for this task; NULL: not known (reckon it again)",
    )


class StatusChange(Base):
    """Audit trail: every change of a task's state, with who and why."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("task_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    on_time: Mapped[bool] = mapped_column(Boolean)
    actor: Mapped[str] = mapped_column(String(120))
    source: Mapped[str | None] = mapped_column(Text, comment="file name or channel it came from")
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON, comment="evidence files: name, content type, size, sha256, stored path"
    )


class OutboxMessage(Base):
    """One message to one recipient on one channel.

    ``key`` is deterministic (programme/year/milestone/participant/step/recipient/channel/address),
    so queueing the same reminder twice inserts nothing. A sender claims a row
    (pending → sending, a conditional UPDATE that also checks the task still awaits it)
    and renders ``subject``/``body`` from the task as it is at that moment; they stay
    empty until then. ``params`` holds the facts fixed when the message was queued (a
    chaser's number, the role escalated to, a return's reason, a target's figures)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_outbox_state_not_before", "state", "not_before"),
        Index("ix_outbox_kind_state", "kind", "state", "programme", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)  # None: about a target
    programme: Mapped[str | None] = mapped_column(Id, comment="the programme the message is about (rendered by its calendar)")
    for_due: Mapped[dt.date | None] = mapped_column(Date, comment="the task due date a reminder was queued for")
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="facts fixed at queue time")
    kind: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str] = mapped_column(Id)
    audience: Mapped[str] = mapped_column(String(20), comment="self | head")
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(20), comment="id of the contact address (not the address)")
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, comment="when the step fell due")
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime, comment="after quiet-hours hold and backoff")
    stale_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="not worth sending after this")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id", ondelete="SET NULL"), index=True, comment="an escalation folded into this daily digest"
    )


class Delivery(Base):
    """One attempt to send an outbox row: written before the network call, then its outcome."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str | None] = mapped_column(Text, comment="masked address")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20), comment="models.vocabulary.DELIVERY_OUTCOMES")
    code: Mapped[int | None] = mapped_column(Integer, comment="the server's reply code (SMTP 250, 451, 550, HTTP status)")
    error: Mapped[str | None] = mapped_column(Text, comment="the reply text or the failure, for an ops screen")


class RollupValue(Base):
    __tablename__ = "rollup_values"
    __table_args__ = (UniqueConstraint("programme_year_id", "scope", "metric", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_year_id: Mapped[int] = mapped_column(ForeignKey("programme_years.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Id, comment="'programme' or a participant id")
    metric: Mapped[str] = mapped_column(String(40), comment="on_time_rate | submitted | target | …")
    subject: Mapped[str] = mapped_column(Id, comment="milestone or target id, '*' for all")
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Rating(Base):
    """A coordinator's rating of a participant for a year on one scorecard indicator
    (0–100, with a comment). Rows are kept: the latest counts, the others are history."""

    __tablename__ = "ratings"
    __table_args__ = (Index("ix_ratings_subject", "programme", "year", "participant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(Id)
    year: Mapped[int] = mapped_column(Integer)
    participant: Mapped[str] = mapped_column(Id)
    indicator: Mapped[str] = mapped_column(Id)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text)
    rated_by: Mapped[str] = mapped_column(String(120))
    rated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ExpertDraw(Base):
    """A double-random expert draw (双随机) recorded in the ledger: who visits which
    enterprise, reproducible from the public seed and the inputs' digests. Rows are kept:
    the latest draw of a milestone in a programme year stands (a redraw replaces the
    assignments, and the fan-out retires and opens the experts' tasks to match)."""

    __tablename__ = "expert_draws"
    __table_args__ = (Index("ix_expert_draws_subject", "programme_year_id", "milestone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_year_id: Mapped[int] = mapped_column(ForeignKey("programme_years.id", ondelete="CASCADE"))
    milestone: Mapped[str] = mapped_column(Id)
    seed: Mapped[str] = mapped_column(String(200))
    library_sha256: Mapped[str] = mapped_column(String(64))
    enterprises_sha256: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the public record: assignments, loads, notes")
    drawn_by: Mapped[str] = mapped_column(String(120))
    drawn_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RateLimitWindow(Base):
    """Requests counted per key (a verified link, a client address) per fixed window — in
    the database, so a restart of the web service does not reset them and several
    processes behind a balancer count together."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    hits: Mapped[int] = mapped_column(Integer)


class User(Base):
    """A person who signs in to the console: a coordinator (acts on the programmes given),
    a viewer (reads), an admin (manages users). Every action is recorded under ``username``."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20), comment="models.vocabulary.ROLES")
    programmes: Mapped[list[str]] = mapped_column(JSON, comment="programme ids this user may see; ['*'] for all")
    password_hash: Mapped[str] = mapped_column(String(200), comment="argon2id")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its hash."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A user's token for scripts (``Authorization: Bearer …``), shown once, stored hashed."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Draft(Base):
    """What a bureau typed and saved with 暂存, not submitted: one per task, the form's flat
    text values only (``enterprises.0.name`` → text), bounded and type-checked like a
    submission (``models.drafts``). No state, no message, no count reads it; a submission
    deletes it in its own transaction."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, comment="flat name → the text typed (strings only)")
    saved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    saved_by: Mapped[str] = mapped_column(String(120))
    client: Mapped[str | None] = mapped_column(String(120), comment="the address it came from")
