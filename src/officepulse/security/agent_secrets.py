"""Agents' secrets: enrollment tokens and credentials.

Both are 32 random bytes from the ``secrets`` module (URL-safe base64, behind a prefix
that says which kind a leaked string is). The server keeps only their SHA-256. A slow
password hash (bcrypt, scrypt, Argon2) exists to make guessing *low-entropy* human
passwords expensive after a database leak; guessing 256 random bits is out of reach at
any speed, so a slow hash would only cost CPU at every agent connection and buy
nothing. Stored hashes are compared with ``hmac.compare_digest`` (constant time), and
credentials are looked up by agent id, not by hash, so no lookup depends on the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "opet_"  # an enrollment token, given to a person once
CREDENTIAL_PREFIX = "opac_"  # an agent's own credential, kept by the agent


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def new_token_id() -> str:
    """A short public name for an enrollment token, for lists and revocation."""
    return secrets.token_hex(4)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)
