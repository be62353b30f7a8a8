"""Repository and core.db building blocks the use cases rely on, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import Executable, insert, select
from sqlalchemy.exc import IntegrityError

from conduit.articles import repository as articles_repository
from conduit.articles.models import ArticleFilter, articles, favorites
from conduit.core.db import Database
from conduit.core.db_errors import insert_ignore, is_unique_violation
from conduit.core.pagination import Page
from conduit.core.tables import utcnow
from conduit.tags import repository as tags_repository
from conduit.tags.models import tags
from conduit.users import repository as users_repository
from conduit.users.models import users
from tests.integration.support import count_rows, make_user


async def _error_of(db: Database, statement: Executable) -> IntegrityError:
    """The error a statement fails with (its transaction rolled back)."""
    try:
        async with db.uow() as uow:
            await uow.conn.execute(statement)
            await uow.commit()
    except IntegrityError as exc:
        return exc
    raise AssertionError("the statement was expected to fail")


async def test_unique_violations_are_told_apart_from_other_integrity_errors(
    db: Database,
) -> None:
    """Register and create rely on it: a unique clash is a conflict, anything else is a bug."""
    user_id = await make_user(db, "alice")
    now = utcnow()
    duplicate = await _error_of(
        db,
        insert(users).values(
            username="alice",
            email="x@conduit.test",
            password_hash="h",
            created_at=now,
            updated_at=now,
        ),
    )
    assert is_unique_violation(duplicate)

    same_key = await _error_of(
        db,
        insert(users).values(
            id=user_id,
            username="alice2",
            email="alice2@conduit.test",
            password_hash="h",
            created_at=now,
            updated_at=now,
        ),
    )
    assert is_unique_violation(same_key)

    no_author = await _error_of(
        db,
        insert(articles).values(
            slug="orphan",
            title="t",
            description="d",
            body="b",
            author_id=user_id + 1000,
            created_at=now,
            updated_at=now,
        ),
    )
    assert not is_unique_violation(no_author)

    missing_value = await _error_of(
        db,
        insert(users).values(
            username="bob",
            email="bob@conduit.test",
            password_hash=None,
            created_at=now,
            updated_at=now,
        ),
    )
    assert not is_unique_violation(missing_value)
    assert await count_rows(db, users) == 1
    assert await count_rows(db, articles) == 0


async def test_insert_ignore_adds_once_and_leaves_the_transaction_usable(db: Database) -> None:
    async with db.uow() as uow:
        assert await insert_ignore(uow.conn, tags, {"name": "python"}) is True
        assert await insert_ignore(uow.conn, tags, {"name": "python"}) is False
        # The transaction is not aborted by the ignored duplicate (PostgreSQL would be).
        assert await insert_ignore(uow.conn, tags, {"name": "rust"}) is True
        await uow.commit()
    names = (await count_rows(db, tags), await count_rows(db, tags, tags.c.name == "python"))
    assert names == (2, 1)


async def test_tag_ids_come_back_in_the_order_given_and_existing_tags_are_reused(
    db: Database,
) -> None:
    async with db.uow() as uow:
        first = await tags_repository.ids_for(uow.conn, ["zeta", "alpha"])
        again = await tags_repository.ids_for(uow.conn, ["alpha", "new", "zeta"])
        await uow.commit()
    assert len(set(first)) == 2
    assert again[0] == first[1]
    assert again[2] == first[0]
    assert again[1] not in first
    async with db.engine.connect() as conn:
        by_name = {name: id_ for name, id_ in await conn.execute(select(tags.c.name, tags.c.id))}
    assert by_name == {"zeta": first[0], "alpha": first[1], "new": again[1]}


async def test_taken_fields_names_each_clash_once_and_ignores_the_user_themselves(
    db: Database,
) -> None:
    alice = await make_user(db, "alice")
    await make_user(db, "bob")
    async with db.uow() as uow:
        conn = uow.conn
        assert await users_repository.taken_fields(
            conn, username="alice", email="bob@conduit.test"
        ) == ["username", "email"]
        assert (
            await users_repository.taken_fields(conn, username="carol", email="carol@conduit.test")
            == []
        )
        assert (
            await users_repository.taken_fields(
                conn, username="alice", email="alice@conduit.test", except_id=alice
            )
            == []
        )
        assert await users_repository.taken_fields(
            conn, username="bob", email=None, except_id=alice
        ) == ["username"]
        assert await users_repository.taken_fields(conn, username=None, email=None) == []


async def test_articles_come_with_their_tags_in_code_point_order(db: Database) -> None:
    """The page's and the article's own statement aggregate the tags in the database
    (an array on PostgreSQL, a JSON array on SQLite and MariaDB); names that need escaping
    in JSON come back as they were written."""
    tricky = ['say "hi"', "back\\slash", "Zebra", "apple", "été", "日本", "a,b", "[]", "null"]
    given = {"s0": ["b", "a", "c"], "s1": [], "s2": tricky}
    author = await make_user(db, "author")
    async with db.uow() as uow:
        for slug, names in given.items():
            article_id = await articles_repository.add(
                uow.conn, slug=slug, title="t", description="d", body="b", author_id=author
            )
            await tags_repository.set_for_article(uow.conn, article_id, names)
        await uow.commit()
    expected = {slug: sorted(names) for slug, names in given.items()}

    async with db.reader() as uow:
        page, total = await articles_repository.list_page(
            uow.conn, ArticleFilter(), Page(limit=10), viewer_id=None
        )
        one_by_one = {
            slug: await articles_repository.get(uow.conn, slug, viewer_id=author) for slug in given
        }
    assert total == 3
    assert {article.slug: article.tag_list for article in page} == expected
    assert {slug: a.tag_list if a else None for slug, a in one_by_one.items()} == expected


async def test_favorites_count_is_per_article(db: Database) -> None:
    author = await make_user(db, "author")
    fans = [await make_user(db, f"fan{n}") for n in range(3)]
    async with db.uow() as uow:
        conn = uow.conn
        first = await articles_repository.add(
            conn, slug="first", title="t", description="d", body="b", author_id=author
        )
        second = await articles_repository.add(
            conn, slug="second", title="t", description="d", body="b", author_id=author
        )
        for fan in fans:
            await articles_repository.favorite(conn, user_id=fan, article_id=first)
        await articles_repository.favorite(conn, user_id=fans[0], article_id=second)
        await articles_repository.favorite(conn, user_id=fans[0], article_id=second)
        one = await articles_repository.get(conn, "first", fans[1])
        two = await articles_repository.get(conn, "second", fans[1])
        await uow.commit()
    assert one is not None
    assert two is not None
    assert (one.favorites_count, one.favorited) == (3, True)
    assert (two.favorites_count, two.favorited) == (1, False)
    assert await count_rows(db, favorites) == 4


@pytest.mark.postgresql_only
async def test_tags_come_in_code_point_order_whatever_the_column_s_collation(
    db: Database,
) -> None:
    """A PostgreSQL cluster made with a language's collation sorts "apple" before "Zebra";
    the tags are ordered by code point there too, as on SQLite and MariaDB."""
    author = await make_user(db, "author")
    async with db.uow() as uow:  # DDL is transactional on PostgreSQL: rolled back below
        await uow.conn.exec_driver_sql(
            'ALTER TABLE tags ALTER COLUMN name TYPE varchar(64) COLLATE "en-x-icu"'
        )
        article_id = await articles_repository.add(
            uow.conn, slug="s", title="t", description="d", body="b", author_id=author
        )
        await tags_repository.set_for_article(uow.conn, article_id, ["apple", "Zebra", "été"])
        language_order = (
            await uow.conn.exec_driver_sql("SELECT name FROM tags ORDER BY name")
        ).scalars()
        article = await articles_repository.get(uow.conn, "s", viewer_id=None)
    assert list(language_order) == ["apple", "été", "Zebra"]  # the collation is in force
    assert article is not None
    assert article.tag_list == ["Zebra", "apple", "été"]
