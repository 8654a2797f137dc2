"""Prefect events from the ledger: what happened to each task and message, so that
Prefect's Event Feed, filtered by a participant or a milestone, is the live activity log
and Automations have something to hang on (``automations/``).

The ledger notes its facts on the session (:mod:`models.activity`); after each commit
they are queued here, and :meth:`EventRelay.flush` — at the end of each use case, when
many are queued, and when the runtime closes — names them in one query and hands them to
Prefect's events client, which sends them in batches from its own thread. A rolled-back
change is never told; no Prefect API (or an unreachable one) never stops the engine: the
events are dropped with a warning in the log.

Events (names in :data:`EVENT_PREFIX`): ``yearwheel.task.<state>`` (``open``, ``overdue``,
``submitted``, ``returned``, ``exempted``, ``retired``, ``waiting``) and
``yearwheel.task.<event>`` (``resubmitted``, ``accepted``, ``extended``, ``rescheduled``,
``item-changed``, ``escalated``) on resource ``yearwheel.task.<id>``;
``yearwheel.delivery.<outcome>`` (``sent``, ``failed``, ``dead``) on ``yearwheel.message.<id>``;
``yearwheel.programme-year.overdue-threshold`` on ``yearwheel.programme-year.<programme>.<year>``
(the calendar's ``overdue_alert``).
Related resources: the programme-year, the milestone, the participant (and the task, for
a message), each with its Chinese name.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from models import activity as A
from models import states as S
from models import vocabulary as V
from models.fanout import titled
from models.ledger import LoadedProgramme
from models.tables import MilestoneInstance, ProgrammeYear, Task

log = logging.getLogger("yearwheel.events")

EVENT_PREFIX = "yearwheel"
FLUSH_AT = 2000  # facts queued before a flush happens on its own
OUTCOMES_ZH = {V.SENT: "已送达", V.FAILED: "发送失败（将重试）", V.DEAD: "放弃发送"}

Emit = Callable[..., Any]

# Every event's resource says which ledger it comes from: the shipped Automations hang only
# on production's, so a simulated year never tells ops or a coordinator anything.
LEDGER_LABEL = "yearwheel.ledger"
PRODUCTION, SIMULATION = "production", "simulation"


def prefect_emit() -> Emit:
    from prefect.events import emit_event

    return emit_event


class EventRelay:
    def __init__(
        self, sessions: sessionmaker, programmes: Callable[[], list[LoadedProgramme]], emit: Emit, *, simulated: bool = False
    ):
        self.sessions, self.programmes, self.emit = sessions, programmes, emit
        self.ledger = SIMULATION if simulated else PRODUCTION
        self._pending: list[A.Fact] = []
        self._lock = threading.Lock()
        self.emitted = 0

    def add(self, facts: list[A.Fact]) -> None:
        with self._lock:
            self._pending.extend(facts)
            full = len(self._pending) >= FLUSH_AT
        if full:
            self.flush()

    def flush(self) -> int:
        """Hand the queued facts to Prefect; returns how many events were emitted."""
        with self._lock:
            facts, self._pending = self._pending, []
        if not facts:
            return 0
        try:
            tasks = self._tasks({f.task_id for f in facts if f.task_id is not None})
            progs = {p.id: p for p in self.programmes()}
            n = 0
            for f in facts:
                ev = event_for(f, tasks.get(f.task_id) if f.task_id is not None else None, progs)
                if ev is not None:
                    ev["resource"][LEDGER_LABEL] = self.ledger
                    self.emit(**ev)
                    n += 1
            self.emitted += n
            return n
        except Exception as exc:  # noqa: BLE001 — events are a view of the ledger: never its master
            log.warning("%d Prefect event(s) not emitted: %s: %s", len(facts), type(exc).__name__, exc)
            return 0

    def _tasks(self, ids: set[int]) -> dict[int, tuple]:
        out: dict[int, tuple] = {}
        order = sorted(ids)
        with self.sessions() as s:
            for i in range(0, len(order), 5000):
                q = (
                    select(Task, MilestoneInstance.milestone, ProgrammeYear.programme, ProgrammeYear.year)
                    .join(MilestoneInstance, MilestoneInstance.id == Task.milestone_instance_id)
                    .join(ProgrammeYear, ProgrammeYear.id == Task.programme_year_id)
                    .where(Task.id.in_(order[i : i + 5000]))
                )
                for task, milestone, programme, year in s.execute(q):
                    out[task.id] = (task, milestone, programme, year)
                    s.expunge(task)
        return out


def _related(task_row: tuple, progs: dict[str, LoadedProgramme]) -> tuple[list[dict[str, str]], str]:
    """The programme-year, milestone and participant of a task, and the task's Chinese name."""
    task, milestone, programme, year = task_row
    prog = progs.get(programme)
    title = prog.spec.programme.title if prog else programme
    try:
        m_title = prog.spec.milestone(milestone).title if prog else milestone
    except KeyError:
        m_title = milestone
    who = prog.names.get(task.participant, task.participant) if prog else task.participant
    related = [
        {
            "prefect.resource.id": f"{EVENT_PREFIX}.programme-year.{programme}.{year}",
            "prefect.resource.role": "programme-year",
            "prefect.resource.name": f"{title}（{year}年度）",
        },
        {
            "prefect.resource.id": f"{EVENT_PREFIX}.milestone.{programme}.{year}.{milestone}",
            "prefect.resource.role": "milestone",
            "prefect.resource.name": m_title,
        },
        {
            "prefect.resource.id": f"{EVENT_PREFIX}.participant.{programme}.{task.participant}",
            "prefect.resource.role": "participant",
            "prefect.resource.name": who,
        },
    ]
    return related, f"{who}：{titled(m_title, task)}"


def _programme_year_event(fact: A.Fact, payload: dict[str, Any], progs: dict[str, LoadedProgramme]) -> dict[str, Any] | None:
    """A programme year's overdue count reached its calendar's alert threshold: the event the
    shipped Automation tells the coordinator by (its text is in ``payload.text``)."""
    prog = progs.get(fact.details.get("programme") or "")
    if prog is None:
        return None
    year = fact.details["year"]
    title = f"{prog.spec.programme.title}（{year}年度）"
    to = [prog.names.get(p, p) for p in fact.details.get("to", [])]
    payload |= {
        "label": A.PROGRAMME_YEAR_EVENTS_ZH[fact.what],
        "to_names": to,
        "text": f"{title}：逾期未报送的任务已达{fact.details['overdue']}项（提醒阈值{fact.details['threshold']}项，"
        f"本次新增逾期{fact.details['newly_overdue']}项）。请{'、'.join(to)}督办。",
    }
    related = [
        {
            "prefect.resource.id": f"{EVENT_PREFIX}.programme.{prog.id}",
            "prefect.resource.role": "programme",
            "prefect.resource.name": prog.spec.programme.title,
        },
        *(
            {
                "prefect.resource.id": f"{EVENT_PREFIX}.participant.{prog.id}.{p}",
                "prefect.resource.role": "recipient",
                "prefect.resource.name": prog.names.get(p, p),
            }
            for p in fact.details.get("to", [])
        ),
    ]
    return {
        "event": f"{EVENT_PREFIX}.programme-year.{fact.what}",
        "resource": {
            "prefect.resource.id": f"{EVENT_PREFIX}.programme-year.{prog.id}.{year}",
            "prefect.resource.name": title,
            "yearwheel.label": payload["label"],
        },
        "related": related,
        "payload": payload,
        "occurred": dt.datetime.now(dt.timezone.utc),
    }


def event_for(fact: A.Fact, task_row: tuple | None, progs: dict[str, LoadedProgramme]) -> dict[str, Any] | None:
    """The keyword arguments of Prefect's ``emit_event`` for one fact (None: nothing to tell)."""
    related: list[dict[str, str]] = []
    name, participant = "", ""
    if task_row is not None:
        related, name = _related(task_row, progs)
        participant = task_row[0].participant
    payload = {k: v for k, v in fact.details.items() if v is not None}
    payload["at"] = fact.at.isoformat()  # the ledger's instant (a simulated year's, in a simulation)
    if fact.subject == "programme-year":
        return _programme_year_event(fact, payload, progs)
    if fact.subject == "task":
        if task_row is None:
            return None  # the task is gone (its programme year was deleted since)
        task = task_row[0]
        label = S.STATES_ZH.get(fact.what) or A.TASK_EVENTS_ZH.get(fact.what, fact.what)
        payload |= {"due": task.due.isoformat(), "item": task.item_key or None, "label": label}
        resource = {
            "prefect.resource.id": f"{EVENT_PREFIX}.task.{task.id}",
            "prefect.resource.name": name,
            "yearwheel.state": task.state,
            "yearwheel.label": label,
        }
        return {
            "event": f"{EVENT_PREFIX}.task.{fact.what}",
            "resource": resource,
            "related": related,
            "payload": payload,
            "occurred": dt.datetime.now(dt.timezone.utc),
        }
    kind = fact.details.get("kind", "")
    label = OUTCOMES_ZH.get(fact.what, fact.what)
    zh_kind = V.KINDS[kind].zh if kind in V.KINDS else kind
    recipient = fact.details.get("recipient", "")
    prog = progs.get(fact.details.get("programme") or "")
    to = prog.names.get(recipient, recipient) if prog else recipient
    if task_row is not None:
        related = [
            {
                "prefect.resource.id": f"{EVENT_PREFIX}.task.{task_row[0].id}",
                "prefect.resource.role": "task",
                "prefect.resource.name": name,
            },
            *related,
        ]
    if prog is not None and recipient and recipient != participant:  # an escalation's head, a coordinator
        related.append(
            {
                "prefect.resource.id": f"{EVENT_PREFIX}.participant.{prog.id}.{recipient}",
                "prefect.resource.role": "recipient",
                "prefect.resource.name": to,
            }
        )
    if task_row is None and prog is not None:
        related.append(
            {
                "prefect.resource.id": f"{EVENT_PREFIX}.programme.{prog.id}",
                "prefect.resource.role": "programme",
                "prefect.resource.name": prog.spec.programme.title,
            }
        )
    payload["label"] = label
    return {
        "event": f"{EVENT_PREFIX}.delivery.{fact.what}",
        "resource": {
            "prefect.resource.id": f"{EVENT_PREFIX}.message.{fact.outbox_id}",
            "prefect.resource.name": f"{zh_kind} → {to}（{fact.details.get('channel', '')}）",
            "yearwheel.kind": kind,
            "yearwheel.recipient": recipient,
            "yearwheel.label": label,
        },
        "related": related,
        "payload": payload,
        "occurred": dt.datetime.now(dt.timezone.utc),
    }
