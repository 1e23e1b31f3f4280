"""UK postcodes: validate and write them one way, ``M1 1AE``.

A postcode is stored and compared only in its normal form (capitals, one
space before the three-character inward code), so the same place typed as
``m11ae`` or ``M1  1AE`` is found again. Pure functions, no Flask.

Full postcodes are what people give for an address: ``normalise_postcode``
accepts nothing less. A bare outward code (``M1``, the postcode district) is
accepted only by the functions that say so: ``normalise_outward_code`` and
``normalise_postcode_or_outward``, which lookups by area use. British Forces
(BFPO) numbers are not postcodes and are refused.
"""

from __future__ import annotations

import re

from hubcore.errors import InvalidInput

EXAMPLE = "M1 1AE"

# The outward code's shapes, with the letters each position may hold
# (Royal Mail's rules): A9, A99, AA9, AA99, A9A, AA9A.
_FIRST = "A-PR-UWYZ"  # never Q, V, X
_SECOND = "A-HK-Y"  # never I, J, Z
_THIRD = "A-HJKPSTUW"  # the letter in A9A
_FOURTH = "ABEHMNPRVWXY"  # the letter in AA9A
_OUTWARD = (
    rf"(?:[{_FIRST}][0-9][0-9]?"
    rf"|[{_FIRST}][{_SECOND}][0-9][0-9]?"
    rf"|[{_FIRST}][0-9][{_THIRD}]"
    rf"|[{_FIRST}][{_SECOND}][0-9][{_FOURTH}])"
)
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"  # never C, I, K, M, O, V

OUTWARD_RE = re.compile(rf"^{_OUTWARD}$")
POSTCODE_RE = re.compile(rf"^(?:(?P<outward>{_OUTWARD})(?P<inward>{_INWARD})|(?P<girobank>GIR0AA))$")
_AREA_RE = re.compile(r"^[A-Z]+")
_LONGEST_INPUT = 20  # anything longer is not a postcode, however it is spaced


def _squeeze(text) -> str:
    """Capitals with every kind of whitespace removed."""
    if not isinstance(text, str):
        return ""
    return "".join(text[: _LONGEST_INPUT * 4].split()).upper()


def _invalid(message: str, field: str, field_message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid-postcode", fields={field: [field_message]})


def normalise_postcode(text, *, field: str = "postcode") -> str:
    """``" m11ae "`` → ``"M1 1AE"``; anything that is not a full UK postcode is refused.

    Raises InvalidInput whose ``fields`` name ``field``, with a sentence the
    person can act on (a bare outward code is told to give the full postcode).
    """
    squeezed = _squeeze(text)
    if not squeezed:
        raise _invalid("Enter a postcode.", field, "Enter a postcode.")
    match = POSTCODE_RE.match(squeezed) if len(squeezed) <= 7 else None
    if match is None:
        if OUTWARD_RE.match(squeezed):
            raise _invalid("Enter the full postcode, not just the first part.", field,
                           f"Enter the full postcode, like {EXAMPLE}, not just the first part.")
        raise _invalid("That is not a valid UK postcode.", field,
                       f"Enter a real UK postcode, like {EXAMPLE}.")
    if match["girobank"]:
        return "GIR 0AA"
    return f"{match['outward']} {match['inward']}"


def normalise_outward_code(text, *, field: str = "postcode") -> str:
    """``" m1 "`` → ``"M1"``: a postcode district (outward code) alone."""
    squeezed = _squeeze(text)
    if not squeezed:
        raise _invalid("Enter a postcode district.", field, "Enter a postcode district, like M1.")
    if not OUTWARD_RE.match(squeezed):
        raise _invalid("That is not a valid UK postcode district.", field,
                       "Enter the first part of a UK postcode, like M1 or BL9.")
    return squeezed


def normalise_postcode_or_outward(text, *, field: str = "postcode") -> str:
    """A full postcode (``"M1 1AE"``) or, failing that, a bare outward code (``"M1"``).

    For lookups by area, where "which district is BL9?" is a fair question.
    The result has a space exactly when it is a full postcode.
    """
    squeezed = _squeeze(text)
    if squeezed and len(squeezed) <= 4 and OUTWARD_RE.match(squeezed):
        return squeezed
    try:
        return normalise_postcode(text, field=field)
    except InvalidInput:
        if not squeezed:
            raise
        raise _invalid("That is not a valid UK postcode.", field,
                       f"Enter a UK postcode, like {EXAMPLE}, or its first part, like M1.") from None


def is_valid_postcode(text) -> bool:
    """True when ``text`` is a full UK postcode in any spacing or case."""
    squeezed = _squeeze(text)
    return len(squeezed) <= 7 and POSTCODE_RE.match(squeezed) is not None


def is_full_postcode(normalised: str) -> bool:
    """Tell a normalised full postcode (``"M1 1AE"``) from an outward code (``"M1"``)."""
    return " " in normalised


def outward_code(postcode: str) -> str:
    """The postcode district of a full postcode: ``"m1 1ae"`` → ``"M1"``."""
    return normalise_postcode(postcode).split(" ", 1)[0]


def postcode_area(outward: str) -> str:
    """The letters that start an outward code: ``"BL9"`` → ``"BL"``."""
    match = _AREA_RE.match(outward.upper())
    return match.group(0) if match else ""
