"""The unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters —
registration authority, entity type, the 6-digit administrative division, the 9-character
organisation code (GB 11714, its own check character last) and a check character over the
first 17. ``valid`` checks both; ``make`` builds a valid code (the simulation's enterprises).
"""

from __future__ import annotations

import random

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _check(body17: str) -> str:
    total = sum(CHARSET.index(c) * w for c, w in zip(body17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def _org_value(c: str) -> int:
    return int(c) if c.isdigit() else ord(c) - ord("A") + 10


def _org_check(body8: str) -> str:
    n = 11 - sum(_org_value(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True)) % 11
    return "X" if n == 10 else "0" if n == 11 else str(n)


def valid(code: str) -> bool:
    """True for an 18-character code whose two check characters are right."""
    code = code.strip().upper()
    if len(code) != 18 or any(c not in CHARSET for c in code):
        return False
    return _org_check(code[8:16]) == code[16] and _check(code[:17]) == code[17]


def make(rng: random.Random, division: str = "220100") -> str:
    """A valid code of an enterprise (registered by market regulation: 9, 1) in ``division``."""
    org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    org += _org_check(org)
    body = f"91{division}{org}"
    return body + _check(body)
