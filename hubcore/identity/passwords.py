"""Password hashing with argon2id, and the rules a new password must meet.

The library default (64 MiB) costs ~130 ms a login on 2 cores; OWASP's
argon2id settings m=7 MiB, t=5, p=1 (equal in strength to its 19 MiB, t=2)
cost ~19 ms and are the default here.
Hashes made with other parameters still verify and are upgraded on login.

The rules follow NIST SP 800-63B (5.1.1.2): at least 12 characters, no
composition rules (no "one capital, one digit"), but no password that
attackers try first: one on a list of 30,000 common passwords (zxcvbn's,
from real breaches), or one of those with digits or symbols added at either
end ("password2024!"), one character or a short pattern repeated, a run of
the alphabet, digits or keyboard ("abcdefghijkl", "qwertyuiopas"), or the
account's own email address or name.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hubcore.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
ADVICE = "Three or four unrelated words make a strong password."
# Runs people type for a password: forwards or backwards, any part of them.
SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "01234567890123456789",
             "qwertyuiopasdfghjklzxcvbnm", "1234567890qwertyuiop", "qazwsxedcrfvtgbyhnujmikolp")
_DECORATION = string.digits + string.punctuation + " "


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """30,000 passwords seen most often in breaches, lower case (zxcvbn's list, MIT)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def hasher_for(settings) -> PasswordHasher:
    return PasswordHasher(time_cost=settings.argon2_time_cost,
                          memory_cost=settings.argon2_memory_kib,
                          parallelism=settings.argon2_parallelism)


def check_strength(password: str, *, email: str | None = None,
                   name: str | None = None) -> None:
    """Refuse a password that is too short, too long, or easy to guess (see above).

    ``email`` and ``name`` are the account's: a password made of them is refused.
    Raises InvalidInput with the reason under the ``password`` field.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        _refuse(f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters.",
                f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        _refuse(f"Passwords must be at most {MAX_PASSWORD_LENGTH} characters.",
                f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    problem = weakness(password, email=email, name=name)
    if problem:
        _refuse("Choose a password that is harder to guess.", f"{problem} {ADVICE}")


def weakness(password: str, *, email: str | None = None, name: str | None = None) -> str | None:
    """Why a password is easy to guess, in words for the person choosing it; or None."""
    folded = re.sub(r"\s+", "", password.lower())
    if len(set(folded)) <= 1:
        return "Do not use one character repeated."
    unit = _repeated_unit(folded)
    if unit is not None and (len(unit) <= 4 or _is_common(unit)):
        return "Do not repeat a word or a short pattern, like abcabcabcabc."
    if _is_sequence(folded):
        return "Do not use a run of letters, numbers or keys, like abcdefgh or 12345678."
    if _is_common(folded):
        return ("This is one of the most common passwords, the first that attackers "
                "try. Choose another.")
    if _is_personal(folded, email, name):
        return "Do not use your email address or name in your password."
    return None


def _is_common(folded: str) -> bool:
    """On the list, or a listed password with digits or symbols added at either end."""
    common = common_passwords()
    core = folded.strip(_DECORATION)
    return folded in common or (len(core) >= 4 and core in common)


def _repeated_unit(folded: str) -> str | None:
    """The shortest string that, repeated two or more times, makes ``folded``."""
    size = len(folded)
    for length in range(1, size // 2 + 1):
        if size % length == 0 and folded[:length] * (size // length) == folded:
            return folded[:length]
    return None


def _is_sequence(folded: str) -> bool:
    return any(folded in run or folded in run[::-1] for run in SEQUENCES)


def _is_personal(folded: str, email: str | None, name: str | None) -> bool:
    """Holds the address, its local part or the whole name; or is only their parts
    with digits or symbols ("amira.khan1990")."""
    forms, parts = set(), set()
    if email:
        email = email.strip().lower()
        local = email.split("@", 1)[0]
        forms.update({email, local})
        parts.update(re.split(r"[^a-z0-9]+", local))
    if name:
        words = [w for w in re.split(r"[\W_]+", name.lower()) if w]
        forms.add("".join(words))
        parts.update(words)
    if any(form in folded for form in forms if len(form) >= 4):
        return True
    rest = folded
    for part in sorted((p for p in parts if len(p) >= 3), key=len, reverse=True):
        rest = rest.replace(part, "")
    return rest != folded and rest.strip(_DECORATION) == ""


def _refuse(message: str, field_message: str):
    raise InvalidInput(message, fields={"password": [field_message]})


def hash_password(hasher: PasswordHasher, password: str, *, email: str | None = None,
                  name: str | None = None) -> str:
    check_strength(password, email=email, name=name)
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
