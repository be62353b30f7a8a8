"""Stale tokens: public pages answer as to an anonymous reader, private ones 401.

RealWorld frontends keep a token in local storage and sign the user out on any 401. A token
that expired, was tampered with, was revoked (sign-out everywhere) or is not a token at all
must therefore not lock a reader out of the public pages: those answer 200 with the public
answer and say why in ``WWW-Authenticate``; pages that need a user keep answering 401.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

import httpx
import orjson
import pytest

from conduit.core.security import TokenCodec
from tests.api.support import assert_error
from tests.helpers import auth, create_article, register

KINDS = ("expired", "tampered", "revoked", "malformed")
PUBLIC_ENDPOINTS = (
    "/articles",
    "/articles/{slug}",
    "/articles/{slug}/comments",
    "/profiles/{author}",
)
PRIVATE_ENDPOINTS = ("/user", "/articles/feed")


@dataclass(frozen=True)
class Scene:
    author: str
    slug: str
    reader_token: str
    reader_id: int


async def set_scene(client: httpx.AsyncClient, tokens: TokenCodec) -> Scene:
    """An article with a comment; a reader who follows its author and favorited it, so
    that the reader's answers differ from the anonymous ones."""
    author_token = await register(client, "author")
    slug = (await create_article(client, author_token, "Stale tokens"))["slug"]
    comment = await client.post(
        f"/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=auth(author_token)
    )
    assert comment.status_code == 201, comment.text
    reader_token = await register(client, "reader")
    headers = auth(reader_token)
    assert (await client.post("/profiles/author/follow", headers=headers)).status_code == 200
    assert (await client.post(f"/articles/{slug}/favorite", headers=headers)).status_code == 200
    return Scene("author", slug, reader_token, tokens.decode(reader_token).user_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def stale_header(
    client: httpx.AsyncClient, tokens: TokenCodec, scene: Scene, kind: str
) -> dict[str, str]:
    """The Authorization header of a stale token of the reader, of the given kind."""
    if kind == "expired":
        issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=tokens.ttl_seconds + 60)
        return auth(tokens.issue(scene.reader_id, now=issued))
    if kind == "tampered":
        header, payload, signature = scene.reader_token.split(".")
        claims = orjson.loads(_unb64(payload))
        claims["sub"] = str(scene.reader_id + 1000)
        return auth(f"{header}.{_b64(orjson.dumps(claims))}.{signature}")
    if kind == "revoked":
        response = await client.post(
            "/users/logout", json={"everywhere": True}, headers=auth(scene.reader_token)
        )
        assert response.status_code == 204, response.text
        return auth(scene.reader_token)
    assert kind == "malformed"
    return {"Authorization": "Token this-is-not-a-token"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("endpoint", PUBLIC_ENDPOINTS)
async def test_public_pages_read_a_stale_token_as_anonymous(
    client: httpx.AsyncClient, tokens: TokenCodec, endpoint: str, kind: str
) -> None:
    scene = await set_scene(client, tokens)
    path = endpoint.format(slug=scene.slug, author=scene.author)
    anonymous = await client.get(path)
    assert anonymous.status_code == 200
    assert "www-authenticate" not in anonymous.headers
    as_reader = await client.get(path, headers=auth(scene.reader_token))
    assert as_reader.status_code == 200
    assert as_reader.json() != anonymous.json()  # the reader's answer is personal

    response = await client.get(path, headers=await stale_header(client, tokens, scene, kind))

    assert response.status_code == 200, response.text
    assert response.json() == anonymous.json()
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith('Token error="invalid_token"'), challenge
    assert "error_description=" in challenge


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("endpoint", PRIVATE_ENDPOINTS)
async def test_private_pages_refuse_a_stale_token(
    client: httpx.AsyncClient, tokens: TokenCodec, endpoint: str, kind: str
) -> None:
    scene = await set_scene(client, tokens)
    assert (await client.get(endpoint, headers=auth(scene.reader_token))).status_code == 200

    response = await client.get(endpoint, headers=await stale_header(client, tokens, scene, kind))

    assert_error(response, 401)
    assert response.headers.get("www-authenticate", "").startswith("Token")


async def test_a_token_issued_after_signing_out_everywhere_is_not_stale(
    client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    scene = await set_scene(client, tokens)
    await stale_header(client, tokens, scene, "revoked")
    login = await client.post(
        "/users/login",
        json={"user": {"email": "reader@conduit.test", "password": "password123"}},
    )
    assert login.status_code == 200
    token = login.json()["user"]["token"]
    response = await client.get(f"/articles/{scene.slug}", headers=auth(token))
    assert response.status_code == 200
    assert "www-authenticate" not in response.headers
    assert response.json()["article"]["favorited"] is True
