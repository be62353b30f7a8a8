"""Realistic demo data for ``conduit seed`` and the benchmark, written in bulk.

Users are user1..userN (emails userN@conduit.example) with one shared password; articles
have markdown bodies, tags, favorites and comments; timestamps rise with ids so "newest
first" reads naturally. Seeding is idempotent: see :func:`seed_database`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.models import articles, favorites
from conduit.articles.search_index import search_tags
from conduit.articles.service import slug_for
from conduit.comments.models import comments
from conduit.core.db import Database
from conduit.core.security import hash_password
from conduit.core.tables import utcnow
from conduit.profiles.models import follows
from conduit.tags import repository as tags_repository
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
EMAIL_DOMAIN = "conduit.example"


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


def _user_rows(plan: SeedPlan, password_hash: str, start: dt.datetime) -> list[dict[str, Any]]:
    rng = random.Random(f"{plan.random_seed}:users")  # noqa: S311 - demo data, not secrets
    return [
        {
            "username": f"user{n}",
            "email": f"user{n}@{EMAIL_DOMAIN}",
            "password_hash": password_hash,
            "bio": _sentence(rng, 4, 12) if n % 3 else None,
            "image": f"https://api.dicebear.com/9.x/identicon/svg?seed=user{n}" if n % 2 else None,
            "created_at": start,
            "updated_at": start,
        }
        for n in range(1, plan.users + 1)
    ]


def _article_rows(
    plan: SeedPlan, author_ids: list[int], start: dt.datetime
) -> list[dict[str, Any]]:
    """The same rows for the same plan and authors: a slug names an article of this plan."""
    rng = random.Random(f"{plan.random_seed}:articles")  # noqa: S311 - demo data
    step = dt.timedelta(seconds=365 * 24 * 3600 / max(plan.articles, 1))
    rows = []
    for n in range(plan.articles):
        title = _sentence(rng, 3, 8)
        created = start + step * n
        rows.append(
            {
                "slug": slug_for(title, suffix=f"{rng.getrandbits(40):010x}"),
                "title": title,
                "description": _sentence(rng, 6, 14),
                "body": _markdown(rng),
                "author_id": rng.choice(author_ids),
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


async def _existing(conn: AsyncConnection, column: Any, values: list[Any]) -> dict[Any, int]:
    """Which of ``values`` the column's table holds, each with its row's id."""
    found: dict[Any, int] = {}
    for begin in range(0, len(values), BATCH):
        batch = values[begin : begin + BATCH]
        rows = await conn.execute(select(column, column.table.c.id).where(column.in_(batch)))
        found.update({value: row_id for value, row_id in rows})
    return found


async def _new_follows(
    conn: AsyncConnection, pairs: set[tuple[int, int]], user_ids: list[int]
) -> list[tuple[int, int]]:
    """``pairs`` less the follows that exist already, in a stable order."""
    existing: set[tuple[int, int]] = set()
    for begin in range(0, len(user_ids), BATCH):
        batch = user_ids[begin : begin + BATCH]
        statement = select(follows.c.follower_id, follows.c.followee_id).where(
            follows.c.follower_id.in_(batch)
        )
        existing.update((a, b) for a, b in await conn.execute(statement))
    return sorted(pairs - existing)


async def seed_database(
    db: Database, plan: SeedPlan, progress: SeedProgress | None = None
) -> dict[str, int]:
    """Add what the plan describes and the database lacks; returns the rows added per table.

    The users are user1..userN (``userN@conduit.example``, ``plan.password``), whatever other
    users exist; one of them that exists already (same username or email) is kept as it is.
    Articles, follows, favorites and comments come from ``plan.random_seed``: the same plan
    run again adds nothing (an article is known by its slug; favorites and comments only go
    to the articles this run added), another seed adds other articles by the same users.
    ``progress`` hears each table's row count before its rows are written, then each batch.
    """
    progress = progress or _Quiet()
    password_hash = hash_password(plan.password)  # one hash: argon2 is slow on purpose
    now = utcnow()
    start = now - dt.timedelta(days=365)
    async with db.uow() as uow:
        conn = uow.conn
        wanted = _user_rows(plan, password_hash, start)
        taken = await _existing(conn, users.c.username, [row["username"] for row in wanted])
        emails = await _existing(conn, users.c.email, [row["email"] for row in wanted])
        user_rows = [
            row for row in wanted if row["username"] not in taken and row["email"] not in emails
        ]
        await _insert(conn, users, user_rows, progress)
        ids = await _existing(conn, users.c.username, [row["username"] for row in wanted])
        user_ids = [ids[row["username"]] for row in wanted if row["username"] in ids]

        existing_tags = set((await conn.execute(select(tags.c.name))).scalars())
        names = [t for t in (TOPICS * (plan.tags // len(TOPICS) + 1))[: plan.tags]]
        names = [n if i < len(TOPICS) else f"{n}{i}" for i, n in enumerate(names)]
        tag_rows = [{"name": n} for n in names if n not in existing_tags]
        await _insert(conn, tags, tag_rows, progress)
        tag_of = await _existing(conn, tags.c.name, names)
        tag_ids = [tag_of[name] for name in names if name in tag_of]

        planned = _article_rows(plan, user_ids, start) if user_ids else []
        known = await _existing(conn, articles.c.slug, [row["slug"] for row in planned])
        article_rows = [row for row in planned if row["slug"] not in known]
        await _insert(conn, articles, article_rows, progress)
        added = await _existing(conn, articles.c.slug, [row["slug"] for row in article_rows])
        article_ids = [added[row["slug"]] for row in article_rows]

        rng = random.Random(f"{plan.random_seed}:tags")  # noqa: S311 - demo data
        links = []
        for article_id in article_ids:
            for tag_id in rng.sample(tag_ids, k=min(len(tag_ids), rng.randint(0, 4))):
                links.append({"article_id": article_id, "tag_id": tag_id})
        await _insert(conn, article_tags, links, progress)
        await _index_tags(conn, links)
        # Links written here carry no event: the tags' kept counts are set in this transaction.
        await tags_repository.recount_ids(conn, {link["tag_id"] for link in links})

        rng = random.Random(f"{plan.random_seed}:favorites")  # noqa: S311 - demo data
        fav_rows = [
            {"user_id": u, "article_id": a, "created_at": now}
            for u, a in sorted(
                _pairs(rng, plan.favorites if article_ids else 0, user_ids, article_ids)
            )
        ]
        await _insert(conn, favorites, fav_rows, progress)

        rng = random.Random(f"{plan.random_seed}:follows")  # noqa: S311 - demo data
        pairs = _pairs(rng, plan.follows, user_ids, user_ids, same=False)
        follow_rows = [
            {"follower_id": a, "followee_id": b, "created_at": now}
            for a, b in await _new_follows(conn, pairs, user_ids)
        ]
        await _insert(conn, follows, follow_rows, progress)

        rng = random.Random(f"{plan.random_seed}:comments")  # noqa: S311 - demo data
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
        "tags": len(tag_rows),
        "article_tags": len(links),
        "favorites": len(fav_rows),
        "follows": len(follow_rows),
        "comments": len(comment_rows),
    }
