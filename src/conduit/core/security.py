"""Password hashing (argon2id; bcrypt hashes still verify) and signed access tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import bcrypt
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from conduit.core.errors import Unauthenticated

MIN_SECRET_KEY_LENGTH = 32
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile

P = ParamSpec("P")
R = TypeVar("R")

# An argon2 hash takes 64 MiB and a core for tens of milliseconds. Password work runs on
# threads of its own, one per core this process may run on: a burst of sign-ups queues
# here rather than holding 64 MiB per thread of the loop's default executor (6 on 2
# cores), which it would also keep from the other work sent there (SQLite reads, images).
PASSWORD_THREADS = (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)
_password_threads = ThreadPoolExecutor(PASSWORD_THREADS, thread_name_prefix="conduit-password")


class PasswordQueue:
    """How many calls of :func:`password_work` are in progress, read by the metrics."""

    pending = 0  # waiting for a thread or running on one

    @classmethod
    def waiting(cls) -> int:
        """The calls that wait for a thread (all the threads are busy)."""
        return max(0, cls.pending - PASSWORD_THREADS)


async def password_work(work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a hash or a verification off the event loop, at most one per core at a time."""
    loop = asyncio.get_running_loop()
    PasswordQueue.pending += 1
    try:
        return await loop.run_in_executor(_password_threads, lambda: work(*args, **kwargs))
    finally:
        PasswordQueue.pending -= 1


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    if hashed.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            return bcrypt.checkpw(password.encode(), hashed.encode())
        except ValueError:
            return False
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """bcrypt hashes and argon2 hashes with old parameters are upgraded on login."""
    if not hashed.startswith("$argon2"):
        return True
    try:
        return _hasher.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


def is_weak_secret(key: str) -> bool:
    return len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 8


def load_or_create_secret(path: Path) -> str:
    """The zero-config mode's key: generated once, kept (mode 0600) in the data folder."""
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key and not is_weak_secret(key):
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key, encoding="utf-8")
    path.chmod(0o600)
    return key


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says: whose it is, when it was issued, which session."""

    user_id: int
    issued_at: float  # seconds since the epoch, with microseconds
    session_id: str | None


class TokenExpired(Unauthenticated):
    """A well-signed access token past its lifetime (401, like any refused token): the web
    session renews it from its refresh cookie rather than signing the reader out."""

    def __init__(self) -> None:
        super().__init__("token", "has expired")


@dataclass(frozen=True, slots=True)
class TokenCodec:
    """Issues and checks HS256 access tokens whose subject is the user id.

    ``iat`` keeps microseconds so that a sign-out everywhere cuts off exactly the tokens
    issued before it; ``sid`` names the session (refresh-token family) when there is one.
    """

    secret: str
    ttl_seconds: int
    algorithm: str = "HS256"

    def issue(
        self, user_id: int, *, session_id: str | None = None, now: dt.datetime | None = None
    ) -> str:
        issued = now or dt.datetime.now(dt.UTC)
        payload: dict[str, object] = {
            "sub": str(user_id),
            "iat": issued.timestamp(),
            "exp": int((issued + dt.timedelta(seconds=self.ttl_seconds)).timestamp()),
            "typ": "access",
        }
        if session_id is not None:
            payload["sid"] = session_id
        return jwt.encode(payload, self.secret, algorithm=self.algorithm)

    def decode(self, token: str) -> AccessClaims:
        """The claims of a valid token; Unauthenticated for anything else."""
        try:
            payload = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
                options={"require": ["exp", "sub", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWTError:
            raise Unauthenticated("token", "is invalid") from None
        subject = payload.get("sub")
        issued = payload.get("iat")
        session = payload.get("sid")
        if (
            payload.get("typ") != "access"
            or not isinstance(subject, str)
            or not subject.isdigit()
            or not isinstance(issued, int | float)
            or not (session is None or isinstance(session, str))
        ):
            raise Unauthenticated("token", "is invalid")
        return AccessClaims(user_id=int(subject), issued_at=float(issued), session_id=session)

    def user_id(self, token: str) -> int:
        """The user id a valid token names; Unauthenticated for anything else."""
        return self.decode(token).user_id
