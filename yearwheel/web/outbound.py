"""The web service's own sender: what the intake, the console and the API queue
(acknowledgements, returns, date changes) goes out from this thread, never inside a request."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Callable

from yearwheel import usecases as R

log = logging.getLogger("yearwheel.intake")


class Outbound:
    """The service's own sender: queued messages (acknowledgements, returns) go out in
    this thread, never inside a request. Woken after each action; also every minute."""

    def __init__(self, rt: R.Runtime, clock: Callable[[], dt.datetime]) -> None:
        self.rt, self.clock = rt, clock
        self.wake, self.stopping = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, name="yearwheel-intake-sender", daemon=True)
        self.idle = threading.Event()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=90)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.wait(60)
            self.wake.clear()
            if self.stopping.is_set():
                break
            self.idle.clear()
            try:
                self.rt.dispatch(self.clock())
            except Exception:
                log.exception("sending queued messages failed")
            finally:
                self.idle.set()
