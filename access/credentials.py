"""Salted, memory-hard credential hashes: what the gateway's user table stores instead of passwords.

The format is self-describing, so the cost can be raised later without breaking stored hashes::

    scrypt$n=16384,r=8,p=1$<salt, base64>$<hash, base64>

scrypt comes from the standard library (``hashlib.scrypt``, OpenSSL): memory-hard, salted per user, no
extra dependency. Verification compares in constant time (``hmac.compare_digest``). A login costs one
scrypt (about 40 ms here): it is on the login path only, never on the order path.

``tickwire user hash`` prints a hash for a password read from stdin or a prompt (never from argv, where
``ps`` would show it).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCHEME = "scrypt"
DEFAULT_N, DEFAULT_R, DEFAULT_P = 16384, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
#: Longest credential accepted: the wire's Login.credential field is fixed-size; longer is refused, not cut.
MAX_CREDENTIAL = 64


class CredentialError(ValueError):
    """A hash string that cannot be used, or a credential that cannot be hashed."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii").rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def hash_credential(secret: str | bytes, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P,
                    salt: bytes | None = None) -> str:
    """The stored form of ``secret`` (a fresh random salt unless one is given, for tests)."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise CredentialError("empty credential")
    if len(raw) > MAX_CREDENTIAL:
        raise CredentialError(f"credential longer than {MAX_CREDENTIAL} bytes")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    dk = hashlib.scrypt(raw, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=HASH_BYTES)
    return f"{SCHEME}$n={n},r={r},p={p}${_b64(salt)}${_b64(dk)}"


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """``(n, r, p, salt, hash)`` of a stored hash; ``CredentialError`` naming what is wrong."""
    if not isinstance(stored, str):
        raise CredentialError("not a string")
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        raise CredentialError(f"not a {SCHEME}$n=..,r=..,p=..$SALT$HASH string")
    try:
        params = dict(kv.split("=", 1) for kv in parts[1].split(","))
        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    except (ValueError, KeyError):
        raise CredentialError(f"bad parameters {parts[1]!r}") from None
    if n < 2 or n & (n - 1) or n > 1 << 20 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise CredentialError(f"parameters out of range ({parts[1]})")
    try:
        salt, dk = _unb64(parts[2]), _unb64(parts[3])
    except ValueError:
        raise CredentialError("salt or hash is not base64") from None
    if len(salt) < 8 or len(dk) < 16:
        raise CredentialError("salt or hash too short")
    return n, r, p, salt, dk


def verify(secret: str | bytes, stored: str) -> bool:
    """True when ``secret`` matches ``stored``; False for a wrong or unusable credential (never raises on
    the secret; a bad stored hash is a configuration error the loader refuses before this runs)."""
    n, r, p, salt, dk = parse_hash(stored)
    raw = secret.encode("utf-8", "surrogateescape") if isinstance(secret, str) else bytes(secret)
    if not raw or len(raw) > MAX_CREDENTIAL:
        return False
    got = hashlib.scrypt(raw, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=len(dk))
    return hmac.compare_digest(got, dk)
