"""The engine's log records (``yearwheel.*``: each claim batch, each failure and its
reason, each reclaimed lease) in the Prefect run log of the flow run doing the work."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def run_log(level: int = logging.INFO) -> Iterator[None]:
    """Forward ``yearwheel`` records to this flow run's logger while the block runs —
    from the sender's worker threads too."""
    from prefect import get_run_logger

    target = get_run_logger()

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                target.log(record.levelno, "%s: %s", record.name.removeprefix("yearwheel."), record.getMessage())
            except Exception:  # noqa: BLE001 — a log line must never break the run
                self.handleError(record)

    logger = logging.getLogger("yearwheel")
    handler, before = Forward(level), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
