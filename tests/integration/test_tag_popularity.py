"""The tags consumer keeps ``tags.articles`` on every backend, and the read walks its index.

The use cases run on a bare ``Database`` (no container: nothing applies the consumer at
commit), so each test sees the counts before the consumer ran, then applies the outbox's
events with ``conduit.core.consumers.apply``: the whole chain but the transport.
"""

from __future__ import annotations

import random
import re

import pytest
from sqlalchemy import select, text, update

from conduit.articles import service as articles
from conduit.core.consumers import apply
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.principal import Principal
from conduit.tags import repository
from conduit.tags import service as tags_service
from conduit.tags.handlers import consumer, on_event
from conduit.tags.models import tags
from tests.integration.support import count_statements, fetch_all, make_user
from tests.outbox_delivery import deliver_outbox, outbox_events


async def _counts(db: Database) -> dict[str, int]:
    rows = await fetch_all(db, select(tags.c.name, tags.c.articles))
    return {row.name: row.articles for row in rows}


async def _popular(db: Database) -> list[str]:
    return await tags_service.popular(db, limit=100)


async def test_the_counts_follow_create_retag_and_delete(db: Database) -> None:
    author = Principal(id=await make_user(db, "author"))
    first = await articles.create(
        db, actor=author, title="One", description="d", body="b", tag_list=["a", "b"]
    )
    await articles.create(db, actor=author, title="Two", description="d", body="b", tag_list=["b"])
    # Written, not yet counted: the count is never kept in the writing transaction.
    assert await _counts(db) == {"a": 0, "b": 0}
    assert await _popular(db) == []

    assert await deliver_outbox(db, consumer) == 2
    assert await _counts(db) == {"a": 1, "b": 2}
    assert await _popular(db) == ["b", "a"]

    await articles.update(
        db, slug=first.slug, actor=author, changes={"tag_list": ["b", "c"], "title": "One!"}
    )
    await deliver_outbox(db, consumer)
    # "a" dropped to 0 and is no longer listed; "b" kept by both; "c" new.
    assert await _counts(db) == {"a": 0, "b": 2, "c": 1}
    assert await _popular(db) == ["b", "c"]

    await articles.delete(db, slug=first.slug, actor=author)
    await deliver_outbox(db, consumer)
    assert await _counts(db) == {"a": 0, "b": 1, "c": 0}
    assert await _popular(db) == ["b"]

    updated, deleted = await outbox_events(db, "article.updated", "article.deleted")
    assert sorted(updated.data["tagList"]) == ["b", "c"]
    assert sorted(updated.data["previousTagList"]) == ["a", "b"]
    assert sorted(deleted.data["tagList"]) == ["b", "c"]


async def test_redelivery_and_reordering_leave_the_right_counts(db: Database) -> None:
    author = Principal(id=await make_user(db, "author"))
    gone = await articles.create(
        db, actor=author, title="Gone", description="d", body="b", tag_list=["x", "y"]
    )
    await articles.create(db, actor=author, title="Kept", description="d", body="b", tag_list=["y"])
    await articles.delete(db, slug=gone.slug, actor=author)
    events = await outbox_events(db, "article.created", "article.deleted")

    # The deletion first, then the creations, each twice: recounted from the truth.
    for event in [events[2], *events, *reversed(events)]:
        await apply(db, consumer, event)
    assert await _counts(db) == {"x": 0, "y": 1}

    # Even past the de-duplication (a replay, a lost processed_events record): the handler
    # itself is idempotent, and a recount that changes nothing emits nothing.
    for event in events:
        async with db.uow() as uow:
            await on_event(uow, event)
            assert uow.events == ()
            await uow.commit()
    assert await _counts(db) == {"x": 0, "y": 1}


async def test_a_recount_that_changed_counts_emits_tags_counted(db: Database) -> None:
    author = Principal(id=await make_user(db, "author"))
    await articles.create(
        db, actor=author, title="One", description="d", body="b", tag_list=["b", "a"]
    )
    await articles.create(db, actor=author, title="Bare", description="d", body="b", tag_list=[])
    await deliver_outbox(db, consumer)
    counted = await outbox_events(db, "tags.counted")
    assert [event.data for event in counted] == [{"names": ["a", "b"]}]  # the bump of TAGS


async def test_an_older_event_without_tag_lists_recounts_every_tag(db: Database) -> None:
    author = Principal(id=await make_user(db, "author"))
    article = await articles.create(
        db, actor=author, title="One", description="d", body="b", tag_list=["a"]
    )
    await deliver_outbox(db, consumer)
    async with db.uow() as uow:  # a count gone wrong, or links written without events
        await uow.conn.execute(update(tags).values(articles=7))
        await uow.commit()
    await articles.delete(db, slug=article.slug, actor=author)
    (deleted,) = await outbox_events(db, "article.deleted")
    older = {key: value for key, value in deleted.data.items() if key != "tagList"}
    await apply(db, consumer, Event(type=deleted.type, data=older, actor_id=author.id))
    assert await _counts(db) == {"a": 0}


async def test_an_update_that_keeps_the_tags_recounts_nothing(db: Database) -> None:
    author = Principal(id=await make_user(db, "author"))
    article = await articles.create(
        db, actor=author, title="One", description="d", body="b", tag_list=["a"]
    )
    await deliver_outbox(db, consumer)
    await articles.update(db, slug=article.slug, actor=author, changes={"body": "new"})
    await articles.update(db, slug=article.slug, actor=author, changes={"tag_list": ["a"]})
    with count_statements(db) as log:
        await deliver_outbox(db, consumer)
    assert not [s for s in log.statements if s.upper().startswith("UPDATE TAGS")]
    assert await _counts(db) == {"a": 1}


async def _many_tags(db: Database, count: int) -> None:
    """``count`` tags with kept counts (no articles needed: the read only reads the counts)."""
    rng = random.Random(7)
    rows = [{"name": f"tag{n:05d}", "articles": rng.randint(0, 500)} for n in range(count)]
    async with db.uow() as uow:
        await uow.conn.execute(tags.insert(), rows)
        await uow.commit()
    async with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("ANALYZE tags"))
        elif db.dialect == "sqlite":
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("ANALYZE TABLE tags"))
        await conn.commit()


async def test_the_read_is_one_statement_that_walks_the_popularity_index(db: Database) -> None:
    await _many_tags(db, 5000)
    with count_statements(db) as log:
        top = await _popular(db)
    assert len(top) == 100
    assert len(log.statements) == 1
    rows = await fetch_all(db, select(tags.c.name, tags.c.articles).where(tags.c.articles > 0))
    expected = sorted(rows, key=lambda row: (-row.articles, row.name))[:100]
    assert top == [row.name for row in expected]

    compiled = repository.POPULAR.params(limit=100).compile(
        dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    statement = str(compiled)
    async with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            plan = "\n".join((await conn.execute(text(f"EXPLAIN {statement}"))).scalars())
            # An index (only) scan in the answer's order that stops at the limit: no Sort.
            assert re.search(r"Index (Only )?Scan using ix_tags_popularity", plan), plan
            assert "Sort" not in plan, plan
        elif db.dialect == "sqlite":
            rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {statement}"))).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "ix_tags_popularity" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            rows = (await conn.execute(text(f"EXPLAIN {statement}"))).mappings().all()
            assert [row["key"] for row in rows] == ["ix_tags_popularity"], rows
            assert "filesort" not in str(rows[0]["Extra"]), rows


@pytest.mark.parametrize("names", [["a"], ["a", "b", "c"]])
async def test_a_recount_is_two_statements_whatever_the_number_of_tags(
    db: Database, names: list[str]
) -> None:
    author = Principal(id=await make_user(db, "author"))
    await articles.create(db, actor=author, title="One", description="d", body="b", tag_list=names)
    async with db.uow() as uow:
        with count_statements(db) as log:
            await repository.recount(uow.conn, set(names))
        await uow.commit()
    # The lock and the update (MariaDB, without UPDATE ... RETURNING: lock, read, update).
    assert len(log.statements) == {"sqlite": 1, "postgresql": 2}.get(db.dialect, 3)
