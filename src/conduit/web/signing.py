"""Keyed digests for the web app's cookies and forms, derived from the token signing key.

Each use has its own derived key (``purpose``), so a value made for one purpose is never
accepted for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def digest(secret: str, purpose: str, value: str) -> str:
    key = hashlib.sha256(f"conduit-web:{purpose}:{secret}".encode()).digest()
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(secret: str, purpose: str, value: str) -> str:
    """``value`` with its digest appended (``value.digest``)."""
    return f"{value}.{digest(secret, purpose, value)}"


def unsign(secret: str, purpose: str, signed: str) -> str | None:
    """The value of a :func:`sign` result, or None if it was not signed with this key."""
    value, _, mac = signed.rpartition(".")
    if not value or not hmac.compare_digest(mac, digest(secret, purpose, value)):
        return None
    return value
