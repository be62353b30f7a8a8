"""The "ceiling" of PERFORMANCE.md: Starlette + asyncpg, one SQL statement per response.

Not a product: reads only, no validation. PostgreSQL builds the whole JSON document and
Python passes its text through, so the numbers show what one Python core can serve when the
database does the joins. The bodies equal Conduit's (run.py checks every endpoint,
anonymous and signed in).

Signed-in flags: the ``Authorization: Token <jwt>`` header (``Bearer`` too) is decoded with
pyjwt (HS256, ``CONDUIT_SECRET_KEY``, the user id in ``sub``, like Conduit's TokenCodec);
the viewer's id is parameter ``$1`` of the same statement, which computes ``favorited`` and
``following`` with ``EXISTS`` sub-queries (both false when ``$1`` is NULL, i.e. anonymous).
A missing or invalid token reads anonymously, except on the feed (401). Unlike Conduit it
trusts the signature alone: no session or sign-out check.

Routes (Conduit's read endpoints, default page: the 20 newest)::

    GET /api/articles                  list (anonymous or signed in)
    GET /api/articles?tag=<tag>        list by tag
    GET /api/articles/feed             feed of the authors the viewer follows (signed in)
    GET /api/articles/{slug}           one article
    GET /api/articles/{slug}/comments  its comments, oldest first
    GET /api/profiles/{username}       a profile
    GET /api/tags                      the 100 most used tags (then by name)
    GET /health/ready

bench/run.py starts it like this, pinned to the server core::

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/conduit_bench \\
        CONDUIT_SECRET_KEY=<Conduit's> \\
        taskset -c 0 uvicorn --app-dir bench reference_server:app --port 8001 \\
        --loop uvloop --http httptools --no-access-log --log-level warning

``BENCH_REFERENCE_POOL`` sets the connection pool size (default 20, Conduit's 10 + 10).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ISO = """'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"""
TAGS_LIMIT = 100  # GET /api/tags in Conduit: at most 100, most used first
PAGE = 20

# $1 is the viewer's user id (NULL when anonymous) in every statement but the tags'.
FOLLOWING = "EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = {})"
FAVORITED = "EXISTS (SELECT 1 FROM favorites fv WHERE fv.user_id = $1 AND fv.article_id = {})"


def _profile_json(alias: str) -> str:
    return f"""json_build_object(
        'username', {alias}.username, 'bio', {alias}.bio, 'image', {alias}.image,
        'following', {FOLLOWING.format(f"{alias}.id")})"""


def _article_json(alias: str, *, with_body: bool) -> str:
    """SQL for one article object of ``alias`` (joined with users u), as Conduit shapes it."""
    body = f"'body', {alias}.body," if with_body else ""
    return f"""json_build_object(
        'slug', {alias}.slug,
        'title', {alias}.title,
        'description', {alias}.description,
        {body}
        'tagList', coalesce((
            SELECT json_agg(t.name ORDER BY t.name)
            FROM article_tags at JOIN tags t ON t.id = at.tag_id
            WHERE at.article_id = {alias}.id), '[]'::json),
        'createdAt', to_char({alias}.created_at, {ISO}),
        'updatedAt', to_char({alias}.updated_at, {ISO}),
        'favorited', {FAVORITED.format(f"{alias}.id")},
        'favoritesCount', (SELECT count(*) FROM favorites f WHERE f.article_id = {alias}.id),
        'author', {_profile_json("u")})"""


def _list_sql(condition: str) -> str:
    """One page of articles matching ``condition`` (on articles), and their count."""
    return f"""
WITH page AS (
    SELECT id, slug, title, description, created_at, updated_at, author_id
    FROM articles WHERE {condition} ORDER BY id DESC LIMIT {PAGE}
)
SELECT json_build_object(
    'articles', coalesce((
        SELECT json_agg({_article_json("p", with_body=False)} ORDER BY p.id DESC)
        FROM page p JOIN users u ON u.id = p.author_id), '[]'::json),
    'articlesCount', (SELECT count(*) FROM articles WHERE {condition}))::text
"""


LIST_SQL = _list_sql("TRUE")
TAG_SQL = _list_sql(
    """id IN (SELECT at.article_id FROM article_tags at JOIN tags t ON t.id = at.tag_id
              WHERE t.name = $2)"""
)
FEED_SQL = _list_sql("author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)")

ARTICLE_SQL = f"""
SELECT json_build_object('article', {_article_json("a", with_body=True)})::text
FROM articles a JOIN users u ON u.id = a.author_id
WHERE a.slug = $2
"""

COMMENTS_SQL = f"""
SELECT json_build_object('comments', coalesce((
    SELECT json_agg(json_build_object(
        'id', c.id,
        'createdAt', to_char(c.created_at, {ISO}),
        'updatedAt', to_char(c.updated_at, {ISO}),
        'body', c.body,
        'author', {_profile_json("cu")}) ORDER BY c.id)
    FROM comments c JOIN users cu ON cu.id = c.author_id
    WHERE c.article_id = a.id), '[]'::json))::text
FROM articles a
WHERE a.slug = $2
"""

PROFILE_SQL = f"""
SELECT json_build_object('profile', {_profile_json("u")})::text
FROM users u WHERE u.username = $2
"""

TAGS_SQL = f"""
SELECT json_build_object(
    'tags', coalesce(json_agg(name ORDER BY uses DESC, name), '[]'::json))::text
FROM (
    SELECT t.name, used.uses
    FROM (SELECT tag_id, count(*) AS uses FROM article_tags GROUP BY tag_id) AS used
    JOIN tags t ON t.id = used.tag_id
    ORDER BY used.uses DESC, t.name
    LIMIT {TAGS_LIMIT}
) AS popular
"""

NOT_FOUND = {
    "article": b'{"errors":{"article":["not found"]}}',
    "profile": b'{"errors":{"profile":["not found"]}}',
}
TOKEN_MISSING = b'{"errors":{"token":["is missing"]}}'


def _json(text: str | None, missing: str = "article") -> Response:
    if text is None:
        return Response(NOT_FOUND[missing], status_code=404, media_type="application/json")
    return Response(text.encode(), media_type="application/json")


def _pool(request: Request) -> Any:
    return request.app.state.pool


def viewer_id(request: Request) -> int | None:
    """The user id of a valid ``Token``/``Bearer`` JWT, None otherwise (anonymous)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token:
        return None
    try:
        claims = jwt.decode(
            token,
            request.app.state.secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub", "iat"]},
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    if claims.get("typ") != "access" or not isinstance(subject, str) or not subject.isdigit():
        return None
    return int(subject)


async def list_articles(request: Request) -> Response:
    viewer = viewer_id(request)
    tag = request.query_params.get("tag")
    if tag is not None:
        return _json(await _pool(request).fetchval(TAG_SQL, viewer, tag))
    return _json(await _pool(request).fetchval(LIST_SQL, viewer))


async def feed(request: Request) -> Response:
    viewer = viewer_id(request)
    if viewer is None:
        return Response(TOKEN_MISSING, status_code=401, media_type="application/json")
    return _json(await _pool(request).fetchval(FEED_SQL, viewer))


async def get_article(request: Request) -> Response:
    slug = request.path_params["slug"]
    return _json(await _pool(request).fetchval(ARTICLE_SQL, viewer_id(request), slug))


async def get_comments(request: Request) -> Response:
    slug = request.path_params["slug"]
    return _json(await _pool(request).fetchval(COMMENTS_SQL, viewer_id(request), slug))


async def get_profile(request: Request) -> Response:
    name = request.path_params["username"]
    return _json(await _pool(request).fetchval(PROFILE_SQL, viewer_id(request), name), "profile")


async def list_tags(request: Request) -> Response:
    return _json(await _pool(request).fetchval(TAGS_SQL))


async def ready(request: Request) -> Response:
    await _pool(request).fetchval("SELECT 1")
    return Response(b'{"status":"ok"}', media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    size = int(os.environ.get("BENCH_REFERENCE_POOL", "20"))
    app.state.secret = os.environ.get("CONDUIT_SECRET_KEY", "")
    app.state.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/articles", list_articles),
        Route("/api/articles/feed", feed),
        Route("/api/articles/{slug}", get_article),
        Route("/api/articles/{slug}/comments", get_comments),
        Route("/api/profiles/{username}", get_profile),
        Route("/api/tags", list_tags),
        Route("/health/ready", ready),
    ],
    lifespan=lifespan,
)
