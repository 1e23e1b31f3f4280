"""Password hashing with argon2id, parameters tuned for a 2-core server.

The library default (64 MiB) costs ~130 ms a login on 2 cores; OWASP's
argon2id settings m=7 MiB, t=5, p=1 (equal in strength to its 19 MiB, t=2)
cost ~19 ms and are the default here.
Hashes made with other parameters still verify and are upgraded on login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hubcore.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12


def hasher_for(settings) -> PasswordHasher:
    return PasswordHasher(time_cost=settings.argon2_time_cost,
                          memory_cost=settings.argon2_memory_kib,
                          parallelism=settings.argon2_parallelism)


def check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Passwords must be at least {MIN_PASSWORD_LENGTH} characters.",
            fields={"password": [f"Use at least {MIN_PASSWORD_LENGTH} characters."]},
        )
    if len(password) > 1024:
        raise InvalidInput("Passwords must be at most 1024 characters.",
                           fields={"password": ["Use at most 1024 characters."]})


def hash_password(hasher: PasswordHasher, password: str) -> str:
    check_strength(password)
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
