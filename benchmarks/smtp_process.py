"""A loopback SMTP server in its own process (a real mail server is not in the sender's
process either): prints its port, then, when stdin closes, the number of messages received.

    python benchmarks/smtp_process.py
"""

from __future__ import annotations

import sys

from common import ROOT  # noqa: F401 — puts the repository on sys.path

from notifications.sink import SmtpSink

with SmtpSink() as sink:
    print(sink.port, flush=True)
    sys.stdin.read()
    print(len(sink.messages), flush=True)
