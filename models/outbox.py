"""The outbox: queue messages, claim them, send them, record what happened.

A row is one message to one address. Queueing (``models.enqueue``) is a set-based insert
of rows with a deterministic key: a second run inserts nothing. Sending is ``dispatch``:

1. **Claim** (one transaction per batch): lock due rows (``SKIP LOCKED`` on PostgreSQL;
   SQLite serialises writers), lock their tasks for share (a concurrent submission or
   exemption commits first or waits), drop rows the task no longer needs — submitted,
   exempted, no longer (or not yet) late, or moved to another due date by an extension
   — and mark the rest ``sending`` with a claim token, in an UPDATE that re-checks the
   same conditions. The text is rendered now, from the task as it is, and stored.
2. **Send** each claimed row with a hard deadline shorter than the claim's lease; a
   ``deliveries`` row is written before the call.
3. **Record** the outcome only if the claim is still this sender's (``claimed_by`` =
   its token and the row still ``sending``): a send that outlived its lease cannot undo
   another sender's delivery.

Outcomes: accepted → ``sent``; permanent failure (SMTP 5xx, no contact) → ``dead`` at
once; transient failure (SMTP 4xx, refused connection, no answer in time) → back to
``pending`` after a backoff, for as long as the message is worth sending (its
``stale_at``; a week for messages that never go stale), then ``dead``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from . import activity as A
from . import vocabulary as V
from .db import affected
from .ledger import LoadedProgramme
from .claims import claimable, skip_obsolete
from .digests import digest_context, digest_outcome, fold_digests
from .messages import claim_time_context, target_context
from .tables import Delivery, MilestoneInstance, OutboxMessage, ProgrammeYear, Task
from .timeline import WorkdayCalendar, minute, now, span

log = logging.getLogger("yearwheel.outbox")

LEASE = dt.timedelta(minutes=10)  # a claim older than this belongs to a sender that died
SEND_DEADLINE = dt.timedelta(seconds=60)  # every send ends within this, well inside the lease
GIVE_UP_AFTER = dt.timedelta(days=7)  # transient failures of a message that never goes stale
BACKOFF_FIRST, BACKOFF_MAX = dt.timedelta(minutes=5), dt.timedelta(hours=1)


class DeliveryError(Exception):
    """A send failed. ``permanent``: retrying cannot help (SMTP 5xx, no contact, no
    secret). ``ambiguous``: the server may have taken the message (no answer before the
    deadline, connection lost after the data). ``code``: the server's reply code."""

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None, ambiguous: bool = False):
        super().__init__(message)
        self.permanent, self.code, self.ambiguous = permanent, code, ambiguous


@dataclass(frozen=True)
class Envelope:
    """What a sender needs for one row: where, what, and the headers that identify it."""

    recipient: str
    audience: str
    channel: str
    address: str | None
    subject: str
    body: str
    message_key: str  # sha256 of the outbox key: a stable Message-ID across retries
    sent_at: dt.datetime  # the Date of the message
    deadline: float  # seconds: the send must end by then, answered or not


@dataclass(frozen=True)
class Receipt:
    target: str  # the address, masked
    code: int | None = None  # the server's reply code
    reply: str | None = None


class Messenger(Protocol):
    """Who can be reached how, the text, when held messages may go, and sending."""

    def routes(self, participant: str, audience: str) -> tuple[tuple[str, str], ...]:
        """(channel, address id) for every address of the recipient."""

    def render(self, context: dict[str, Any], channel: str) -> tuple[str, str]: ...

    def release_time(self, channel: str, at: dt.datetime) -> dt.datetime: ...

    def send(self, envelope: Envelope) -> Receipt: ...


# --------------------------------------------------------------------------- dispatch


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0  # transient; will be retried
    dead: int = 0  # permanent, or transient until the message went stale
    skipped: int = 0  # stale, or the task no longer awaits it
    reclaimed: int = 0  # claims of a crashed sender returned to the queue
    claim_lost: int = 0  # sends that finished after their claim expired (outcome not recorded)
    errors: list[str] = field(default_factory=list)
    next_retry_at: dt.datetime | None = None  # the earliest retry this run scheduled

    def as_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("sent", "failed", "dead", "skipped", "reclaimed", "claim_lost", "errors")}
        out["next_retry_at"] = self.next_retry_at.isoformat() if self.next_retry_at else None
        return out


def backoff(attempts: int) -> dt.timedelta:
    """5 min, 10, 20, 40, then hourly."""
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def dispatch(
    sessions: sessionmaker,
    messenger: Messenger,
    *,
    programmes: dict[str, LoadedProgramme],
    cal: WorkdayCalendar,
    at: dt.datetime,
    workers: int = 8,
    runner: str | None = None,
    lease_clock: Callable[[], dt.datetime] = now,
    stamp_clock: Callable[[], dt.datetime] | None = None,
) -> DispatchReport:
    """Send every outbox row of ``programmes`` that is due by ``at``.

    Claims are stamped with ``lease_clock`` — the real clock, even when ``at`` replays
    another instant: a lease is about whether a sender process is alive. Deliveries and
    messages are stamped with ``stamp_clock`` (default the real clock; the simulation
    passes its simulated instant so its mail reads as the year it simulates)."""
    runner = runner or f"dispatch-{uuid.uuid4().hex[:12]}"
    stamp = stamp_clock or lease_clock
    report = DispatchReport()
    ids_scope = OutboxMessage.programme.in_(list(programmes))
    with sessions.begin() as s:
        expired = list(
            s.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.state == V.SENDING, OutboxMessage.claimed_at < lease_clock() - LEASE)
                .values(state=V.PENDING, claimed_by=None, last_error="claim expired: the sender stopped mid-send")
                .returning(OutboxMessage.id)
            )
        )
        report.reclaimed = len(expired)
        if expired:
            log.warning(
                "reclaimed %d message(s) whose sender stopped mid-send (claimed over %s ago): ids %s",
                len(expired),
                span(LEASE),
                expired[:20],
            )
        report.skipped += skip_obsolete(s)
        report.skipped += affected(
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == V.PENDING, OutboxMessage.stale_at.is_not(None), OutboxMessage.stale_at <= at)
                .values(state=V.SKIPPED, last_error="not sent: held or retried past the time it was worth sending")
            )
        )
    deadline = min(SEND_DEADLINE, LEASE / 2).total_seconds()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            token = f"{runner}/{uuid.uuid4().hex[:8]}"
            claimed, skipped = _claim(sessions, messenger, programmes, cal, ids_scope, at, workers, token, lease_clock())
            report.skipped += skipped
            if not claimed:
                if skipped:
                    continue
                break
            log.info("claimed %d message(s) as %s", len(claimed), token)
            for outcome, error, retry_at in pool.map(
                lambda row, token=token: _send_one(sessions, messenger, row, token, at, deadline, stamp), claimed
            ):
                if outcome == V.SENT:
                    report.sent += 1
                elif outcome == V.DEAD:
                    report.dead += 1
                    report.errors.append(error)
                elif outcome == V.CLAIM_LOST:
                    report.claim_lost += 1
                else:
                    report.failed += 1
                    report.errors.append(error)
                    if retry_at and (report.next_retry_at is None or retry_at < report.next_retry_at):
                        report.next_retry_at = retry_at
    return report


def _claim(
    sessions: sessionmaker,
    messenger: Messenger,
    programmes: dict[str, LoadedProgramme],
    cal: WorkdayCalendar,
    scope: Any,
    at: dt.datetime,
    batch: int,
    token: str,
    claimed_at: dt.datetime,
) -> tuple[list[dict[str, Any]], int]:
    with sessions.begin() as s:
        picked = s.execute(
            select(OutboxMessage.id, OutboxMessage.task_id)
            .where(
                OutboxMessage.state == V.PENDING,
                OutboxMessage.not_before <= at,
                OutboxMessage.kind.not_in(V.NOT_SENT_ALONE),
                scope,
            )
            .order_by(OutboxMessage.not_before, OutboxMessage.id)
            .limit(batch)
            # PostgreSQL: a concurrent dispatcher skips the rows this one is claiming
            # and takes the next ones instead of queueing behind them (SQLite ignores it).
            .with_for_update(skip_locked=True)
        ).all()
        if not picked:
            return [], 0
        ids = [i for i, _ in picked]
        task_ids = sorted({t for _, t in picked if t is not None})
        if task_ids:
            # A submission or exemption of these tasks that is under way commits first (or
            # waits for this claim): what is checked below is what is true when it is sent.
            s.execute(select(Task.id).where(Task.id.in_(task_ids)).with_for_update(read=True)).all()
        skipped = skip_obsolete(s, ids)
        skipped += affected(
            s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.state == V.PENDING,
                    OutboxMessage.stale_at.is_not(None),
                    OutboxMessage.stale_at <= at,
                )
                .values(state=V.SKIPPED, last_error="not sent: held or retried past the time it was worth sending")
            )
        )
        # The state condition makes the claim safe against a concurrent dispatcher: on
        # PostgreSQL the second UPDATE waits for the first to commit, re-checks the row and
        # finds it no longer pending; on SQLite writers are serialised (BEGIN IMMEDIATE).
        # The task condition is checked again in the same statement.
        rows = [
            dict(r)
            for r in s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.state == V.PENDING, claimable())
                .values(state=V.SENDING, claimed_by=token, claimed_at=claimed_at, attempts=OutboxMessage.attempts + 1)
                .returning(
                    OutboxMessage.id,
                    OutboxMessage.key,
                    OutboxMessage.programme,
                    OutboxMessage.task_id,
                    OutboxMessage.kind,
                    OutboxMessage.step,
                    OutboxMessage.recipient,
                    OutboxMessage.audience,
                    OutboxMessage.channel,
                    OutboxMessage.address,
                    OutboxMessage.params,
                    OutboxMessage.attempts,
                    OutboxMessage.stale_at,
                    OutboxMessage.created_at,
                )
                .execution_options(synchronize_session=False)
            ).mappings()
        ]
        empty = fold_digests(s, rows, at)
        if empty:
            s.execute(
                update(OutboxMessage),
                [
                    {
                        "id": i,
                        "state": V.SKIPPED,
                        "claimed_by": None,
                        "last_error": "not sent: every escalation it would list was settled first",
                    }
                    for i in empty
                ],
            )
            rows = [r for r in rows if r["id"] not in empty]
            skipped += len(empty)
        broken = _render(s, rows, messenger, programmes, cal, at)  # counted as of the run's instant
        if rows:
            s.execute(update(OutboxMessage), [{"id": r["id"], "subject": r["subject"], "body": r["body"]} for r in rows])
        if broken:
            s.execute(
                update(OutboxMessage),
                [{"id": i, "state": V.DEAD, "claimed_by": None, "last_error": why} for i, why in broken.items()],
            )
            for r in rows:
                if r["id"] in broken:
                    digest_outcome(s, r, sent=False, why=f"its daily digest could not be written: {broken[r['id']]}")
            log.error("could not write %d message(s): %s", len(broken), "; ".join(list(broken.values())[:5]))
        return [r for r in rows if r["id"] not in broken], skipped + len(broken)


def _render(
    s: Session,
    rows: list[dict[str, Any]],
    messenger: Messenger,
    programmes: dict[str, LoadedProgramme],
    cal: WorkdayCalendar,
    at: dt.datetime,
) -> dict[int, str]:
    """Write each claimed row's subject and body, from its task as it is now. Returns the
    rows that could not be written (id → why): they are dead, the others go on."""
    task_ids = {r["task_id"] for r in rows if r["task_id"] is not None}
    facts = (
        {
            t.id: (t, mi, py)
            for t, mi, py in s.execute(
                select(Task, MilestoneInstance, ProgrammeYear)
                .join(MilestoneInstance, Task.milestone_instance_id == MilestoneInstance.id)
                .join(ProgrammeYear, Task.programme_year_id == ProgrammeYear.id)
                .where(Task.id.in_(task_ids))
            )
        }
        if task_ids
        else {}
    )
    texts: dict[tuple, tuple[str, str] | str] = {}  # the text, or why it could not be written
    broken: dict[int, str] = {}
    for r in rows:
        # each digest lists its own escalations: its text is its own
        same: tuple = (r["task_id"], r["kind"], r["step"], r["recipient"], r["audience"], r["channel"], r["programme"])
        if r["kind"] == V.DIGEST:
            same += (r["id"],)
        if same not in texts:
            try:
                if r["kind"] == V.DIGEST:
                    prog = programmes[r["programme"]]
                    ctx = digest_context(s, r, prog, cal.for_spec(prog.spec), at)
                elif r["task_id"] is None:
                    ctx = target_context(r["params"] or {})
                else:
                    task, mi, py = facts[r["task_id"]]
                    ctx = claim_time_context(
                        programmes[py.programme],
                        py,
                        mi,
                        task,
                        r["kind"],
                        r["params"],
                        cal=cal.for_spec(programmes[py.programme].spec),
                        at=at,
                    )
                texts[same] = messenger.render(ctx, r["channel"])
            except Exception as exc:  # noqa: BLE001 — one bad message must not stop the others
                texts[same] = f"not sent: its text could not be written ({type(exc).__name__}: {exc})"
        text = texts[same]
        if isinstance(text, str):
            broken[r["id"]] = text
            r["subject"] = r["body"] = ""
        else:
            r["subject"], r["body"] = text
    return broken


def _delivery_fact(row: dict[str, Any], outcome: str, at: dt.datetime, error: str | None = None) -> A.Fact:
    details = {k: row[k] for k in ("kind", "recipient", "audience", "channel", "programme", "attempts")}
    return A.Fact("message", outcome, at, row["task_id"], row["id"], details={**details, "error": error})


def _send_one(
    sessions: sessionmaker,
    messenger: Messenger,
    row: dict[str, Any],
    token: str,
    at: dt.datetime,
    deadline: float,
    stamp: Callable[[], dt.datetime],
) -> tuple[str, str, dt.datetime | None]:
    """Send one claimed row: (outcome, error line, when it will be retried)."""
    with sessions.begin() as s:
        delivery = Delivery(outbox_id=row["id"], channel=row["channel"], started_at=stamp(), outcome=V.STARTED)
        s.add(delivery)
        s.flush()
        delivery_id = delivery.id
    envelope = Envelope(
        recipient=row["recipient"],
        audience=row["audience"],
        channel=row["channel"],
        address=row["address"],
        subject=row["subject"],
        body=row["body"],
        message_key=hashlib.sha256(row["key"].encode()).hexdigest()[:40],
        sent_at=stamp(),
        deadline=deadline,
    )
    mine = (OutboxMessage.id == row["id"], OutboxMessage.state == V.SENDING, OutboxMessage.claimed_by == token)
    try:
        receipt = messenger.send(envelope)
    except Exception as exc:  # noqa: BLE001 — every failure is recorded, none lost
        permanent = bool(getattr(exc, "permanent", False))
        ambiguous = bool(getattr(exc, "ambiguous", False))
        reason = str(exc) if isinstance(exc, DeliveryError) or hasattr(exc, "permanent") else f"{type(exc).__name__}: {exc}"
        finished = stamp()
        # retries are scheduled on the run's clock (``at``), like everything the queue decides
        retry_at = at + backoff(row["attempts"])
        give_up_at = row["stale_at"] or (row["created_at"] + GIVE_UP_AFTER)
        dead = permanent or retry_at >= give_up_at
        outcome = V.FAILED_PERMANENT if permanent else V.TIMED_OUT if ambiguous else V.FAILED
        note = reason if not dead or permanent else f"{reason} — gave up: it would no longer be worth sending at the next try"
        with sessions.begin() as s:
            won = affected(
                s.execute(
                    update(OutboxMessage)
                    .where(*mine)
                    .values(state=V.DEAD if dead else V.PENDING, last_error=note, claimed_by=None, not_before=retry_at)
                )
            )
            if won and dead:
                digest_outcome(s, row, sent=False, why=f"its daily digest could not be sent: {note}")
            if won:
                A.note(s, _delivery_fact(row, V.DEAD if dead else V.FAILED, finished, error=note))
            s.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    finished_at=finished, outcome=outcome if won else V.CLAIM_LOST, error=reason, code=getattr(exc, "code", None)
                )
            )
        who = f"{row['recipient']} {row['channel']}"
        if not won:
            log.warning("%s: failed after its claim expired (another sender owns it now): %s", who, reason)
            return V.CLAIM_LOST, f"{who}: {reason}", None
        if permanent:
            log.warning("%s: permanent: %s", who, reason)
        elif dead:
            log.warning("%s: gave up: %s", who, reason)
        else:
            log.warning("%s: will retry in %s (at %s): %s", who, span(retry_at - at), minute(retry_at), reason)
        return (V.DEAD if dead else V.FAILED), f"{who}: {reason}", (None if dead else retry_at)
    finished = stamp()
    with sessions.begin() as s:
        won = affected(s.execute(update(OutboxMessage).where(*mine).values(state=V.SENT, sent_at=finished, last_error=None)))
        if won:
            digest_outcome(s, row, sent=True)
            A.note(s, _delivery_fact(row, V.SENT, finished))
            if row["kind"] == V.ESCALATION and row["task_id"] is not None:
                A.note(s, A.Fact("task", A.ESCALATED, finished, row["task_id"], details={"recipient": row["recipient"]}))
        s.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(
                finished_at=finished,
                outcome=V.DELIVERED if won else V.CLAIM_LOST,
                target=receipt.target,
                code=receipt.code,
                error=None if won else "sent after this sender's claim had expired",
            )
        )
    if not won:
        log.warning("%s %s: sent after its claim expired (another sender may send it too)", row["recipient"], row["channel"])
        return V.CLAIM_LOST, "", None
    return V.SENT, "", None
