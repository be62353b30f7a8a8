"""The use cases, called directly on a real database (SQLite, PostgreSQL and MariaDB).

Each test runs on every backend through the ``db`` fixture and reads the tables themselves
where what matters is what was stored (hashes, cascades, timestamps).
"""

from __future__ import annotations

import datetime as dt

import bcrypt
import pytest
from sqlalchemy import select, update

from conduit.articles import service as articles
from conduit.articles.exceptions import ArticleNotFound, NotArticleAuthor
from conduit.articles.models import ArticleFilter, favorites
from conduit.articles.models import articles as articles_table
from conduit.comments import service as comments
from conduit.comments.exceptions import CommentNotFound, NotCommentAuthor
from conduit.comments.models import comments as comments_table
from conduit.core.db import Database
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.profiles import service as profiles
from conduit.profiles.exceptions import CannotFollowSelf, ProfileNotFound
from conduit.profiles.models import follows
from conduit.tags import service as tags
from conduit.tags.handlers import consumer as tags_consumer
from conduit.tags.models import article_tags
from conduit.tags.models import tags as tags_table
from conduit.users import service as users
from conduit.users.exceptions import AlreadyTaken, InvalidCredentials
from conduit.users.models import users as users_table
from tests.integration.support import PASSWORD, count_rows, fetch_all, log_in, make_user
from tests.outbox_delivery import deliver_outbox

# --------------------------------------------------------------------------- users


async def _stored_hash(db: Database, user_id: int) -> str:
    rows = await fetch_all(
        db, select(users_table.c.password_hash).where(users_table.c.id == user_id)
    )
    return str(rows[0].password_hash)


async def test_register_stores_an_argon2id_hash_and_login_checks_the_password(
    db: Database,
) -> None:
    account = await users.register(
        db, username="alice", email="alice@conduit.test", password="correct horse"
    )
    stored = await _stored_hash(db, account.id)
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored

    logged_in = await log_in(db, email="alice@conduit.test", password="correct horse")
    assert (logged_in.id, logged_in.username) == (account.id, "alice")

    with pytest.raises(InvalidCredentials):
        await log_in(db, email="alice@conduit.test", password="wrong horse")
    with pytest.raises(InvalidCredentials):
        await log_in(db, email="nobody@conduit.test", password="correct horse")


async def test_a_bcrypt_hash_verifies_on_login_and_is_upgraded_to_argon2id(db: Database) -> None:
    user_id = await make_user(db, "legacy")
    legacy_hash = bcrypt.hashpw(b"old-password-1", bcrypt.gensalt(rounds=4)).decode()
    async with db.uow() as uow:
        await uow.conn.execute(
            update(users_table).where(users_table.c.id == user_id).values(password_hash=legacy_hash)
        )
        await uow.commit()

    # A wrong password neither logs in nor touches the stored hash.
    with pytest.raises(InvalidCredentials):
        await log_in(db, email="legacy@conduit.test", password="not-the-password")
    assert await _stored_hash(db, user_id) == legacy_hash

    account = await log_in(db, email="legacy@conduit.test", password="old-password-1")
    assert account.id == user_id
    upgraded = await _stored_hash(db, user_id)
    assert upgraded.startswith("$argon2id$")

    # The upgraded hash is for the same password, and it is not upgraded again.
    await log_in(db, email="legacy@conduit.test", password="old-password-1")
    assert await _stored_hash(db, user_id) == upgraded
    with pytest.raises(InvalidCredentials):
        await log_in(db, email="legacy@conduit.test", password="not-the-password")


async def test_register_refuses_a_taken_username_or_email(db: Database) -> None:
    await make_user(db, "alice", "alice@conduit.test")

    with pytest.raises(AlreadyTaken) as by_name:
        await users.register(db, username="alice", email="other@conduit.test", password=PASSWORD)
    assert by_name.value.errors == {"username": ["has already been taken"]}

    with pytest.raises(AlreadyTaken) as by_email:
        await users.register(db, username="alicia", email="alice@conduit.test", password=PASSWORD)
    assert by_email.value.errors == {"email": ["has already been taken"]}

    with pytest.raises(AlreadyTaken) as both:
        await users.register(db, username="alice", email="alice@conduit.test", password=PASSWORD)
    assert both.value.errors == {
        "username": ["has already been taken"],
        "email": ["has already been taken"],
    }
    assert await count_rows(db, users_table) == 1


async def test_update_user_changes_what_was_sent_and_keeps_the_rest(db: Database) -> None:
    user_id = await make_user(db, "alice")
    changed = await users.update(
        db,
        actor=Principal(id=user_id),
        changes={"bio": "I write 🐍", "image": "https://img.test/a.png"},
    )
    assert (changed.username, changed.email) == ("alice", "alice@conduit.test")
    assert (changed.bio, changed.image) == ("I write 🐍", "https://img.test/a.png")

    await users.update(
        db,
        actor=Principal(id=user_id),
        changes={"username": "alice2", "email": "new@conduit.test", "password": "new password!"},
    )
    current = await users.current(db, user_id=user_id)
    assert (current.username, current.email, current.bio) == (
        "alice2",
        "new@conduit.test",
        "I write 🐍",
    )
    await log_in(db, email="new@conduit.test", password="new password!")
    with pytest.raises(InvalidCredentials):
        await log_in(db, email="new@conduit.test", password=PASSWORD)

    # bio and image can be cleared.
    cleared = await users.update(
        db, actor=Principal(id=user_id), changes={"bio": None, "image": None}
    )
    assert (cleared.bio, cleared.image) == (None, None)
    assert (await users.current(db, user_id=user_id)).bio is None


async def test_update_user_to_a_taken_username_or_email_is_already_taken(db: Database) -> None:
    alice = await make_user(db, "alice")
    await make_user(db, "bob")

    with pytest.raises(AlreadyTaken) as by_name:
        await users.update(
            db, actor=Principal(id=alice), changes={"username": "bob", "bio": "lost"}
        )
    assert by_name.value.errors == {"username": ["has already been taken"]}
    with pytest.raises(AlreadyTaken) as by_email:
        await users.update(db, actor=Principal(id=alice), changes={"email": "bob@conduit.test"})
    assert by_email.value.errors == {"email": ["has already been taken"]}

    # Nothing of a refused update was written.
    current = await users.current(db, user_id=alice)
    assert (current.username, current.email, current.bio) == ("alice", "alice@conduit.test", None)

    # Sending one's own username and email again is not a conflict.
    same = await users.update(
        db, actor=Principal(id=alice), changes={"username": "alice", "email": "alice@conduit.test"}
    )
    assert same.username == "alice"


async def test_usernames_are_case_sensitive_on_every_backend(db: Database) -> None:
    upper = await make_user(db, "Alice", "upper@conduit.test")
    lower = await make_user(db, "alice", "lower@conduit.test")
    assert upper != lower
    reader = await make_user(db, "reader")

    assert (await profiles.get(db, username="Alice", viewer_id=None)).username == "Alice"
    assert (await profiles.get(db, username="alice", viewer_id=None)).username == "alice"
    with pytest.raises(ProfileNotFound):
        await profiles.get(db, username="ALICE", viewer_id=None)

    # Following one does not follow the other.
    await profiles.follow(db, username="alice", actor=Principal(id=reader))
    assert (await profiles.get(db, username="alice", viewer_id=reader)).following is True
    assert (await profiles.get(db, username="Alice", viewer_id=reader)).following is False

    # Articles by author are by exact username.
    await articles.create(
        db, actor=Principal(id=upper), title="By upper", description="d", body="b", tag_list=[]
    )
    by_lower, total = await articles.list_articles(
        db, where=ArticleFilter(author="alice"), page=Page(), viewer_id=None
    )
    assert (by_lower, total) == ([], 0)
    feed, _ = await articles.feed(db, page=Page(), user_id=reader)
    assert feed == []

    # A username that differs in case only is a different username, also when renaming.
    with pytest.raises(AlreadyTaken):
        await users.update(db, actor=Principal(id=upper), changes={"username": "alice"})
    renamed = await users.update(db, actor=Principal(id=upper), changes={"username": "ALICE"})
    assert renamed.username == "ALICE"


async def test_tags_that_differ_in_case_are_different_tags(db: Database) -> None:
    author = await make_user(db, "author")
    first = await articles.create(
        db, actor=Principal(id=author), title="One", description="d", body="b", tag_list=["Python"]
    )
    second = await articles.create(
        db,
        actor=Principal(id=author),
        title="Two",
        description="d",
        body="b",
        tag_list=["python", "Python"],
    )
    assert first.tag_list == ["Python"]
    assert sorted(second.tag_list) == ["Python", "python"]
    assert await count_rows(db, tags_table) == 2
    tagged, total = await articles.list_articles(
        db, where=ArticleFilter(tag="python"), page=Page(), viewer_id=None
    )
    assert ([a.slug for a in tagged], total) == ([second.slug], 1)


# ------------------------------------------------------------------------ profiles


async def test_follow_and_unfollow_are_idempotent(db: Database) -> None:
    reader = await make_user(db, "reader")
    writer = await make_user(db, "writer")

    assert (await profiles.get(db, username="writer", viewer_id=reader)).following is False
    for _ in range(2):
        profile = await profiles.follow(db, username="writer", actor=Principal(id=reader))
        assert profile.following is True
    assert await count_rows(db, follows) == 1
    assert (await profiles.get(db, username="writer", viewer_id=reader)).following is True
    # Following is one way, and anonymous readers follow nobody.
    assert (await profiles.get(db, username="reader", viewer_id=writer)).following is False
    assert (await profiles.get(db, username="writer", viewer_id=None)).following is False

    for _ in range(2):
        profile = await profiles.unfollow(db, username="writer", actor=Principal(id=reader))
        assert profile.following is False
    assert await count_rows(db, follows) == 0
    assert (await profiles.get(db, username="writer", viewer_id=reader)).following is False

    with pytest.raises(CannotFollowSelf):
        await profiles.follow(db, username="reader", actor=Principal(id=reader))
    with pytest.raises(ProfileNotFound):
        await profiles.follow(db, username="nobody", actor=Principal(id=reader))
    assert await count_rows(db, follows) == 0
    assert writer != reader


# ------------------------------------------------------------------------ articles


async def test_create_article_returns_tags_in_alphabetical_order(db: Database) -> None:
    author = await make_user(db, "author")
    # Existing tags created out of order, so that neither tag ids nor insertion order are
    # alphabetical: only sorting by name gives the expected list.
    for title, tag in [("Z", "zeta"), ("B", "beta")]:
        await articles.create(
            db, actor=Principal(id=author), title=title, description="d", body="b", tag_list=[tag]
        )
    created = await articles.create(
        db,
        actor=Principal(id=author),
        title="How to train your dragon",
        description="Ever wonder how?",
        body="You have to believe",
        tag_list=["zeta", "alpha", "Mid", "beta"],
    )
    expected = sorted(["zeta", "alpha", "Mid", "beta"])
    assert created.tag_list == expected
    assert created.slug == "how-to-train-your-dragon"
    assert (created.title, created.description, created.body) == (
        "How to train your dragon",
        "Ever wonder how?",
        "You have to believe",
    )
    assert (created.favorited, created.favorites_count) == (False, 0)
    assert created.author.username == "author"

    read = await articles.get(db, slug=created.slug, viewer_id=None)
    assert read.tag_list == expected
    listed, _ = await articles.list_articles(db, where=ArticleFilter(), page=Page(), viewer_id=None)
    assert listed[0].tag_list == expected
    assert listed[0].body is None  # lists never carry the body
    assert await count_rows(db, article_tags) == 6


async def test_a_tag_listed_twice_is_linked_once(db: Database) -> None:
    """The use case does not rely on the REST layer to drop repeated tags."""
    author = await make_user(db, "author")
    created = await articles.create(
        db,
        actor=Principal(id=author),
        title="Twice",
        description="d",
        body="b",
        tag_list=["b", "a", "b"],
    )
    assert created.tag_list == ["a", "b"]
    updated = await articles.update(
        db, slug=created.slug, actor=Principal(id=author), changes={"tag_list": ["c", "c"]}
    )
    assert updated.tag_list == ["c"]
    assert await count_rows(db, article_tags) == 1
    assert await count_rows(db, articles_table) == 1


async def test_equal_titles_get_distinct_slugs(db: Database) -> None:
    author = await make_user(db, "author")
    slugs = [
        (
            await articles.create(
                db,
                actor=Principal(id=author),
                title="Same Title",
                description="d",
                body="b",
                tag_list=[],
            )
        ).slug
        for _ in range(3)
    ]
    assert len(set(slugs)) == 3
    assert slugs[0] == "same-title"
    assert all(slug.startswith("same-title-") for slug in slugs[1:])
    for slug in slugs:
        assert (await articles.get(db, slug=slug, viewer_id=None)).title == "Same Title"


async def test_update_article_keeps_tags_when_left_out_and_removes_them_with_an_empty_list(
    db: Database,
) -> None:
    author = await make_user(db, "author")
    created = await articles.create(
        db,
        actor=Principal(id=author),
        title="Original",
        description="d",
        body="b",
        tag_list=["b", "a"],
    )

    retitled = await articles.update(
        db,
        slug=created.slug,
        actor=Principal(id=author),
        changes={"title": "Renamed", "body": "new body"},
    )
    assert retitled.slug == created.slug  # links keep working
    assert (retitled.title, retitled.body, retitled.description) == ("Renamed", "new body", "d")
    assert retitled.tag_list == ["a", "b"]

    replaced = await articles.update(
        db, slug=created.slug, actor=Principal(id=author), changes={"tag_list": ["c", "a"]}
    )
    assert replaced.tag_list == ["a", "c"]
    assert (await articles.get(db, slug=created.slug, viewer_id=None)).tag_list == ["a", "c"]

    emptied = await articles.update(
        db, slug=created.slug, actor=Principal(id=author), changes={"tag_list": []}
    )
    assert emptied.tag_list == []
    assert await count_rows(db, article_tags) == 0
    assert (await articles.get(db, slug=created.slug, viewer_id=None)).title == "Renamed"


async def test_only_the_author_may_update_or_delete_an_article(db: Database) -> None:
    author = await make_user(db, "author")
    other = await make_user(db, "other")
    created = await articles.create(
        db, actor=Principal(id=author), title="Mine", description="d", body="b", tag_list=["x"]
    )
    with pytest.raises(NotArticleAuthor):
        await articles.update(
            db, slug=created.slug, actor=Principal(id=other), changes={"title": "Theirs"}
        )
    with pytest.raises(NotArticleAuthor):
        await articles.delete(db, slug=created.slug, actor=Principal(id=other))
    with pytest.raises(ArticleNotFound):
        await articles.update(
            db, slug="no-such-article", actor=Principal(id=author), changes={"title": "x"}
        )
    with pytest.raises(ArticleNotFound):
        await articles.delete(db, slug="no-such-article", actor=Principal(id=author))
    assert (await articles.get(db, slug=created.slug, viewer_id=None)).title == "Mine"


async def test_delete_article_removes_its_comments_favorites_and_tag_links(db: Database) -> None:
    author = await make_user(db, "author")
    reader = await make_user(db, "reader")
    doomed = await articles.create(
        db,
        actor=Principal(id=author),
        title="Doomed",
        description="d",
        body="b",
        tag_list=["gone", "kept"],
    )
    survivor = await articles.create(
        db,
        actor=Principal(id=author),
        title="Survivor",
        description="d",
        body="b",
        tag_list=["kept"],
    )
    for article in (doomed, survivor):
        await comments.add(db, slug=article.slug, actor=Principal(id=reader), body="nice")
        await comments.add(db, slug=article.slug, actor=Principal(id=author), body="thanks")
        await articles.favorite(db, slug=article.slug, actor=Principal(id=reader))
        await articles.favorite(db, slug=article.slug, actor=Principal(id=author))

    await articles.delete(db, slug=doomed.slug, actor=Principal(id=author))

    with pytest.raises(ArticleNotFound):
        await articles.get(db, slug=doomed.slug, viewer_id=None)
    assert await count_rows(db, articles_table, articles_table.c.id == doomed.id) == 0
    assert await count_rows(db, comments_table, comments_table.c.article_id == doomed.id) == 0
    assert await count_rows(db, favorites, favorites.c.article_id == doomed.id) == 0
    assert await count_rows(db, article_tags, article_tags.c.article_id == doomed.id) == 0
    # The other article keeps everything.
    assert await count_rows(db, comments_table) == 2
    assert await count_rows(db, favorites) == 2
    assert await count_rows(db, article_tags) == 1
    kept = await articles.get(db, slug=survivor.slug, viewer_id=reader)
    assert (kept.favorites_count, kept.favorited, kept.tag_list) == (2, True, ["kept"])
    # A tag no article uses any more is not offered, once the tags consumer has recounted.
    await deliver_outbox(db, tags_consumer)
    assert await tags.popular(db) == ["kept"]


async def test_favorite_and_unfavorite_are_idempotent_and_counted(db: Database) -> None:
    author = await make_user(db, "author")
    reader = await make_user(db, "reader")
    fan = await make_user(db, "fan")
    created = await articles.create(
        db, actor=Principal(id=author), title="Liked", description="d", body="b", tag_list=[]
    )
    for _ in range(2):
        liked = await articles.favorite(db, slug=created.slug, actor=Principal(id=reader))
        assert (liked.favorited, liked.favorites_count) == (True, 1)
    assert await count_rows(db, favorites) == 1

    by_fan = await articles.favorite(db, slug=created.slug, actor=Principal(id=fan))
    assert (by_fan.favorited, by_fan.favorites_count) == (True, 2)
    seen_by_author = await articles.get(db, slug=created.slug, viewer_id=author)
    assert (seen_by_author.favorited, seen_by_author.favorites_count) == (False, 2)
    anonymous = await articles.get(db, slug=created.slug, viewer_id=None)
    assert (anonymous.favorited, anonymous.favorites_count) == (False, 2)

    for _ in range(2):
        unliked = await articles.unfavorite(db, slug=created.slug, actor=Principal(id=reader))
        assert (unliked.favorited, unliked.favorites_count) == (False, 1)
    assert await count_rows(db, favorites) == 1
    listed, _ = await articles.list_articles(db, where=ArticleFilter(), page=Page(), viewer_id=fan)
    assert (listed[0].favorited, listed[0].favorites_count) == (True, 1)

    with pytest.raises(ArticleNotFound):
        await articles.favorite(db, slug="no-such-article", actor=Principal(id=reader))


async def test_list_filters_pages_and_counts(db: Database) -> None:
    alice = await make_user(db, "alice")
    bob = await make_user(db, "bob")
    carol = await make_user(db, "carol")

    async def write(author: int, title: str, tag_list: list[str]) -> str:
        created = await articles.create(
            db,
            actor=Principal(id=author),
            title=title,
            description="d",
            body="b",
            tag_list=tag_list,
        )
        return created.slug

    a1 = await write(alice, "a1", ["python", "web"])
    b1 = await write(bob, "b1", ["python"])
    a2 = await write(alice, "a2", ["rust"])
    a3 = await write(alice, "a3", ["python"])
    b2 = await write(bob, "b2", [])
    a4 = await write(alice, "a4", ["python", "rust"])
    for slug in (a1, b1, a4):
        await articles.favorite(db, slug=slug, actor=Principal(id=carol))
    await profiles.follow(db, username="bob", actor=Principal(id=carol))

    async def slugs(
        where: ArticleFilter, limit: int = 20, offset: int = 0, viewer: int | None = None
    ) -> tuple[list[str], int]:
        found, total = await articles.list_articles(
            db, where=where, page=Page(limit=limit, offset=offset), viewer_id=viewer
        )
        return [a.slug for a in found], total

    # Newest first, everything.
    assert await slugs(ArticleFilter()) == ([a4, b2, a3, a2, b1, a1], 6)
    assert await slugs(ArticleFilter(tag="python")) == ([a4, a3, b1, a1], 4)
    assert await slugs(ArticleFilter(author="alice")) == ([a4, a3, a2, a1], 4)
    assert await slugs(ArticleFilter(favorited_by="carol")) == ([a4, b1, a1], 3)
    assert await slugs(ArticleFilter(tag="python", author="alice")) == ([a4, a3, a1], 3)
    assert await slugs(ArticleFilter(tag="rust", favorited_by="carol")) == ([a4], 1)
    assert await slugs(ArticleFilter(tag="nothing")) == ([], 0)
    assert await slugs(ArticleFilter(author="nobody")) == ([], 0)
    assert await slugs(ArticleFilter(favorited_by="alice")) == ([], 0)

    # Pages: the total is what matches, not the page size.
    assert await slugs(ArticleFilter(tag="python"), limit=2) == ([a4, a3], 4)
    assert await slugs(ArticleFilter(tag="python"), limit=2, offset=2) == ([b1, a1], 4)
    assert await slugs(ArticleFilter(tag="python"), limit=3, offset=3) == ([a1], 4)
    assert await slugs(ArticleFilter(tag="python"), limit=2, offset=4) == ([], 4)
    assert await slugs(ArticleFilter(tag="python"), limit=2, offset=40) == ([], 4)
    assert await slugs(ArticleFilter(), limit=1, offset=1) == ([b2], 6)

    # The feed: articles of followed authors only, newest first, with the reader's flags.
    feed, total = await articles.feed(db, page=Page(), user_id=carol)
    assert ([a.slug for a in feed], total) == ([b2, b1], 2)
    assert all(a.author.following for a in feed)
    assert [a.favorited for a in feed] == [False, True]
    page, total = await articles.feed(db, page=Page(limit=1, offset=1), user_id=carol)
    assert ([a.slug for a in page], total) == ([b1], 2)
    assert await articles.feed(db, page=Page(), user_id=alice) == ([], 0)

    # The reader's flags in a plain list.
    seen, _ = await articles.list_articles(
        db, where=ArticleFilter(author="bob"), page=Page(), viewer_id=carol
    )
    assert [(a.author.following, a.favorited) for a in seen] == [(True, False), (True, True)]


async def test_unicode_and_emoji_round_trip(db: Database) -> None:
    author_id = await make_user(db, "zoë_🦊", "zoe@conduit.test")
    bio = "Pâtissière 🍰 — 日本語も話します"
    await users.update(db, actor=Principal(id=author_id), changes={"bio": bio})
    title = "Crème brûlée 🍮 日本語"
    tag_list = ["🐍", "🐉", "café", "日本語", "naïve"]
    created = await articles.create(
        db,
        actor=Principal(id=author_id),
        title=title,
        description="Ça marche 👍",
        body="# 🎉 Ünïcödé\n\n𠜎𠜱 (CJK extension B) and emoji 👩‍💻",
        tag_list=tag_list,
    )
    assert created.slug == "creme-brulee-ri-ben-yu"

    read = await articles.get(db, slug=created.slug, viewer_id=None)
    assert read.title == title
    assert read.description == "Ça marche 👍"
    assert read.body == "# 🎉 Ünïcödé\n\n𠜎𠜱 (CJK extension B) and emoji 👩‍💻"
    assert read.tag_list == sorted(tag_list)
    assert read.author.username == "zoë_🦊"
    assert read.author.bio == bio
    # Two different emoji are two different tags (no collation folds them together).
    assert await count_rows(db, tags_table) == 5
    for tag in tag_list:
        found, total = await articles.list_articles(
            db, where=ArticleFilter(tag=tag), page=Page(), viewer_id=None
        )
        assert ([a.slug for a in found], total) == ([created.slug], 1), tag
    await deliver_outbox(db, tags_consumer)  # the counts are kept by the tags consumer
    assert sorted(await tags.popular(db)) == sorted(tag_list)

    by_author, _ = await articles.list_articles(
        db, where=ArticleFilter(author="zoë_🦊"), page=Page(), viewer_id=None
    )
    assert [a.slug for a in by_author] == [created.slug]
    assert (await profiles.get(db, username="zoë_🦊", viewer_id=None)).bio == bio

    comment = await comments.add(
        db, slug=created.slug, actor=Principal(id=author_id), body="Merci 🙏 ありがとう"
    )
    listed = await comments.list_for_article(db, slug=created.slug, viewer_id=None)
    assert [c.body for c in listed] == ["Merci 🙏 ありがとう"]
    assert listed[0].id == comment.id

    # A title with nothing to transliterate still gets a usable, distinct slug.
    first = await articles.create(
        db, actor=Principal(id=author_id), title="🎉🎉", description="d", body="b", tag_list=[]
    )
    second = await articles.create(
        db, actor=Principal(id=author_id), title="🎉🎉", description="d", body="b", tag_list=[]
    )
    assert first.slug
    assert second.slug
    assert first.slug != second.slug
    assert (await articles.get(db, slug=second.slug, viewer_id=None)).title == "🎉🎉"


async def test_timestamps_keep_microseconds_and_updated_at_moves_on_update(db: Database) -> None:
    author = await make_user(db, "author")
    created = await articles.create(
        db, actor=Principal(id=author), title="Timed", description="d", body="b", tag_list=[]
    )
    assert created.updated_at == created.created_at

    # Store known values with microseconds: they come back exactly.
    created_at = dt.datetime(2024, 2, 29, 23, 59, 58, 123456)
    updated_at = dt.datetime(2024, 3, 1, 0, 0, 1, 654321)
    async with db.uow() as uow:
        await uow.conn.execute(
            update(articles_table)
            .where(articles_table.c.id == created.id)
            .values(created_at=created_at, updated_at=updated_at)
        )
        await uow.commit()
    read = await articles.get(db, slug=created.slug, viewer_id=None)
    assert (read.created_at, read.updated_at) == (created_at, updated_at)

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    changed = await articles.update(
        db, slug=created.slug, actor=Principal(id=author), changes={"body": "changed"}
    )
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert changed.created_at == created_at
    assert before - dt.timedelta(seconds=1) <= changed.updated_at <= after + dt.timedelta(seconds=1)
    assert changed.updated_at > updated_at
    stored = await fetch_all(
        db,
        select(articles_table.c.created_at, articles_table.c.updated_at).where(
            articles_table.c.id == created.id
        ),
    )
    assert (stored[0].created_at, stored[0].updated_at) == (created_at, changed.updated_at)

    # Two updates in quick succession are told apart (sub-second precision is kept).
    first = await articles.update(
        db, slug=created.slug, actor=Principal(id=author), changes={"body": "1"}
    )
    second = await articles.update(
        db, slug=created.slug, actor=Principal(id=author), changes={"body": "2"}
    )
    assert second.updated_at > first.updated_at > changed.updated_at - dt.timedelta(seconds=1)


async def test_user_updated_at_moves_on_update(db: Database) -> None:
    user_id = await make_user(db, "alice")
    old = dt.datetime(2020, 1, 1, 12, 0, 0, 1)
    async with db.uow() as uow:
        await uow.conn.execute(
            update(users_table).where(users_table.c.id == user_id).values(updated_at=old)
        )
        await uow.commit()
    stored = await fetch_all(
        db, select(users_table.c.updated_at).where(users_table.c.id == user_id)
    )
    assert stored[0].updated_at == old
    await users.update(db, actor=Principal(id=user_id), changes={"bio": "new"})
    stored = await fetch_all(
        db, select(users_table.c.updated_at).where(users_table.c.id == user_id)
    )
    assert stored[0].updated_at > old


# ------------------------------------------------------------------------ comments


async def test_comments_are_listed_oldest_first_and_only_their_author_deletes_them(
    db: Database,
) -> None:
    author = await make_user(db, "author")
    reader = await make_user(db, "reader")
    article = await articles.create(
        db, actor=Principal(id=author), title="Discussed", description="d", body="b", tag_list=[]
    )
    other = await articles.create(
        db, actor=Principal(id=author), title="Elsewhere", description="d", body="b", tag_list=[]
    )
    first = await comments.add(db, slug=article.slug, actor=Principal(id=reader), body="first!")
    second = await comments.add(db, slug=article.slug, actor=Principal(id=author), body="thanks")
    elsewhere = await comments.add(db, slug=other.slug, actor=Principal(id=reader), body="other")
    assert first.author.username == "reader"
    assert first.id < second.id

    await profiles.follow(db, username="author", actor=Principal(id=reader))
    listed = await comments.list_for_article(db, slug=article.slug, viewer_id=reader)
    assert [(c.id, c.body, c.author.username) for c in listed] == [
        (first.id, "first!", "reader"),
        (second.id, "thanks", "author"),
    ]
    assert [c.author.following for c in listed] == [False, True]
    anonymous = await comments.list_for_article(db, slug=article.slug, viewer_id=None)
    assert [c.author.following for c in anonymous] == [False, False]

    with pytest.raises(NotCommentAuthor):
        await comments.delete(
            db, slug=article.slug, comment_id=first.id, actor=Principal(id=author)
        )
    # A comment is deleted through its own article only.
    with pytest.raises(CommentNotFound):
        await comments.delete(
            db, slug=article.slug, comment_id=elsewhere.id, actor=Principal(id=reader)
        )
    with pytest.raises(CommentNotFound):
        await comments.delete(db, slug=article.slug, comment_id=2**31, actor=Principal(id=reader))
    with pytest.raises(ArticleNotFound):
        await comments.list_for_article(db, slug="no-such-article", viewer_id=None)
    with pytest.raises(ArticleNotFound):
        await comments.add(db, slug="no-such-article", actor=Principal(id=reader), body="x")
    assert await count_rows(db, comments_table) == 3

    await comments.delete(db, slug=article.slug, comment_id=first.id, actor=Principal(id=reader))
    remaining = await comments.list_for_article(db, slug=article.slug, viewer_id=None)
    assert [c.id for c in remaining] == [second.id]
    with pytest.raises(CommentNotFound):
        await comments.delete(
            db, slug=article.slug, comment_id=first.id, actor=Principal(id=reader)
        )
    assert await count_rows(db, comments_table) == 2


# ---------------------------------------------------------------------------- tags


async def test_popular_tags_are_most_used_first_then_by_name(db: Database) -> None:
    assert await tags.popular(db) == []
    author = await make_user(db, "author")
    for title, tag_list in [
        ("one", ["rare", "common", "mid-b"]),
        ("two", ["common", "mid-a"]),
        ("three", ["common", "mid-b", "mid-a"]),
    ]:
        await articles.create(
            db,
            actor=Principal(id=author),
            title=title,
            description="d",
            body="b",
            tag_list=tag_list,
        )
    await deliver_outbox(db, tags_consumer)  # the counts are kept by the tags consumer
    assert await tags.popular(db) == ["common", "mid-a", "mid-b", "rare"]
    # Reusing a tag does not create it twice.
    assert await count_rows(db, tags_table) == 4
