"""normalise_phone's fast path for everyday UK numbers agrees with phonenumbers.

The fast path answers without phonenumbers for the common UK shapes; these
tests generate many numbers in those shapes (and near misses) and compare
normalise_phone with what phonenumbers alone says, accepted or refused.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest

from hubcore.errors import InvalidInput
from hubcore.identity import people


def by_phonenumbers(raw: str) -> str | None:
    """The answer before the fast path existed: E.164, or None when refused."""
    try:
        number = phonenumbers.parse(raw, "GB")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ours(raw: str) -> str | None:
    try:
        return people.normalise_phone(raw)
    except InvalidInput as exc:
        assert exc.fields == {"phone": ["Enter a phone number, like 01632 960 001 or "
                                        "07700 900 982."]}
        return None


# National numbers: mobiles, geographic (01/02), non-geographic (03, 08, 09), the
# 180020 relay prefix, and every leading digit at every nearby length.
LEADS = ("7", "77", "74", "71", "1", "11", "16", "169", "2", "20", "28", "3", "30", "5",
         "55", "56", "8", "80", "800", "84", "87", "9", "90", "6", "4", "0", "180020",
         "18002", "1800")
PREFIXES = ("0", "+44", "+44 ", "+44 (0)", "+44(0)", "+440", "0044", "0044 ", "0044 (0)",
            "00440", "", "44", "+", "+ 44 ", "00", "000", "+1", "+353", "(0)", "(+44)",
            "+4 4", "0 ", "( 0", "0-")
SEPARATORS = ("", "", "", " ", " ", "-", "  ", " - ", "(", ")", ".", "/", "\t", "\u00a0")


def generated_numbers(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    numbers = []
    for _ in range(count):
        lead = rnd.choice(LEADS)
        length = rnd.choice((8, 9, 9, 10, 10, 10, 10, 11, 7, 6, 12))
        digits = (lead + "".join(rnd.choice("0123456789") for _ in range(length)))[:max(
            length, len(lead))]
        text = ""
        for i, digit in enumerate(digits):
            if i and rnd.random() < 0.25:
                text += rnd.choice(SEPARATORS)
            text += digit
        if rnd.random() < 0.1:
            text = f"({text[:4]}) {text[4:]}"
        numbers.append(rnd.choice(PREFIXES) + text + rnd.choice(("", "", "", " ", "-", ")")))
    return numbers


def test_fast_path_agrees_with_phonenumbers_over_many_generated_numbers():
    numbers = generated_numbers(30_000, seed=44)
    fast = 0
    for raw in numbers:
        expected = by_phonenumbers(raw)
        assert ours(raw) == expected, raw
        if people._uk_e164(raw) is not None:
            fast += 1
            assert expected is not None, raw
    # The fast path really answers a large share (not a test of phonenumbers alone).
    assert fast > len(numbers) // 10


@pytest.mark.parametrize("raw", [
    "07700 900123", "07700900123", "+44 7700 900123", "+447700900123", "+44 (0)7700 900123",
    "0044 7700 900123", "(01632) 960 001", "01632 960001", "020 7946 0018", "0161-496-0000",
    "0800 123 4567", "0345 123 4567", "01697 73123", "+44 (0) 20 7946 0018",
])
def test_everyday_uk_shapes_take_the_fast_path_with_phonenumbers_answer(raw):
    assert people._uk_e164(raw) is not None
    assert people._uk_e164(raw) == by_phonenumbers(raw)


@pytest.mark.parametrize("raw", [
    "077009", "0", "+44", "not a phone", "0770090012345678", "+1 202 555 0143", "0800 FLOWERS",
    "07700 900123 ext 2", "447700900123", "7700900123", "+353 1 234 5678", "0180020 12345",
    "+44 0 0770 090 0123", "07700\u00a0900123", "\uff10\uff17\uff17\uff10\uff10900123",
])
def test_other_shapes_are_left_to_phonenumbers_and_get_its_answer(raw):
    assert people._uk_e164(raw) is None
    assert ours(raw) == by_phonenumbers(raw)
