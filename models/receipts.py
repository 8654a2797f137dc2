"""The receipt number of a submission — the one place it is derived.

``YW-2023-000123-2-7``: the programme year, the task, the version, and a check character
computed as the resident identity number's (GB 11643: ISO 7064 MOD 11-2, ``0``–``9`` or
``X``), so a number read out over the phone or copied by hand is caught when mistyped.
It depends only on the submission (year, task id, version), so the receipt page, its
printed copy and the acknowledgement email carry the same number, whenever each is made.
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"YW-(\d{4})-(\d{6,})-(\d{1,6})-([0-9X])")


def _check(digits: str) -> str:
    total = 0
    for ch in digits:  # ISO 7064 MOD 11-2, as GB 11643 (the weights are powers of 2 mod 11)
        total = (total + int(ch)) * 2 % 11
    return "0123456789X"[(12 - total) % 11]


def receipt_number(year: int, task_id: int, version: int) -> str:
    """The receipt number of version ``version`` of task ``task_id`` in ``year``."""
    body = f"{year:04d}{task_id:06d}{version}"
    return f"YW-{year:04d}-{task_id:06d}-{version}-{_check(body)}"


def read_receipt(text: str) -> tuple[int, int, int] | None:
    """(year, task id, version) of a well-formed receipt number; None when it is not one
    (a wrong check character included)."""
    m = _SHAPE.fullmatch(text.strip().upper())
    if m is None:
        return None
    year, task_id, version = int(m[1]), int(m[2]), int(m[3])
    return (year, task_id, version) if receipt_number(year, task_id, version) == m[0] else None
