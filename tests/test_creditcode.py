"""The unified social credit code's two check characters (GB 32100-2015, GB 11714)."""

from __future__ import annotations

import random

import pytest

from models import creditcode


@pytest.mark.parametrize("code", ["91110000600037341L", "91110108551385082Q"])
def test_published_codes_are_valid(code):
    assert creditcode.valid(code) and creditcode.valid(code.lower())


@pytest.mark.parametrize(
    "code",
    ["91110000600037341M", "91110108551385083Q", "9111000060003734", "91110000600037341LL", "9111000060003734IL", ""],
)
def test_a_wrong_check_character_length_or_letter_is_refused(code):
    assert not creditcode.valid(code)


def test_made_codes_are_valid_and_change_when_one_character_does():
    rng = random.Random(3)
    for _ in range(500):
        code = creditcode.make(rng, "220100")
        assert creditcode.valid(code) and code.startswith("91220100")
        i = rng.randrange(17)
        other = next(c for c in creditcode.CHARSET if c != code[i])
        assert not creditcode.valid(code[:i] + other + code[i + 1 :])  # one character changed: caught
