"""Passwords, random tokens and the login throttle. Pure functions and argon2; no I/O."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("viewer", "operator", "admin")
_hasher = PasswordHasher()
# Verifying against this when a user does not exist costs the same time as a real check,
# so response time does not tell which names exist.
_DUMMY_HASH = _hasher.hash("no such user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """Random tokens need no slow hash: SHA-256 keeps a stolen table useless."""
    return hashlib.sha256(token.encode()).digest()


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and secrets.compare_digest(a.encode(), b.encode())  # type: ignore[union-attr]


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def login_wait_s(failures: int, free: int, *, cap_s: float = 900.0) -> float:
    """How long after the last failure the next attempt must wait: nothing for the first ``free``
    failures, then 2, 4, 8 ... seconds, capped."""
    if failures < free:
        return 0.0
    return min(2.0 ** (failures - free + 1), cap_s)
