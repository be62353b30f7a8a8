"""Property-based API testing: schemathesis, driven by the app's own OpenAPI document.

Runs on SQLite only (a fresh file per run). Every operation gets generated requests, valid
and invalid, sent with the token of a registered user so that protected routes are reached
past authentication. The app must never answer 5xx, must only answer statuses its document
lists, and every reply must match the documented schema.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from conduit import migrations
from conduit.admin import service as admin
from conduit.articles import service as articles
from conduit.auth import access
from conduit.bootstrap import Container
from conduit.comments import service as comments
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.principal import Principal
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.entrypoints.api import create_app
from conduit.notifications.handlers import consumer as notifications_consumer
from conduit.profiles import service as profiles
from conduit.settings import Settings
from conduit.users import service as users
from tests.conftest import TEST_SECRET
from tests.outbox_delivery import deliver_outbox

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Seeded:
    main: int
    leaver: int
    admin: int


async def _seed(url: str) -> Seeded:
    """A few users, articles with tags, comments, a follow, a favorite and the notifications
    they make, an admin, and a user who signs out (see LOGOUT); their ids."""
    db = Database(create_engine(url))
    try:
        main = await users.register(
            db, username="fuzzer", email="fuzzer@conduit.test", password="password123"
        )
        other = await users.register(
            db, username="writer", email="writer@conduit.test", password="password123"
        )
        await profiles.follow(db, username="writer", actor=Principal(id=main.id))
        for author in (main, other):
            for n in range(3):
                article = await articles.create(
                    db,
                    actor=Principal(id=author.id),
                    title=f"{author.username} article {n}",
                    description="seeded",
                    body="seeded body",
                    tag_list=["seed", f"tag{n}"],
                )
                await comments.add(
                    db, slug=article.slug, actor=Principal(id=other.id), body="a comment"
                )
                await articles.favorite(db, slug=article.slug, actor=Principal(id=main.id))
        await deliver_outbox(db, notifications_consumer)  # the main user's notifications
        leaver = await users.register(
            db, username="leaver", email="leaver@conduit.test", password="password123"
        )
        root = await users.register(
            db, username="auditor", email="auditor@conduit.test", password="password123"
        )
        await admin.grant(db, username="auditor", role="admin", actor=None)
        # Without a lifespan, the app's access rules are loaded here, once the admin exists.
        horizon = utcnow() - dt.timedelta(hours=1)
        async with db.reader() as uow:
            APP.state.authenticator.update(await access.load(uow.conn, horizon=horizon))
        return Seeded(main=main.id, leaver=leaver.id, admin=root.id)
    finally:
        await db.dispose()


# Built at import: schemathesis' fixture-based loader does not work with pytest 9.2 (it
# reads the removed ``Node._nodeid``), so the schema is loaded eagerly. Nothing here touches
# the database; the fixture below creates, migrates and fills it before the first case.
DATA_DIR = Path(tempfile.gettempdir()) / f"conduit-schemathesis-{uuid.uuid4().hex}"
DATABASE_URL = f"sqlite+aiosqlite:///{(DATA_DIR / 'conduit.db').as_posix()}"
APP_SETTINGS = Settings(
    environment="test",
    database_url=DATABASE_URL,
    secret_key=TEST_SECRET,
    data_dir=DATA_DIR,
    auto_migrate=False,
    # Generated bodies can pass 1 MiB; the body limit (413) has tests of its own, here every
    # body reaches validation, which the documented statuses describe.
    max_body_bytes=64 * 1024 * 1024,
)
TOKENS = TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)
# The Container is built here rather than by bootstrap.build(), which would also
# reconfigure logging for the whole test session.
APP = create_app(
    container=Container(
        settings=APP_SETTINGS, db=Database(create_engine(DATABASE_URL)), tokens=TOKENS
    )
)


async def without_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """The app minus its lifespan: no embedded relay, consumers or reload loops run beside
    the generated requests (the seed delivers the outbox itself), so every case sees the
    database alone, and nothing starts before the fixture has migrated it."""
    if scope["type"] == "lifespan":
        raise RuntimeError("the schemathesis run has no lifespan")
    await APP(scope, receive, send)


schema = schemathesis.openapi.from_asgi("/api/openapi.json", without_lifespan)
schema.config.generation.update(database="none")


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    """The seeded users' ids, once the database is migrated and filled."""
    try:
        migrations.upgrade(DATABASE_URL)
        yield asyncio.run(_seed(DATABASE_URL))
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def token(seeded: Seeded) -> str:
    """The token of the seeded main user (a plain user)."""
    return TOKENS.issue(seeded.main)


@pytest.fixture(scope="module")
def admin_token(seeded: Seeded) -> str:
    """The token of the seeded admin."""
    return TOKENS.issue(seeded.admin)


# A logout (everywhere) would revoke the main user's token for every later case; it signs
# out another user, with a token issued for each case.
LOGOUT = "/api/users/logout"


def token_for(case: schemathesis.Case, token: str, seeded: Seeded) -> str:
    return TOKENS.issue(seeded.leaver) if case.path == LOGOUT else token


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Seeded resources: the main user's own article (200 on update), another author's article
# (403 on delete), an existing user to follow, an existing comment id (someone else's).
KNOWN_PATH_PARAMETERS = {"slug": "fuzzer-article-0", "username": "writer", "id": 1}
OTHERS_ARTICLE = "writer-article-2"
# Path values that name a sibling route: GET /api/articles/feed is the feed, by the RealWorld
# paths' design (no slug is "feed" or "search"), so such a case is not one of {slug}.
SIBLING_ROUTES = {"slug": {"feed", "search"}}


def _names_a_sibling_route(case: schemathesis.Case) -> bool:
    values = case.path_parameters or {}
    return any(values.get(name) in taken for name, taken in SIBLING_ROUTES.items())


@schema.parametrize()
@SETTINGS
def test_api_conforms_to_its_openapi(case: schemathesis.Case, token: str, seeded: Seeded) -> None:
    """Free generation: mostly unknown slugs and names, every kind of body and query."""
    assume(not _names_a_sibling_route(case))
    headers = {"Authorization": f"Token {token_for(case, token, seeded)}"}
    case.call_and_validate(headers=headers, checks=CHECKS)


@schema.include(path_regex=r"\{").parametrize()
@SETTINGS
def test_api_conforms_on_existing_resources(case: schemathesis.Case, token: str) -> None:
    """The same, with path parameters naming seeded resources so success paths are reached."""
    known = dict(KNOWN_PATH_PARAMETERS)
    if case.method == "DELETE" and case.path == "/api/articles/{slug}":
        known["slug"] = OTHERS_ARTICLE
    case.path_parameters = {
        name: known.get(name, value) for name, value in (case.path_parameters or {}).items()
    }
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)


@schema.include(path_regex=r"^/api/admin/").parametrize()
@SETTINGS
def test_admin_api_conforms_for_an_admin(case: schemathesis.Case, admin_token: str) -> None:
    """The admin endpoints as an admin (past the 403 the main user gets), on a seeded user."""
    case.path_parameters = {
        name: KNOWN_PATH_PARAMETERS.get(name, value)
        for name, value in (case.path_parameters or {}).items()
    }
    case.call_and_validate(headers={"Authorization": f"Token {admin_token}"}, checks=CHECKS)
