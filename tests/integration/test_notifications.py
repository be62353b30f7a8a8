"""The notifications consumer on every backend, fed with the events real use cases wrote.

Each test runs use cases, reads their events back from the outbox (``Event.from_json``) and
applies them with ``conduit.core.consumers.apply``: the whole chain but the transport.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from conduit.articles import service as articles
from conduit.articles.models import Article
from conduit.comments import service as comments
from conduit.core.consumers import apply
from conduit.core.db import Database
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.notifications import service as notifications
from conduit.notifications.handlers import consumer, on_event
from conduit.notifications.models import notifications as notifications_table
from conduit.profiles import service as profiles
from conduit.users.models import users
from tests.integration.support import count_rows, count_statements, fetch_all, make_user
from tests.outbox_delivery import deliver_outbox, outbox_events

ALL = Page(limit=100, offset=0)


async def _article(db: Database, author_id: int, title: str = "Hello") -> Article:
    return await articles.create(
        db, actor=Principal(id=author_id), title=title, description="d", body="b", tag_list=[]
    )


async def _kinds(db: Database, user_id: int) -> list[tuple[str, str]]:
    """(type, actor username) of the user's notifications, newest first."""
    found = await notifications.list_for(db, user_id=user_id, page=ALL)
    return [(item.type, item.actor.username) for item in found.items]


async def test_follow_favorite_comment_and_new_article_notify_the_right_user(
    db: Database,
) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    article = await _article(db, alice)
    await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
    comment = await comments.add(db, slug=article.slug, actor=Principal(id=bob), body="Nice one")
    await profiles.follow(db, username="bob", actor=Principal(id=alice))
    news = await _article(db, bob, "News from bob")

    assert await deliver_outbox(db, consumer) == 6

    found = await notifications.list_for(db, user_id=alice, page=ALL)
    assert [item.type for item in found.items] == ["article", "comment", "favorite", "follow"]
    assert {item.actor.username for item in found.items} == {"bob"}
    # The reader's view of the actor: alice follows bob back.
    assert all(item.actor.following for item in found.items)
    published, commented, favorited, followed = found.items
    assert published.article is not None
    assert (published.article.slug, published.article.title) == (news.slug, "News from bob")
    assert commented.comment is not None
    assert (commented.comment.id, commented.comment.body) == (comment.id, "Nice one")
    assert commented.article is not None
    assert commented.article.slug == article.slug
    assert favorited.article is not None
    assert favorited.article.slug == article.slug
    assert favorited.comment is None
    assert followed.article is None
    assert followed.comment is None
    assert (found.total, found.unread) == (4, 4)
    assert not any(item.read for item in found.items)

    # bob follows alice: told of her article, then of her following him. Nobody is told
    # of bob's own article but alice, who followed him before he published it.
    assert await _kinds(db, bob) == [("follow", "alice"), ("article", "alice")]


async def test_a_notification_is_dated_by_its_event(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    (event,) = await outbox_events(db, "user.followed")
    assert await apply(db, consumer, event)
    found = await notifications.list_for(db, user_id=alice, page=ALL)
    assert [item.created_at for item in found.items] == [event.occurred_at]


async def test_an_event_applied_twice_notifies_once(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    carol = await make_user(db, "carol")
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await profiles.follow(db, username="alice", actor=Principal(id=carol))
    await _article(db, alice)
    events = await outbox_events(db)
    for event in events:
        assert await apply(db, consumer, event) is True
    for event in events:
        assert await apply(db, consumer, event) is False
    assert await count_rows(db, notifications_table) == 4  # 2 follows, 2 new-article

    # Past the processed-events record, (event, recipient) is unique: a handler run again
    # on its own adds nothing and fails nothing.
    for event in events:
        async with db.uow() as uow:
            await on_event(uow, event)
            await uow.commit()
    assert await count_rows(db, notifications_table) == 4


async def test_nobody_is_notified_of_their_own_actions(db: Database) -> None:
    alice = await make_user(db, "alice")
    article = await _article(db, alice)
    await articles.favorite(db, slug=article.slug, actor=Principal(id=alice))
    await comments.add(db, slug=article.slug, actor=Principal(id=alice), body="Me again")
    assert await deliver_outbox(db, consumer) == 3
    assert await count_rows(db, notifications_table) == 0


async def test_a_new_article_notifies_every_follower_in_one_statement(db: Database) -> None:
    author = await make_user(db, "author")
    followers = [await make_user(db, f"reader{n}") for n in range(7)]
    stranger = await make_user(db, "stranger")
    for follower in followers:
        await profiles.follow(db, username="author", actor=Principal(id=follower))
    await profiles.follow(db, username=f"reader{0}", actor=Principal(id=author))
    await profiles.unfollow(db, username="author", actor=Principal(id=followers[-1]))
    await deliver_outbox(db, consumer)

    article = await _article(db, author)
    (event,) = await outbox_events(db, "article.created")
    with count_statements(db) as log:
        assert await apply(db, consumer, event)
    inserts = [s for s in log.statements if "INTO NOTIFICATIONS" in s.upper()]
    assert len(inserts) == 1, log
    # the processed-events record, the notifications, and the notification.added event in
    # the outbox (which live updates push from)
    assert log.count == 3, log

    rows = await fetch_all(
        db,
        select(notifications_table.c.recipient_id).where(
            notifications_table.c.type == "article",
            notifications_table.c.article_id == article.id,
        ),
    )
    # Every follower but the one who unfollowed; not the stranger, not the author.
    assert sorted(row.recipient_id for row in rows) == sorted(followers[:-1])
    assert stranger not in {row.recipient_id for row in rows}


async def test_unfollowing_and_unfavoriting_keep_earlier_notifications(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    article = await _article(db, alice)
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
    await deliver_outbox(db, consumer)
    await profiles.unfollow(db, username="alice", actor=Principal(id=bob))
    await articles.unfavorite(db, slug=article.slug, actor=Principal(id=bob))
    await deliver_outbox(db, consumer)
    assert await _kinds(db, alice) == [("favorite", "bob"), ("follow", "bob")]


async def test_deleting_an_article_removes_the_notifications_that_point_at_it(
    db: Database,
) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await profiles.follow(db, username="bob", actor=Principal(id=alice))
    gone = await _article(db, alice, "Gone")
    kept = await _article(db, alice, "Kept")
    for article in (gone, kept):
        await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
        await comments.add(db, slug=article.slug, actor=Principal(id=bob), body="Hm")
    await deliver_outbox(db, consumer)
    assert await count_rows(db, notifications_table) == 8

    await articles.delete(db, slug=gone.slug, actor=Principal(id=alice))
    await deliver_outbox(db, consumer)
    gone_rows = notifications_table.c.article_id == gone.id
    assert await count_rows(db, notifications_table, gone_rows) == 0
    assert await count_rows(db, notifications_table) == 5
    found = await notifications.list_for(db, user_id=alice, page=ALL)
    assert {item.article.slug for item in found.items if item.article} == {kept.slug}
    assert await _kinds(db, bob) == [("article", "alice"), ("follow", "alice")]


async def test_events_of_an_article_already_deleted_notify_nobody(db: Database) -> None:
    """Delivered late (or out of order): the article is gone, so the events are skipped."""
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    await profiles.follow(db, username="alice", actor=Principal(id=bob))
    await deliver_outbox(db, consumer)
    article = await _article(db, alice)
    await articles.favorite(db, slug=article.slug, actor=Principal(id=bob))
    await comments.add(db, slug=article.slug, actor=Principal(id=bob), body="First")
    await articles.delete(db, slug=article.slug, actor=Principal(id=alice))

    late = await outbox_events(db, "article.created", "article.favorited", "comment.created")
    (deleted,) = await outbox_events(db, "article.deleted")
    assert await apply(db, consumer, deleted)
    for event in late:
        assert await apply(db, consumer, event)
    assert await _kinds(db, alice) == [("follow", "bob")]
    assert await _kinds(db, bob) == []


async def test_deleting_a_comment_removes_its_notification(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    article = await _article(db, alice)
    first = await comments.add(db, slug=article.slug, actor=Principal(id=bob), body="first")
    await comments.add(db, slug=article.slug, actor=Principal(id=bob), body="second")
    await deliver_outbox(db, consumer)
    await comments.delete(db, slug=article.slug, comment_id=first.id, actor=Principal(id=bob))
    await deliver_outbox(db, consumer)
    found = await notifications.list_for(db, user_id=alice, page=ALL)
    assert [item.comment.body for item in found.items if item.comment] == ["second"]


async def _with_notifications(db: Database, count: int) -> tuple[int, int]:
    """alice with ``count`` follow notifications (one per follower); (alice, a follower)."""
    alice = await make_user(db, "alice")
    fans = [await make_user(db, f"fan{n:02d}") for n in range(count)]
    for fan in fans:
        await profiles.follow(db, username="alice", actor=Principal(id=fan))
    await deliver_outbox(db, consumer)
    return alice, fans[0]


async def test_pages_are_newest_first_with_totals(db: Database) -> None:
    alice, _ = await _with_notifications(db, 5)
    first = await notifications.list_for(db, user_id=alice, page=Page(limit=2, offset=0))
    rest = await notifications.list_for(db, user_id=alice, page=Page(limit=10, offset=2))
    names = [item.actor.username for item in first.items + rest.items]
    assert names == [f"fan{n:02d}" for n in reversed(range(5))]
    assert (first.total, first.unread, rest.total) == (5, 5, 5)
    moments = [item.created_at for item in first.items + rest.items]
    assert moments == sorted(moments, reverse=True)
    beyond = await notifications.list_for(db, user_id=alice, page=Page(limit=10, offset=50))
    assert (beyond.items, beyond.total) == ([], 5)


async def test_marking_read_touches_only_the_readers_own(db: Database) -> None:
    alice, fan = await _with_notifications(db, 4)
    await profiles.follow(db, username="fan00", actor=Principal(id=alice))
    await deliver_outbox(db, consumer)
    (fans_own,) = (await notifications.list_for(db, user_id=fan, page=ALL)).items
    ids = [item.id for item in (await notifications.list_for(db, user_id=alice, page=ALL)).items]

    unread = await notifications.mark_read(
        db, actor=Principal(id=alice), ids=[ids[0], ids[1], fans_own.id, 0, -5, 2**63, 10**30]
    )
    assert unread == 2
    assert await notifications.mark_read(db, actor=Principal(id=alice), ids=[ids[0]]) == 2  # no-op
    only_unread = await notifications.list_for(db, user_id=alice, page=ALL, unread_only=True)
    assert [item.id for item in only_unread.items] == ids[2:]
    assert (only_unread.total, only_unread.unread) == (2, 2)
    everything = await notifications.list_for(db, user_id=alice, page=ALL)
    assert [item.read for item in everything.items] == [True, True, False, False]
    assert (everything.total, everything.unread) == (4, 2)
    # Someone else's notification was named, and stays unread.
    assert (await notifications.list_for(db, user_id=fan, page=ALL)).unread == 1

    assert await notifications.mark_all_read(db, actor=Principal(id=alice)) == 0
    assert (await notifications.list_for(db, user_id=fan, page=ALL)).unread == 1
    read_at = await fetch_all(
        db,
        select(notifications_table.c.read_at).where(notifications_table.c.recipient_id == alice),
    )
    assert all(isinstance(row.read_at, dt.datetime) for row in read_at)


async def test_what_an_event_notified_reads_as_each_recipient_lists_it(db: Database) -> None:
    """For live updates: the notifications of one event, as each recipient's list shows them."""
    author = await make_user(db, "author")
    readers = [await make_user(db, f"reader{n}") for n in range(4)]
    for reader in readers:
        await profiles.follow(db, username="author", actor=Principal(id=reader))
    await profiles.follow(db, username="reader0", actor=Principal(id=author))
    await profiles.follow(db, username="author", actor=Principal(id=await make_user(db, "fifth")))
    await _article(db, author, "Fresh")
    await deliver_outbox(db, consumer)
    (event,) = await outbox_events(db, "article.created")

    found = await notifications.of_event(db, event_id=event.id)
    assert set(found) == {*readers, await _id_of(db, "fifth")}
    some = await notifications.of_event(db, event_id=event.id, recipient_ids=readers[:2])
    assert set(some) == set(readers[:2])
    assert await notifications.of_event(db, event_id=event.id, recipient_ids=[]) == {}
    assert await notifications.of_event(db, event_id=event.id, recipient_ids=[author]) == {}
    for reader in readers:
        listed = await notifications.list_for(db, user_id=reader, page=Page(limit=1))
        assert found[reader] == listed.items[0]
        assert found[reader].type == "article"


async def _id_of(db: Database, username: str) -> int:
    rows = await fetch_all(db, select(users.c.id).where(users.c.username == username))
    return int(rows[0].id)
