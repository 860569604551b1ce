"""Passwords, hashed with argon2id (argon2-cffi's ``PasswordHasher`` with its defaults,
RFC 9106's low-memory choice). A hash made with older parameters is replaced at the next
sign-in. Hashing takes tens of milliseconds of CPU on purpose, so callers on the event
loop run it in a thread."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from officepulse.errors import OfficepulseError

MIN_LENGTH = 8
_hasher = PasswordHasher()


class PasswordError(OfficepulseError, ValueError):
    pass


def check_new(password: str) -> str:
    """A new password, or PasswordError saying what is wrong with it."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_new(password))


def verify(stored: str, password: str) -> tuple[bool, str | None]:
    """(right?, a new hash to store when the parameters changed since ``stored``)."""
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None


async def hash_in_thread(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_in_thread(stored: str, password: str) -> tuple[bool, str | None]:
    return await asyncio.to_thread(verify, stored, password)


@functools.cache
def dummy_hash() -> str:
    """Checked against when a login does not exist, so that a wrong login takes as long
    as a wrong password and does not tell which logins exist. Made on first use, not at
    import."""
    return _hasher.hash("not a password of anyone")
