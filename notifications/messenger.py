"""The engine's view of notifications: who can be reached how, message text, when held
messages may go, and sending one outbox row. Implements ``models.engine.Messenger`` and
``Sender``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from models.timeline import ProgrammeFile, WorkdayCalendar

from .contacts import Contacts, load_contacts, routes
from .hold import release_time
from .send import TransportError, deliver, targets
from .templates import MessageContext, render


def load_contacts_from_env(path: Path | None) -> Contacts:
    """The contacts file at ``path``; with none, nobody is reachable (every message is
    recorded as undeliverable rather than silently dropped)."""
    return load_contacts(path) if path else Contacts.empty()


class ContactsMessenger:
    def __init__(self, contacts: Contacts, cal: WorkdayCalendar, specs: dict[str, ProgrammeFile] | None = None):
        self.contacts = contacts
        self.cal = cal
        self.specs = specs or {}

    def routes(self, participant: str, audience: str) -> tuple[tuple[str, str], ...]:
        return routes(self.contacts, participant, audience)

    def render(self, context: dict[str, Any], channel: str) -> tuple[str, str]:
        return render(MessageContext(**context), channel)

    def release_time(self, channel: str, at: dt.datetime) -> dt.datetime:
        return release_time(channel, at, self.cal, self.contacts.quiet_hours)

    def send(self, recipient: str, audience: str, channel: str, address: str, subject: str, body: str) -> str:
        found = [t for t in targets(self.contacts, recipient, audience, channel) if t.address == address]
        if not found:
            raise TransportError(
                f"the {channel} address this message was queued for is no longer in the contacts file for {recipient}",
                permanent=True,
            )
        deliver(found[0], subject, body)
        return found[0].display
