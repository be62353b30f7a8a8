"""Every state change writes its event to the outbox in the same transaction, on every backend.

A rolled-back use case leaves no event; a use case that retries emits only in the attempt
that commits; a no-op (following someone already followed) emits nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from conduit.articles import repository as articles_repository
from conduit.articles import service as articles
from conduit.comments import service as comments
from conduit.core.db import Database
from conduit.core.events import CATALOGUE, Event
from conduit.core.outbox import outbox
from conduit.core.principal import Principal
from conduit.profiles import service as profiles
from conduit.users import service as users
from conduit.users.events import UserRegistered
from conduit.users.exceptions import AlreadyTaken
from tests.integration.support import fetch_all, make_user


async def _events(db: Database) -> list[Event]:
    rows = await fetch_all(db, select(outbox.c.payload, outbox.c.type).order_by(outbox.c.seq))
    found = [Event.from_json(row.payload) for row in rows]
    assert [event.type for event in found] == [row.type for row in rows]
    return found


async def _types(db: Database) -> list[str]:
    return [event.type for event in await _events(db)]


async def test_every_use_case_that_changes_state_records_its_event(db: Database) -> None:
    alice = await users.register(db, username="alice", email="a@conduit.test", password="pw-12345")
    bob = await make_user(db, "bob")
    await users.update(
        db, actor=Principal(id=alice.id), changes={"bio": "hi", "password": "new-pass-1"}
    )
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await profiles.unfollow(db, username="alice", actor=Principal(id=bob))
    article = await articles.create(
        db,
        actor=Principal(id=alice.id),
        title="Hello",
        description="d",
        body="b",
        tag_list=["x", "y"],
    )
    await articles.update(
        db, slug=article.slug, actor=Principal(id=alice.id), changes={"title": "Hi"}
    )
    await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
    await articles.unfavorite(db, slug=article.slug, actor=Principal(id=bob))
    comment = await comments.add(db, slug=article.slug, actor=Principal(id=bob), body="Nice")
    await comments.delete(db, slug=article.slug, comment_id=comment.id, actor=Principal(id=bob))
    await articles.delete(db, slug=article.slug, actor=Principal(id=alice.id))

    found = await _events(db)
    assert [event.type for event in found] == [
        "user.registered",
        "user.updated",
        "user.followed",
        "user.unfollowed",
        "article.created",
        "article.updated",
        "article.favorited",
        "article.unfavorited",
        "comment.created",
        "comment.deleted",
        "article.deleted",
    ]
    by_type = {event.type: event for event in found}
    assert by_type["user.registered"].actor_id == alice.id
    assert by_type["user.registered"].data == {"userId": alice.id, "username": "alice"}
    # What changed is named, never its value: no password, no hash in an event.
    assert by_type["user.updated"].data["changed"] == ["bio", "password"]
    assert "new-pass-1" not in str(by_type["user.updated"].data)
    assert by_type["user.followed"].actor_id == bob
    assert by_type["user.followed"].data == {
        "followerId": bob,
        "followeeId": alice.id,
        "followeeUsername": "alice",
    }
    created = by_type["article.created"].data
    assert created["slug"] == article.slug
    assert created["authorId"] == alice.id
    assert created["tagList"] == ["x", "y"]
    assert by_type["article.updated"].data["changed"] == ["title"]
    assert by_type["article.favorited"].data == {
        "articleId": article.id,
        "slug": article.slug,
        "authorId": alice.id,
        "userId": bob,
    }
    comment_data = by_type["comment.created"].data
    assert comment_data["commentId"] == comment.id
    assert comment_data["articleAuthorId"] == alice.id
    assert comment_data["body"] == "Nice"
    assert by_type["article.deleted"].data["articleId"] == article.id
    # Every event validates against the model its type declares in the catalogue.
    for event in found:
        CATALOGUE[event.type].model_validate(event.data)


async def test_the_envelope_is_versioned_with_a_uuid7_and_an_iso_time(db: Database) -> None:
    await users.register(db, username="carol", email="c@conduit.test", password="pw-12345")
    rows = await fetch_all(db, select(outbox.c.payload, outbox.c.event_id))
    assert len(rows) == 1
    envelope: dict[str, Any] = orjson.loads(rows[0].payload)
    assert set(envelope) == {"id", "type", "version", "occurredAt", "actorId", "data"}
    assert envelope["id"] == rows[0].event_id
    assert uuid.UUID(envelope["id"]).version == 7
    assert envelope["version"] == 1
    assert envelope["occurredAt"].endswith("Z")


async def test_no_op_writes_record_no_event(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await profiles.unfollow(db, username="alice", actor=Principal(id=bob))
    await profiles.unfollow(db, username="alice", actor=Principal(id=bob))
    article = await articles.create(
        db, actor=Principal(id=alice), title="T", description="d", body="b", tag_list=[]
    )
    await articles.unfavorite(db, slug=article.slug, actor=Principal(id=bob))
    await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
    await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
    await users.update(db, actor=Principal(id=alice), changes={})
    assert await _types(db) == [
        "user.followed",
        "user.unfollowed",
        "article.created",
        "article.favorited",
    ]


async def test_a_rolled_back_use_case_leaves_no_event(db: Database) -> None:
    await users.register(db, username="dave", email="d@conduit.test", password="pw-12345")
    with pytest.raises(AlreadyTaken):
        await users.register(db, username="dave", email="other@conduit.test", password="pw-1")

    async def failing_use_case() -> None:
        async with db.uow() as uow:
            uow.emit(UserRegistered(user_id=1, username="ghost"), actor_id=None)
            raise RuntimeError("the use case failed after emitting")

    with pytest.raises(RuntimeError):
        await failing_use_case()

    async with db.uow() as uow:  # never committed
        uow.emit(UserRegistered(user_id=2, username="ghost"), actor_id=None)

    assert await _types(db) == ["user.registered"]


async def test_a_retried_slug_attempt_emits_only_in_the_attempt_that_commits(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    author = await make_user(db, "erin")
    first = await articles.create(
        db, actor=Principal(id=author), title="Same title", description="d", body="b", tag_list=[]
    )

    async def slug_is_free(_conn: Any, _slug: str) -> bool:
        return False  # as if a concurrent writer took the slug after this check

    monkeypatch.setattr(articles_repository, "slug_exists", slug_is_free)
    second = await articles.create(
        db, actor=Principal(id=author), title="Same title", description="d", body="b", tag_list=[]
    )
    assert second.slug != first.slug
    found = [event for event in await _events(db) if event.type == "article.created"]
    assert [event.data["slug"] for event in found] == [first.slug, second.slug]


async def test_commit_listeners_hear_the_committed_events_only(db: Database) -> None:
    heard: list[list[str]] = []

    async def listener(events: Any) -> None:
        heard.append([event.type for event in events])

    async def failing(_events: Any) -> None:
        raise RuntimeError("a broken listener never fails the use case")

    db.on_commit(failing)
    db.on_commit(listener)
    await users.register(db, username="frank", email="f@conduit.test", password="pw-12345")
    with pytest.raises(AlreadyTaken):
        await users.register(db, username="frank", email="g@conduit.test", password="pw-12345")
    await make_user(db, "gina")  # commits without events: nobody is called
    assert heard == [["user.registered"]]
