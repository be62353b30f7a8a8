"""Password hashing, signed tokens and the generated secret key."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat
import threading
import time
from pathlib import Path

import bcrypt
import jwt
import pytest
from argon2 import PasswordHasher

from conduit.core.errors import Unauthenticated
from conduit.core.security import (
    PASSWORD_THREADS,
    TokenCodec,
    hash_password,
    is_weak_secret,
    load_or_create_secret,
    needs_rehash,
    password_work,
    verify_password,
)

SECRET = "unit-test-secret-0123456789-abcdefghijklmnop"
OTHER = "other-unit-secret-9876543210-zyxwvutsrqponm"


@pytest.fixture(scope="module")
def argon2_hash() -> str:
    return hash_password("correct horse")


# --- passwords ----------------------------------------------------------------------------


def test_hash_is_argon2id_with_the_production_parameters(argon2_hash: str) -> None:
    assert argon2_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse" not in argon2_hash


def test_argon2_hash_verifies(argon2_hash: str) -> None:
    assert verify_password("correct horse", argon2_hash) is True
    assert verify_password("wrong horse", argon2_hash) is False
    assert verify_password("", argon2_hash) is False


def test_hashes_are_salted() -> None:
    assert hash_password("same") != hash_password("same")


def test_current_argon2_hash_needs_no_rehash(argon2_hash: str) -> None:
    assert needs_rehash(argon2_hash) is False


def test_argon2_hash_with_old_parameters_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    assert verify_password("pw", weak) is True
    assert needs_rehash(weak) is True


@pytest.mark.parametrize("prefix", ["$2b$", "$2a$", "$2y$"])
def test_bcrypt_hash_verifies_and_needs_rehash(prefix: str) -> None:
    hashed = bcrypt.hashpw(b"legacy-password", bcrypt.gensalt(rounds=4)).decode()
    hashed = prefix + hashed[4:]
    assert verify_password("legacy-password", hashed) is True
    assert verify_password("wrong-password", hashed) is False
    assert needs_rehash(hashed) is True


@pytest.mark.parametrize("hashed", ["", "plain-text", "$argon2id$garbage", "$2b$garbage", "$1$md5"])
def test_unusable_hashes_never_verify_and_never_raise(hashed: str) -> None:
    assert verify_password("anything", hashed) is False
    assert needs_rehash(hashed) is True


def test_unicode_passwords(argon2_hash: str) -> None:
    hashed = hash_password("pässwörd 🔑")
    assert verify_password("pässwörd 🔑", hashed) is True
    assert verify_password("passwort 🔑", hashed) is False


# --- tokens -------------------------------------------------------------------------------


def test_token_round_trip() -> None:
    codec = TokenCodec(secret=SECRET, ttl_seconds=60)
    token = codec.issue(42)
    assert codec.user_id(token) == 42
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "42"
    assert claims["typ"] == "access"
    assert 59 < claims["exp"] - claims["iat"] <= 60  # iat keeps microseconds, exp is whole


def test_token_expires_after_its_ttl() -> None:
    codec = TokenCodec(secret=SECRET, ttl_seconds=60)
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61)
    with pytest.raises(Unauthenticated) as caught:
        codec.user_id(codec.issue(7, now=issued))
    assert caught.value.errors == {"token": ["has expired"]}
    assert caught.value.status == 401


def test_token_is_valid_within_its_ttl() -> None:
    codec = TokenCodec(secret=SECRET, ttl_seconds=60)
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    assert codec.user_id(codec.issue(7, now=issued)) == 7


def _invalid(codec: TokenCodec, token: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        codec.user_id(token)
    assert caught.value.errors == {"token": ["is invalid"]}


def test_tampered_token_is_invalid() -> None:
    codec = TokenCodec(secret=SECRET, ttl_seconds=60)
    header, _payload, signature = codec.issue(1).split(".")
    forged_payload = jwt.encode(
        {"sub": "2", "typ": "access", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)},
        SECRET,
    ).split(".")[1]
    _invalid(codec, f"{header}.{forged_payload}.{signature}")


def test_token_signed_with_another_key_is_invalid() -> None:
    _invalid(TokenCodec(SECRET, 60), TokenCodec(OTHER, 60).issue(1))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "...."])
def test_garbage_is_invalid(token: str) -> None:
    _invalid(TokenCodec(SECRET, 60), token)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "1", "typ": "refresh"},
        {"sub": "1"},
        {"sub": "abc", "typ": "access"},
        {"sub": "-1", "typ": "access"},
        {"typ": "access"},
    ],
)
def test_tokens_with_wrong_claims_are_invalid(claims: dict[str, str]) -> None:
    payload = {**claims, "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
    _invalid(TokenCodec(SECRET, 60), jwt.encode(payload, SECRET, algorithm="HS256"))


def test_token_without_expiry_is_invalid() -> None:
    _invalid(TokenCodec(SECRET, 60), jwt.encode({"sub": "1", "typ": "access"}, SECRET))


def test_unsigned_token_is_invalid() -> None:
    payload = {"sub": "1", "typ": "access", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
    _invalid(TokenCodec(SECRET, 60), jwt.encode(payload, None, algorithm="none"))


def test_token_with_another_algorithm_is_invalid() -> None:
    key = SECRET * 2  # long enough for HS512
    payload = {"sub": "1", "typ": "access", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
    _invalid(TokenCodec(key, 60), jwt.encode(payload, key, algorithm="HS512"))


# --- secret key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "weak"),
    [
        ("", True),
        ("short", True),
        ("a" * 64, True),
        ("abababababababababababababababababab", True),
        ("0123456789abcdefghijklmnopqrstu", True),
        ("0123456789abcdefghijklmnopqrstuv", False),
        (SECRET, False),
    ],
)
def test_is_weak_secret(key: str, weak: bool) -> None:
    assert is_weak_secret(key) is weak


def test_generated_secret_is_kept_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret_key"
    first = load_or_create_secret(path)
    assert not is_weak_secret(first)
    assert path.read_text(encoding="utf-8") == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert load_or_create_secret(path) == first


def test_secrets_differ_between_installations(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path / "a") != load_or_create_secret(tmp_path / "b")


@pytest.mark.parametrize("content", ["", "   \n", "weak"])
def test_empty_or_weak_stored_secret_is_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "secret_key"
    path.write_text(content, encoding="utf-8")
    key = load_or_create_secret(path)
    assert not is_weak_secret(key)
    assert path.read_text(encoding="utf-8") == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stored_secret_is_read_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(f"  {SECRET}\n", encoding="utf-8")
    assert load_or_create_secret(path) == SECRET


async def test_password_work_runs_at_most_one_per_core_however_many_wait() -> None:
    """A burst of sign-ups queues for the password threads: argon2's 64 MiB are held by one
    hash per core at a time, not by every thread the default executor would start."""
    lock = threading.Lock()
    running = 0
    most = 0

    def probe(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n

    burst = 4 * PASSWORD_THREADS + 4
    done = await asyncio.gather(*(password_work(probe, n) for n in range(burst)))
    assert done == list(range(burst))
    assert most == PASSWORD_THREADS


async def test_password_work_hashes_and_verifies_off_the_loop() -> None:
    hashed = await password_work(hash_password, "correct horse")
    assert await password_work(verify_password, "correct horse", hashed)
    assert not await password_work(verify_password, "wrong horse", hashed)
