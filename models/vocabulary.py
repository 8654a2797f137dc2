"""The words the engine uses, in one place: message kinds, outbox states, delivery
outcomes, and the outbox's allowed transitions (as data, like the task states in
``models.states``).
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- message kinds

OPENED = "opened"  # the task opened: what, by when
UPCOMING = "upcoming"  # N working days left
DUE_TODAY = "due_today"  # the due day itself (a working day)
LAST_WORKDAY = "last_workday"  # the last working day before a due date that lies on a rest day
OVERDUE = "overdue"  # a chaser after the due date
ESCALATION = "escalation"  # to a role (a unit's head, the coordinator)
ACKNOWLEDGEMENT = "acknowledgement"  # a submission was received
RETURNED = "returned"  # sent back for revision, with the reason
DUE_CHANGED = "due_changed"  # 截止日期调整: an extension or a changed calendar moved the due date
TARGET_BEHIND = "target_behind"  # a target behind its pace, to its owner (no task)
DIGESTED_ESCALATION = "escalation_item"  # an escalation under a digest policy: not sent alone, folded into a DIGEST
DIGEST = "digest"  # one a day per recipient and channel: every task escalated to them (no task)
BULLETIN = "bulletin"  # the monthly bulletin, to the roles the calendar names (no task)


@dataclass(frozen=True)
class MessageKind:
    id: str
    zh: str  # what a coordinator calls it
    # what the task must still be when a queued row is claimed: "pre_due" (open or returned, not late),
    # "late" (overdue), "awaiting" (any of those) or None (nothing: the message stands on its own)
    needs: str | None
    follows_due: bool  # only worth sending while the task's due date is the one it was queued for
    link: bool  # the bureau's own message: carries the signed intake link


KINDS: dict[str, MessageKind] = {
    k.id: k
    for k in (
        MessageKind(OPENED, "任务开启通知", "pre_due", True, True),
        MessageKind(UPCOMING, "临期提醒", "pre_due", True, True),
        MessageKind(DUE_TODAY, "今日截止提醒", "pre_due", True, True),
        MessageKind(LAST_WORKDAY, "截止前最后工作日提醒", "pre_due", True, True),
        MessageKind(OVERDUE, "逾期催办", "late", True, True),
        MessageKind(ESCALATION, "逾期上报", "late", True, False),
        MessageKind(ACKNOWLEDGEMENT, "收到回执", None, False, False),
        MessageKind(RETURNED, "退回修改通知", "awaiting", False, True),  # moot once resubmitted or retired
        MessageKind(DUE_CHANGED, "截止日期调整", "awaiting", True, True),
        MessageKind(TARGET_BEHIND, "目标进度滞后", None, False, False),
        MessageKind(DIGESTED_ESCALATION, "逾期上报（汇入每日汇总）", "late", True, False),
        MessageKind(DIGEST, "逾期上报每日汇总", None, False, False),
        MessageKind(BULLETIN, "月度通报", None, False, False),
    )
}
STEP_KINDS = (OPENED, UPCOMING, DUE_TODAY, LAST_WORKDAY, OVERDUE, ESCALATION)  # from a reminder policy
PRE_DUE_KINDS = tuple(k for k, v in KINDS.items() if v.needs == "pre_due")
AWAITING_KINDS = tuple(k for k, v in KINDS.items() if v.needs == "awaiting")
LATE_KINDS = tuple(k for k, v in KINDS.items() if v.needs == "late")
FOLLOWS_DUE_KINDS = tuple(k for k, v in KINDS.items() if v.follows_due)
LINK_KINDS = tuple(k for k, v in KINDS.items() if v.link)
NOT_SENT_ALONE = (DIGESTED_ESCALATION,)  # claimed only as part of a digest

# --------------------------------------------------------------------------- the outbox

PENDING = "pending"  # waiting for its time (not_before), or for a retry
SENDING = "sending"  # claimed by one sender; its claim token is in claimed_by
SENT = "sent"  # the server accepted it
DEAD = "dead"  # given up: a permanent failure, or transient ones until the step went stale
SKIPPED = "skipped"  # never sent, on purpose: stale, or the task no longer awaits it
DIGESTED = "digested"  # an escalation that went out inside a digest (its digest_id names which)

OUTBOX_STATES = (PENDING, SENDING, SENT, DEAD, SKIPPED, DIGESTED)

OUTBOX_ALLOWED: dict[str, frozenset[str]] = {
    # dead straight from pending: an escalation whose daily digest was given up
    PENDING: frozenset({SENDING, SKIPPED, DIGESTED, DEAD}),
    # back to pending: a transient failure (retried after a backoff) or an expired claim
    SENDING: frozenset({SENT, PENDING, DEAD}),
    SENT: frozenset(),
    DEAD: frozenset(),
    SKIPPED: frozenset(),
    DIGESTED: frozenset(),
}

# --------------------------------------------------------------------------- deliveries (one row per attempt)

STARTED = "started"  # written before the network call
DELIVERED = "sent"
FAILED = "failed"  # transient (SMTP 4xx, connection refused, …): retried
FAILED_PERMANENT = "failed_permanent"  # SMTP 5xx, no contact, missing secret: not retried
TIMED_OUT = "timed_out"  # no answer before the send's deadline: the server may have taken it
CLAIM_LOST = "claim_lost"  # finished after this sender's claim expired: another sender owns the row

DELIVERY_OUTCOMES = (STARTED, DELIVERED, FAILED, FAILED_PERMANENT, TIMED_OUT, CLAIM_LOST)


# --------------------------------------------------------------------------- console roles

COORDINATOR = "coordinator"  # acts on the programmes given to them
VIEWER = "viewer"  # leaders, the leading group: reads everything given, acts on nothing
ADMIN = "admin"  # manages users (and reads every programme)
ROLES = {COORDINATOR: "协调人", VIEWER: "查看者", ADMIN: "管理员"}
