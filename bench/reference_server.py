"""The "ceiling" of PERFORMANCE.md: Starlette + asyncpg, one SQL statement per response.

Not a product: reads only, no validation, no auth, anonymous flags (``favorited`` and
``following`` are false). PostgreSQL builds the whole JSON document and Python passes its
text through, so the numbers show what one Python core can serve when the database does
the joins. The bodies equal Conduit's anonymous answers (run.py checks that).

Routes: GET /api/articles (the 20 newest), GET /api/articles/{slug}, GET /api/tags,
GET /health/ready. bench/run.py starts it like this, pinned to the server core::

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/conduit_bench \\
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
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ISO = """'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"""


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
        'favorited', false,
        'favoritesCount', (SELECT count(*) FROM favorites f WHERE f.article_id = {alias}.id),
        'author', json_build_object(
            'username', u.username, 'bio', u.bio, 'image', u.image, 'following', false))"""


LIST_SQL = f"""
WITH page AS (
    SELECT id, slug, title, description, created_at, updated_at, author_id
    FROM articles ORDER BY id DESC LIMIT 20
)
SELECT json_build_object(
    'articles', coalesce((
        SELECT json_agg({_article_json("p", with_body=False)} ORDER BY p.id DESC)
        FROM page p JOIN users u ON u.id = p.author_id), '[]'::json),
    'articlesCount', (SELECT count(*) FROM articles))::text
"""

ARTICLE_SQL = f"""
SELECT json_build_object('article', {_article_json("a", with_body=True)})::text
FROM articles a JOIN users u ON u.id = a.author_id
WHERE a.slug = $1
"""

TAGS_SQL = """
SELECT json_build_object(
    'tags', coalesce(json_agg(name ORDER BY uses DESC, name), '[]'::json))::text
FROM (
    SELECT t.name, count(*) AS uses
    FROM tags t JOIN article_tags at ON at.tag_id = t.id
    GROUP BY t.id, t.name
) AS used
"""

NOT_FOUND = b'{"errors":{"article":["not found"]}}'


def _json(text: str | None, status: int = 200) -> Response:
    if text is None:
        return Response(NOT_FOUND, status_code=404, media_type="application/json")
    return Response(text.encode(), status_code=status, media_type="application/json")


def _pool(request: Request) -> Any:
    return request.app.state.pool


async def list_articles(request: Request) -> Response:
    return _json(await _pool(request).fetchval(LIST_SQL))


async def get_article(request: Request) -> Response:
    return _json(await _pool(request).fetchval(ARTICLE_SQL, request.path_params["slug"]))


async def list_tags(request: Request) -> Response:
    return _json(await _pool(request).fetchval(TAGS_SQL))


async def ready(request: Request) -> Response:
    await _pool(request).fetchval("SELECT 1")
    return Response(b'{"status":"ok"}', media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    size = int(os.environ.get("BENCH_REFERENCE_POOL", "20"))
    app.state.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/articles", list_articles),
        Route("/api/articles/{slug}", get_article),
        Route("/api/tags", list_tags),
        Route("/health/ready", ready),
    ],
    lifespan=lifespan,
)
