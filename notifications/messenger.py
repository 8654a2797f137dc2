"""The engine's view of notifications: who can be reached how, message text, when held
messages may go, and sending one outbox row. Implements ``models.outbox.Messenger``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models import links
from models.outbox import Envelope, Receipt
from models.timeline import TZ, ProgrammeFile, WorkdayCalendar
from models.vocabulary import LINK_KINDS

from .contacts import Contacts, load_contacts, routes
from .hold import release_time
from .send import TransportError, deliver, targets
from .templates import MessageContext, render


def load_contacts_or_empty(path: Path | None) -> Contacts:
    """The contacts file at ``path``; with none, nobody is reachable (every message is
    recorded as undeliverable rather than silently dropped)."""
    return load_contacts(path) if path else Contacts.empty()


@dataclass(frozen=True)
class IntakeLinks:
    """Signed per-task links to the web intake, put into the bureau's own reminders.
    Valid until ``days`` after the task's due date (late forms are still wanted)."""

    secret: bytes
    base_url: str
    days: int = 60

    def url(self, task_id: int, participant: str, due: dt.date) -> str:
        expires = dt.datetime.combine(due + dt.timedelta(days=self.days), dt.time(23, 59, 59), TZ)
        return f"{self.base_url.rstrip('/')}/t/{links.sign(self.secret, task_id, participant, expires)}"


class ContactsMessenger:
    def __init__(
        self,
        contacts: Contacts,
        cal: WorkdayCalendar,
        specs: dict[str, ProgrammeFile] | None = None,
        intake: IntakeLinks | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self.contacts = contacts
        self.cal = cal
        self.specs = specs or {}
        self.intake = intake
        self.environ = environ if environ is not None else {}  # for the contacts file's {env: NAME} secrets

    def routes(self, participant: str, audience: str) -> tuple[tuple[str, str], ...]:
        return routes(self.contacts, participant, audience)

    def render(self, context: dict[str, Any], channel: str) -> tuple[str, str]:
        if self.intake and context.get("kind") in LINK_KINDS and context.get("task_id") is not None:
            context = {**context, "link": self.intake.url(context["task_id"], context["participant_id"], context["due"])}
        return render(MessageContext(**context), channel, self.cal)

    def release_time(self, channel: str, at: dt.datetime) -> dt.datetime:
        return release_time(channel, at, self.cal, self.contacts.quiet_hours)

    def send(self, envelope: Envelope) -> Receipt:
        e = envelope
        found = [t for t in targets(self.contacts, e.recipient, e.audience, e.channel, self.environ) if t.address == e.address]
        if not found:
            raise TransportError(
                f"the {e.channel} address this message was queued for is no longer in the contacts file for {e.recipient}",
                permanent=True,
            )
        message_id = None
        if e.channel == "email" and self.contacts.email is not None:
            domain = self.contacts.email.sender.rsplit("@", 1)[-1].strip(" >") or "yearwheel.invalid"
            message_id = f"<{e.message_key}@{domain}>"
        done = deliver(found[0], e.subject, e.body, deadline=e.deadline, message_id=message_id, sent_at=e.sent_at)
        return Receipt(found[0].display, done.code, done.reply)
