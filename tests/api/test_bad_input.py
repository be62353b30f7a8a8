"""Bad input never answers 5xx: every refusal is a 4xx in the RealWorld error format.

Each case names the request and, where the API promises one, the exact errors object.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.support import assert_client_error, assert_error
from tests.helpers import auth, create_article, register

JSON = {"Content-Type": "application/json"}
SLUG = "{slug}"
BAD_URL = {"url": ["is invalid"]}
NOT_JSON = {"body": ["is not valid JSON"]}
NOT_JSON_TYPED = {"body": ["must be sent with Content-Type: application/json"]}
GOOD_USER = {"username": "newbie", "email": "newbie@conduit.test", "password": "password123"}
GOOD_ARTICLE = {"title": "T", "description": "D", "body": "B"}


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    body: bytes | None = None
    signed_in: bool = True
    status: int | None = None  # None: any 4xx
    errors: dict[str, list[str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


BODY_ENDPOINTS = [
    ("register", "POST", "/users", "user"),
    ("login", "POST", "/users/login", "user"),
    ("update-user", "PUT", "/user", "user"),
    ("create-article", "POST", "/articles", "article"),
    ("update-article", "PUT", f"/articles/{SLUG}", "article"),
    ("add-comment", "POST", f"/articles/{SLUG}/comments", "comment"),
]


def _body_shape_cases() -> list[Case]:
    cases = []
    for name, method, path, wrapper in BODY_ENDPOINTS:
        shapes: list[tuple[str, bytes, dict[str, list[str]]]] = [
            ("malformed-json", b'{"' + wrapper.encode() + b'": {', {"body": ["is not valid JSON"]}),
            ("trailing-garbage", b"{}}", {"body": ["is not valid JSON"]}),
            ("json-list", b"[]", {"body": ["must be an object"]}),
            ("json-string", b'"hello"', {"body": ["must be an object"]}),
            ("json-number", b"42", {"body": ["must be an object"]}),
            ("json-null", b"null", {"body": ["can't be blank"]}),
            ("empty-body", b"", {"body": ["can't be blank"]}),
            ("no-wrapper", dumps({"email": "a@b.co", "title": "x"}), {wrapper: ["can't be blank"]}),
            ("wrapper-null", dumps({wrapper: None}), {wrapper: ["can't be blank"]}),
            ("wrapper-list", dumps({wrapper: [1]}), {wrapper: ["must be an object"]}),
            ("wrapper-string", dumps({wrapper: "x"}), {wrapper: ["must be an object"]}),
        ]
        cases += [
            Case(f"{name}-{shape}", method, path, body, status=422, errors=errors)
            for shape, body, errors in shapes
        ]
    return cases


def _wrong_type_cases() -> list[Case]:
    article = GOOD_ARTICLE
    post, put = "/articles", f"/articles/{SLUG}"
    return [
        Case(
            "title-number",
            "POST",
            post,
            dumps({"article": {**article, "title": 42}}),
            status=422,
            errors={"title": ["must be a string"]},
        ),
        Case(
            "title-bool",
            "POST",
            post,
            dumps({"article": {**article, "title": True}}),
            status=422,
            errors={"title": ["must be a string"]},
        ),
        Case(
            "title-10000-chars",
            "POST",
            post,
            dumps({"article": {**article, "title": "x" * 10_000}}),
            status=422,
            errors={"title": ["is too long (maximum is 255 characters)"]},
        ),
        Case(
            "description-too-long",
            "POST",
            post,
            dumps({"article": {**article, "description": "d" * 1001}}),
            status=422,
            errors={"description": ["is too long (maximum is 1000 characters)"]},
        ),
        Case(
            "tag-list-object",
            "POST",
            post,
            dumps({"article": {**article, "tagList": {"a": 1}}}),
            status=422,
            errors={"tagList": ["must be an array"]},
        ),
        Case(
            "tag-list-string",
            "POST",
            post,
            dumps({"article": {**article, "tagList": "a,b"}}),
            status=422,
            errors={"tagList": ["must be an array"]},
        ),
        Case(
            "tag-list-numbers",
            "POST",
            post,
            dumps({"article": {**article, "tagList": [1, 2]}}),
            status=422,
            errors={"tagList": ["must be a string"]},
        ),
        Case(
            "tag-list-null-item",
            "POST",
            post,
            dumps({"article": {**article, "tagList": [None]}}),
            status=422,
            errors={"tagList": ["can't be blank"]},
        ),
        Case(
            "tag-list-blank-item",
            "POST",
            post,
            dumps({"article": {**article, "tagList": [" "]}}),
            status=422,
            errors={"tagList": ["can't be blank"]},
        ),
        Case(
            "tag-too-long",
            "POST",
            post,
            dumps({"article": {**article, "tagList": ["t" * 65]}}),
            status=422,
            errors={"tagList": ["is too long (maximum is 64 characters)"]},
        ),
        Case(
            "too-many-tags",
            "POST",
            post,
            dumps({"article": {**article, "tagList": [f"t{i}" for i in range(21)]}}),
            status=422,
            errors={"tagList": ["has too many items (maximum is 20)"]},
        ),
        Case(
            "update-tag-list-string",
            "PUT",
            put,
            dumps({"article": {"tagList": "a"}}),
            status=422,
            errors={"tagList": ["must be an array"]},
        ),
        Case(
            "update-title-number",
            "PUT",
            put,
            dumps({"article": {"title": 1}}),
            status=422,
            errors={"title": ["must be a string"]},
        ),
        Case(
            "comment-body-object",
            "POST",
            f"/articles/{SLUG}/comments",
            dumps({"comment": {"body": {"text": "x"}}}),
            status=422,
            errors={"body": ["must be a string"]},
        ),
        Case(
            "username-number",
            "POST",
            "/users",
            dumps({"user": {**GOOD_USER, "username": 7}}),
            signed_in=False,
            status=422,
            errors={"username": ["must be a string"]},
        ),
        Case(
            "username-too-long",
            "POST",
            "/users",
            dumps({"user": {**GOOD_USER, "username": "u" * 65}}),
            signed_in=False,
            status=422,
            errors={"username": ["is too long (maximum is 64 characters)"]},
        ),
        Case(
            "email-list",
            "POST",
            "/users",
            dumps({"user": {**GOOD_USER, "email": ["a@b.co"]}}),
            signed_in=False,
            status=422,
            errors={"email": ["must be a string"]},
        ),
        Case(
            "password-bool",
            "POST",
            "/users",
            dumps({"user": {**GOOD_USER, "password": True}}),
            signed_in=False,
            status=422,
            errors={"password": ["must be a string"]},
        ),
        Case(
            "password-too-long",
            "POST",
            "/users",
            dumps({"user": {**GOOD_USER, "password": "p" * 257}}),
            signed_in=False,
            status=422,
            errors={"password": ["is too long (maximum is 256 characters)"]},
        ),
        Case(
            "bio-number",
            "PUT",
            "/user",
            dumps({"user": {"bio": 5}}),
            status=422,
            errors={"bio": ["must be a string"]},
        ),
        Case(
            "image-too-long",
            "PUT",
            "/user",
            dumps({"user": {"image": "i" * 2049}}),
            status=422,
            errors={"image": ["is too long (maximum is 2048 characters)"]},
        ),
        Case(
            "lone-surrogate",
            "POST",
            post,
            b'{"article": {"title": "a\\ud800b", "description": "d", "body": "b"}}',
            status=422,
            errors={"title": ["must be valid unicode"]},
        ),
        Case(
            "nul-in-title",
            "POST",
            post,
            dumps({"article": {**article, "title": "a\x00b"}}),
            status=422,
            errors={"title": ["is invalid"]},
        ),
        Case(
            "nul-in-tag",
            "POST",
            post,
            dumps({"article": {**article, "tagList": ["a\x00"]}}),
            status=422,
            errors={"tagList": ["is invalid"]},
        ),
        Case(
            "nul-in-comment",
            "POST",
            f"/articles/{SLUG}/comments",
            dumps({"comment": {"body": "x\x00y"}}),
            status=422,
            errors={"body": ["is invalid"]},
        ),
        Case(
            "nul-in-username",
            "POST",
            "/users",
            dumps({"user": {**GOOD_USER, "username": "nu\x00l"}}),
            signed_in=False,
            status=422,
            errors={"username": ["is invalid"]},
        ),
        Case(
            "nul-in-bio",
            "PUT",
            "/user",
            dumps({"user": {"bio": "b\x00"}}),
            status=422,
            errors={"bio": ["is invalid"]},
        ),
        Case(
            "nul-in-login-email",
            "POST",
            "/users/login",
            dumps({"user": {"email": "a\x00@b.co", "password": "password123"}}),
            signed_in=False,
            status=422,
            errors={"email": ["is invalid"]},
        ),
        Case(
            "deeply-nested",
            "POST",
            post,
            b"[" * 200_000 + b"]" * 200_000,  # valid JSON, deeper than the parser goes
            status=422,
            errors={"body": ["is nested too deeply"]},
        ),
        Case(
            "deeply-nested-object",
            "POST",
            post,
            b'{"article": ' * 50_000 + b"{}" + b"}" * 50_000,
            status=422,
            errors={"body": ["is nested too deeply"]},
        ),
        Case(
            "huge-integer",
            "POST",
            post,
            b'{"article": {"title": ' + b"9" * 5000 + b"}}",
            status=422,
            errors=NOT_JSON,
        ),
        Case(
            "infinite-number",
            "POST",
            post,
            b'{"article": {"title": 1e400, "description": "d", "body": "b"}}',
            status=422,
            errors={"title": ["must be a string"]},
        ),
        Case("invalid-utf8", "POST", post, b"\xff\xfe\xfd", status=422, errors=NOT_JSON),
        Case(
            "text-plain-content-type",
            "POST",
            post,
            dumps({"article": article}),
            headers={"Content-Type": "text/plain"},
            status=415,
            errors=NOT_JSON_TYPED,
        ),
        Case(
            "form-content-type",
            "PUT",
            "/user",
            dumps({"user": {"bio": "b"}}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            status=415,
            errors=NOT_JSON_TYPED,
        ),
    ]


def _query_and_path_cases() -> list[Case]:
    not_int = {"limit": ["must be an integer"]}
    return [
        Case(
            "limit-0",
            "GET",
            "/articles?limit=0",
            status=422,
            errors={"limit": ["must be greater than or equal to 1"]},
        ),
        Case(
            "limit-negative",
            "GET",
            "/articles?limit=-1",
            status=422,
            errors={"limit": ["must be greater than or equal to 1"]},
        ),
        Case("limit-abc", "GET", "/articles?limit=abc", status=422, errors=not_int),
        Case("limit-float", "GET", "/articles?limit=1.5", status=422, errors=not_int),
        Case("limit-empty", "GET", "/articles?limit=", status=422, errors=not_int),
        Case(
            "limit-huge",
            "GET",
            f"/articles?limit={10**30}",
            status=422,
            errors={"limit": ["must be less than or equal to 100"]},
        ),
        Case(
            "offset-negative",
            "GET",
            "/articles?offset=-1",
            status=422,
            errors={"offset": ["must be greater than or equal to 0"]},
        ),
        Case(
            "offset-huge",
            "GET",
            f"/articles?offset={10**30}",
            status=422,
            errors={"offset": ["must be less than or equal to 1000000000"]},
        ),
        Case(
            "offset-abc",
            "GET",
            "/articles?offset=abc",
            status=422,
            errors={"offset": ["must be an integer"]},
        ),
        Case(
            "feed-limit-0",
            "GET",
            "/articles/feed?limit=0",
            status=422,
            errors={"limit": ["must be greater than or equal to 1"]},
        ),
        Case(
            "feed-offset-huge",
            "GET",
            f"/articles/feed?offset={10**30}",
            status=422,
            errors={"offset": ["must be less than or equal to 1000000000"]},
        ),
        Case(
            "tag-filter-too-long",
            "GET",
            "/articles?tag=" + "t" * 65,
            status=422,
            errors={"tag": ["is too long (maximum is 64 characters)"]},
        ),
        Case(
            "comment-id-abc",
            "DELETE",
            f"/articles/{SLUG}/comments/abc",
            status=422,
            errors={"id": ["must be an integer"]},
        ),
        Case(
            "comment-id-float",
            "DELETE",
            f"/articles/{SLUG}/comments/1.5",
            status=422,
            errors={"id": ["must be an integer"]},
        ),
        Case(
            "comment-id-huge",
            "DELETE",
            f"/articles/{SLUG}/comments/99999999999999999999",
            status=404,
            errors={"comment": ["not found"]},
        ),
        Case(
            "unknown-slug",
            "GET",
            "/articles/no-such-slug",
            status=404,
            errors={"article": ["not found"]},
        ),
        Case(
            "very-long-slug",
            "GET",
            "/articles/" + "s" * 5000,
            status=404,
            errors={"article": ["not found"]},
        ),
        Case(
            "very-long-username",
            "GET",
            "/profiles/" + "u" * 5000,
            status=404,
            errors={"profile": ["not found"]},
        ),
        Case("nul-in-slug", "GET", "/articles/a%00b", status=422, errors=BAD_URL),
        Case("nul-in-comments-slug", "GET", "/articles/a%00b/comments", status=422, errors=BAD_URL),
        Case("nul-in-username-path", "GET", "/profiles/a%00b", status=422, errors=BAD_URL),
        Case("nul-in-follow", "POST", "/profiles/a%00b/follow", status=422, errors=BAD_URL),
        Case("nul-in-tag-filter", "GET", "/articles?tag=a%00b", status=422, errors=BAD_URL),
        Case("nul-in-author-filter", "GET", "/articles?author=a%00b", status=422, errors=BAD_URL),
        Case(
            "nul-in-favorited-filter",
            "GET",
            "/articles?favorited=a%00b",
            status=422,
            errors=BAD_URL,
        ),
        Case("unknown-route", "GET", "/nowhere", status=404, errors={"path": ["not found"]}),
        Case(
            "unknown-nested-route",
            "GET",
            f"/articles/{SLUG}/nowhere",
            status=404,
            errors={"path": ["not found"]},
        ),
        Case(
            "wrong-method-tags",
            "DELETE",
            "/tags",
            status=405,
            errors={"request": ["method not allowed"]},
        ),
        Case(
            "wrong-method-user",
            "PATCH",
            "/user",
            status=405,
            errors={"request": ["method not allowed"]},
        ),
        Case(
            "wrong-method-comments",
            "PUT",
            f"/articles/{SLUG}/comments",
            status=405,
            errors={"request": ["method not allowed"]},
        ),
    ]


def _auth_cases() -> list[Case]:
    missing = {"token": ["is missing"]}
    invalid = {"token": ["is invalid"]}
    return [
        Case(
            "empty-authorization",
            "GET",
            "/user",
            signed_in=False,
            headers={"Authorization": ""},
            status=401,
            errors=missing,
        ),
        Case(
            "blank-authorization",
            "GET",
            "/user",
            signed_in=False,
            headers={"Authorization": "   "},
            status=401,
            errors=missing,
        ),
        Case(
            "token-without-value",
            "GET",
            "/user",
            signed_in=False,
            headers={"Authorization": "Token"},
            status=401,
            errors=invalid,
        ),
        Case(
            "bearer-without-value",
            "GET",
            "/articles/feed",
            signed_in=False,
            headers={"Authorization": "Bearer "},
            status=401,
            errors=invalid,
        ),
        Case(
            "unknown-scheme",
            "GET",
            "/user",
            signed_in=False,
            headers={"Authorization": "Basic dXNlcjpwYXNz"},
            status=401,
            errors=invalid,
        ),
        Case(
            "garbage-token-on-the-feed",
            "GET",
            "/articles/feed",
            signed_in=False,
            headers={"Authorization": "Token garbage"},
            status=401,
            errors=invalid,
        ),
        Case(
            "garbage-token-on-public-profile-reads-anonymously",
            "GET",
            "/profiles/nobody",
            signed_in=False,
            headers={"Authorization": "Token a.b.c"},
            status=404,
            errors={"profile": ["not found"]},
        ),
        Case(
            "no-token-unknown-comment",
            "DELETE",
            "/articles/nope/comments/abc",
            signed_in=False,
            status=401,
            errors=missing,
        ),
    ]


CASES = _body_shape_cases() + _wrong_type_cases() + _query_and_path_cases() + _auth_cases()


@pytest.fixture
async def world(client: httpx.AsyncClient) -> tuple[str, str]:
    """A signed-in author with one article: (token, slug)."""
    token = await register(client, "author")
    article = await create_article(client, token, "Existing", tagList=["kept"])
    return token, article["slug"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_is_a_4xx_in_error_format(
    client: httpx.AsyncClient, world: tuple[str, str], case: Case
) -> None:
    token, slug = world
    headers = {**(auth(token) if case.signed_in else {})}
    if case.body is not None:
        headers.update(JSON)
    headers.update(case.headers)
    response = await client.request(
        case.method, case.path.replace(SLUG, slug), content=case.body, headers=headers
    )
    if case.status is None:
        assert_client_error(response)
    else:
        assert_error(response, case.status, case.errors)
    # Nothing was damaged on the way.
    article = (await client.get(f"/articles/{slug}")).json()["article"]
    assert article["title"] == "Existing"
    assert article["tagList"] == ["kept"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", {"user": GOOD_USER}),
        ("POST", "/users/login", {"user": {"email": "a@b.co", "password": "password123"}}),
        ("PUT", "/user", {"user": {"bio": "b"}}),
        ("POST", "/articles", {"article": GOOD_ARTICLE}),
        ("PUT", f"/articles/{SLUG}", {"article": {"title": "New"}}),
        ("POST", f"/articles/{SLUG}/comments", {"comment": {"body": "c"}}),
        ("POST", "/users/logout", {"everywhere": True}),
    ],
)
async def test_a_json_body_without_content_type_is_415_naming_the_type(
    client: httpx.AsyncClient, world: tuple[str, str], method: str, path: str, body: Any
) -> None:
    token, slug = world
    response = await client.request(
        method, path.replace(SLUG, slug), content=dumps(body), headers=auth(token)
    )
    assert "content-type" not in response.request.headers
    assert_error(response, 415, NOT_JSON_TYPED)
    article = (await client.get(f"/articles/{slug}")).json()["article"]
    assert article["title"] == "Existing"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_oversized_body_is_413_in_error_format(
    client: httpx.AsyncClient, world: tuple[str, str], declared: bool
) -> None:
    token, _ = world
    payload = dumps({"article": {**GOOD_ARTICLE, "body": "x" * (1024 * 1024 + 10)}})

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    content: bytes | AsyncIterator[bytes] = payload if declared else chunks()
    response = await client.post("/articles", content=content, headers={**auth(token), **JSON})
    errors = assert_error(response, 413)
    assert list(errors) == ["body"]
    assert errors["body"][0].startswith("is too large")
    assert (await client.get("/articles")).json()["articlesCount"] == 1


async def test_body_just_under_the_limit_is_accepted(
    client: httpx.AsyncClient, world: tuple[str, str]
) -> None:
    token, _ = world
    body = "x" * 100_000
    created = await create_article(client, token, "Long read", body=body)
    assert created["body"] == body


async def test_unknown_route_outside_the_api_is_404_in_error_format(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("http://conduit.test/not-an-api-route")
    assert_error(response, 404, {"path": ["not found"]})


async def test_wrong_method_names_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.delete("/tags")
    assert_error(response, 405, {"request": ["method not allowed"]})
    assert "GET" in response.headers.get("allow", "")


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    response = await client.post(
        "/articles",
        json={"article": {**GOOD_ARTICLE, "favoritesCount": 99, "slug": "chosen"}, "extra": 1},
        headers=auth(token),
    )
    assert response.status_code == 201
    article = response.json()["article"]
    assert article["favoritesCount"] == 0
    assert article["slug"] == "t"
