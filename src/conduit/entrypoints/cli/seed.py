"""Realistic demo data for ``conduit seed`` and the benchmark, written in bulk.

Users are user1..userN with one shared password; articles have markdown bodies, tags,
favorites and comments; timestamps rise with ids so "newest first" reads naturally.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.models import articles, favorites
from conduit.articles.search_index import search_tags
from conduit.articles.service import slug_for
from conduit.comments.models import comments
from conduit.core.db import Database
from conduit.core.security import hash_password
from conduit.core.tables import utcnow
from conduit.profiles.models import follows
from conduit.tags.models import article_tags, tags
from conduit.users.models import users

WORDS = (
    "async api backend cache database deploy design docker event feature graph http index "
    "kubernetes latency message migration network observability python query queue redis "
    "release schema security service sql storage stream testing token transaction websocket "
    "worker scale replica shard outbox metric trace log review refactor performance"
).split()
TOPICS = (
    "python fastapi sqlalchemy postgresql redis rabbitmq nats kubernetes docker testing "
    "security performance architecture graphql websockets observability devops databases "
    "caching messaging design career productivity opensource tutorial beginners javascript "
    "react vue angular svelte rust go java kotlin swift typescript node deno linux cloud aws "
    "gcp azure serverless microservices monolith ddd tdd cqrs events sql nosql"
).split()
BATCH = 2000


class SeedProgress(Protocol):
    """Told how many rows each table gets and how many are written (``conduit seed``'s bar)."""

    def table(self, name: str, total: int) -> None: ...

    def advance(self, name: str, rows: int) -> None: ...


class _Quiet:
    def table(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, rows: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class SeedPlan:
    users: int = 50
    articles: int = 200
    tags: int = 20
    favorites: int = 500
    follows: int = 200
    comments: int = 400
    password: str = "password123"  # noqa: S105 - demo accounts, documented
    random_seed: int = 42


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize()


def _markdown(rng: random.Random) -> str:
    parts = [f"## {_sentence(rng, 2, 5)}", ""]
    for _ in range(rng.randint(2, 4)):
        parts += [f"{_sentence(rng, 12, 30)}. **{rng.choice(WORDS)}** matters.", ""]
    parts += [f"- {_sentence(rng, 3, 6)}" for _ in range(3)]
    parts += ["", "```python", f"print({rng.choice(WORDS)!r})", "```"]
    return "\n".join(parts)


async def _insert(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], progress: SeedProgress
) -> None:
    progress.table(table.name, len(rows))
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        await conn.execute(table.insert(), batch)
        progress.advance(table.name, len(batch))


def _pairs(
    rng: random.Random, count: int, left: list[int], right: list[int], *, same: bool = True
) -> set[tuple[int, int]]:
    """``count`` distinct (left, right) pairs, fewer if there are not that many.

    ``same=False`` leaves out pairs of one id with itself (nobody follows themselves).
    """
    possible = len(left) * len(right)
    if not same:
        possible -= len(set(left) & set(right))
    count = min(count, possible)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < count:
        pair = (rng.choice(left), rng.choice(right))
        if same or pair[0] != pair[1]:
            pairs.add(pair)
    return pairs


async def _index_tags(conn: AsyncConnection, links: list[dict[str, Any]]) -> None:
    """Write the tag names each article's search index holds (``articles.search_tags``)."""
    tag_ids = {link["tag_id"] for link in links}
    if not tag_ids:
        return
    rows = await conn.execute(select(tags.c.id, tags.c.name).where(tags.c.id.in_(tag_ids)))
    name_of = {row.id: row.name for row in rows}
    tagged: dict[int, list[str]] = {}
    for link in links:
        tagged.setdefault(link["article_id"], []).append(name_of[link["tag_id"]])
    statement = (
        update(articles)
        .where(articles.c.id == bindparam("article_id"))
        .values(search_tags=bindparam("tags_text"))
    )
    values = [{"article_id": a, "tags_text": search_tags(names)} for a, names in tagged.items()]
    for start in range(0, len(values), BATCH):
        await conn.execute(statement, values[start : start + BATCH])


async def seed_database(
    db: Database, plan: SeedPlan, progress: SeedProgress | None = None
) -> dict[str, int]:
    """Add the planned rows to whatever the database already holds; returns the counts.

    ``progress`` hears each table's row count before its rows are written, then each batch.
    """
    progress = progress or _Quiet()
    rng = random.Random(plan.random_seed)  # noqa: S311 - reproducible demo data, not secrets
    password_hash = hash_password(plan.password)  # one hash: argon2 is slow on purpose
    now = utcnow()
    start = now - dt.timedelta(days=365)
    async with db.uow() as uow:
        conn = uow.conn
        first_user = int((await conn.execute(select(func.count()).select_from(users))).scalar_one())
        if first_user:  # adding to earlier data: another stream, or the same slugs again
            rng.seed(f"{plan.random_seed}:{first_user}")
        user_rows = [
            {
                "username": f"user{first_user + n}",
                "email": f"user{first_user + n}@conduit.example",
                "password_hash": password_hash,
                "bio": _sentence(rng, 4, 12) if n % 3 else None,
                "image": f"https://api.dicebear.com/9.x/identicon/svg?seed=user{first_user + n}"
                if n % 2
                else None,
                "created_at": start,
                "updated_at": start,
            }
            for n in range(1, plan.users + 1)
        ]
        await _insert(conn, users, user_rows, progress)
        user_ids = list(
            (await conn.execute(select(users.c.id).order_by(users.c.id.desc()).limit(plan.users)))
            .scalars()
            .all()
        )

        existing_tags = set((await conn.execute(select(tags.c.name))).scalars())
        names = [t for t in (TOPICS * (plan.tags // len(TOPICS) + 1))[: plan.tags]]
        names = [n if i < len(TOPICS) else f"{n}{i}" for i, n in enumerate(names)]
        await _insert(conn, tags, [{"name": n} for n in names if n not in existing_tags], progress)
        tag_ids = (
            list((await conn.execute(select(tags.c.id).where(tags.c.name.in_(names)))).scalars())
            if names
            else []
        )

        step = dt.timedelta(seconds=365 * 24 * 3600 / max(plan.articles, 1))
        article_rows = []
        for n in range(plan.articles):
            title = _sentence(rng, 3, 8)
            created = start + step * n
            article_rows.append(
                {
                    "slug": slug_for(title, suffix=f"{rng.getrandbits(40):010x}"),
                    "title": title,
                    "description": _sentence(rng, 6, 14),
                    "body": _markdown(rng),
                    "author_id": rng.choice(user_ids),
                    "created_at": created,
                    "updated_at": created,
                }
            )
        await _insert(conn, articles, article_rows, progress)
        article_ids = (
            list(
                (
                    await conn.execute(
                        select(articles.c.id).order_by(articles.c.id.desc()).limit(plan.articles)
                    )
                ).scalars()
            )
            if plan.articles
            else []
        )

        links = []
        for article_id in article_ids:
            for tag_id in rng.sample(tag_ids, k=min(len(tag_ids), rng.randint(0, 4))):
                links.append({"article_id": article_id, "tag_id": tag_id})
        await _insert(conn, article_tags, links, progress)
        await _index_tags(conn, links)

        fav_rows = [
            {"user_id": u, "article_id": a, "created_at": now}
            for u, a in _pairs(rng, plan.favorites if article_ids else 0, user_ids, article_ids)
        ]
        await _insert(conn, favorites, fav_rows, progress)

        follow_rows = [
            {"follower_id": a, "followee_id": b, "created_at": now}
            for a, b in _pairs(rng, plan.follows, user_ids, user_ids, same=False)
        ]
        await _insert(conn, follows, follow_rows, progress)

        comment_rows = []
        for n in range(plan.comments if article_ids else 0):
            created = now - dt.timedelta(seconds=plan.comments - n)
            comment_rows.append(
                {
                    "article_id": rng.choice(article_ids),
                    "author_id": rng.choice(user_ids),
                    "body": _sentence(rng, 5, 25) + ".",
                    "created_at": created,
                    "updated_at": created,
                }
            )
        await _insert(conn, comments, comment_rows, progress)
        await uow.commit()
    return {
        "users": len(user_rows),
        "articles": len(article_rows),
        "tags": len(names),
        "article_tags": len(links),
        "favorites": len(fav_rows),
        "follows": len(follow_rows),
        "comments": len(comment_rows),
    }
