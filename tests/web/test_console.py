"""The moderation console at /admin: who may open it, and what moderators and admins do there.

Moderators and admins are made as the command line makes them (``admin.grant`` with no
actor), after signing up on the web like anyone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from conduit.admin import service as admin
from conduit.articles import service as articles
from conduit.bootstrap import Container, rate_limiter
from conduit.comments import service as comments
from conduit.core.consumers import record_dead_letter
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.outbox import outbox
from conduit.core.principal import Principal
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.notifications.handlers import consumer as notifications
from conduit.settings import Settings
from conduit.users import repository as users
from conduit.users.events import UserRegistered
from tests.web.conftest import ORIGIN, Browser

_ROW = re.compile(r"<tr[^>]*>(.*?)</tr>", re.DOTALL)


@pytest.fixture
async def same_site(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[tuple[Browser, Browser]]:
    """Two readers with cookies of their own on one instance of Conduit (a ban applies on
    the instance that made it at once; the others learn of it from the events)."""
    transport = httpx.ASGITransport(
        app=create_app(container=Container(settings=settings, db=db, tokens=tokens))
    )
    async with (
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as first,
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as second,
    ):
        yield Browser(first), Browser(second)


def rows(html: str, containing: str = "") -> list[str]:
    """The table rows of a page (the header row aside) that contain ``containing``."""
    return [row for row in _ROW.findall(html)[1:] if containing in row and "<td" in row]


async def staff(browser: Browser, db: Database, name: str, role: str) -> None:
    await browser.sign_up(name)
    await admin.grant(db, username=name, role=role, actor=None)


async def principal_of(db: Database, name: str) -> Principal:
    async with db.reader() as uow:
        account = await users.get_by_username(uow.conn, name)
    assert account is not None
    return Principal(id=account.id, roles=account.roles)


async def an_article(db: Database, author: str, title: str) -> str:
    made = await articles.create(
        db,
        actor=await principal_of(db, author),
        title=title,
        description="about it",
        body="the body",
        tag_list=[],
    )
    return made.slug


async def test_anonymous_readers_are_sent_to_sign_in(site: httpx.AsyncClient) -> None:
    for path in ("/admin", "/admin/users", "/admin/audit", "/admin/dead-letters"):
        answer = await site.get(path, headers={"accept": "text/html"})
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/login"


async def test_a_reader_without_a_role_is_refused(browser: Browser) -> None:
    await browser.sign_up("plain")
    for path in ("/admin", "/admin/users", "/admin/articles"):
        refused = await browser.get(path)
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text
    home = await browser.get("/")
    assert 'href="/admin"' not in home.text


async def test_a_moderator_finds_bans_and_unbans_a_user(
    same_site: tuple[Browser, Browser], db: Database
) -> None:
    browser, other_browser = same_site
    await staff(browser, db, "mod", "moderator")
    await other_browser.sign_up("troll")

    overview = await browser.get("/admin")
    assert overview.status_code == 200
    assert '<nav class="console-nav" aria-label="Console">' in overview.text
    assert 'href="/admin/dead-letters"' not in overview.text  # admins only

    found = await browser.get("/admin/users?q=TRO")
    assert found.status_code == 200
    [row] = rows(found.text, "troll@example.com")
    assert "active" in row
    assert rows(found.text, "mod@example.com") == []
    assert "Make moderator" not in found.text  # roles are for admins

    banned = await browser.post(
        "/admin/users/troll/ban",
        {"reason": "spam", "next": "/admin/users?q=tro"},
        page="/admin/users?q=tro",
    )
    assert banned.status_code == 303
    assert banned.headers["location"] == "/admin/users?q=tro&done=banned"
    listed = await browser.get(banned.headers["location"])
    assert "banned" in rows(listed.text, "troll@example.com")[0]
    assert "The user is banned" in listed.text

    # The banned user's web session may still read, and nothing more: publishing is refused.
    session = other_browser.http.cookies["conduit_session"]
    publishing = await other_browser.http.post(
        "/api/articles",
        json={"article": {"title": "More spam", "description": "d", "body": "b"}},
        headers={"authorization": f"Token {session}"},
    )
    assert publishing.status_code == 403
    assert (await other_browser.get("/")).status_code == 200
    await other_browser.post("/logout")
    again = await other_browser.post(
        "/login", {"email": "troll@example.com", "password": "password123"}, page="/login"
    )
    assert again.status_code in (403, 422)
    assert "banned" in again.text

    lifted = await browser.post(
        "/admin/users/troll/unban", {"reason": "appeal"}, page="/admin/users"
    )
    assert lifted.status_code == 303
    listed = await browser.get("/admin/users?q=troll")
    assert "active" in rows(listed.text, "troll@example.com")[0]
    back = await other_browser.post(
        "/login", {"email": "troll@example.com", "password": "password123"}, page="/login"
    )
    assert back.status_code == 303

    entries, _ = await admin.audit_log(
        db,
        actor=Principal(id=0, roles=frozenset({"user", "admin"})),
        page=admin.Page(limit=10),
        types=("user.banned", "user.unbanned"),
        kind="user.banned",
    )
    assert entries[0].details["reason"] == "spam"


async def test_a_moderator_cannot_ban_staff_or_grant_roles(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await staff(browser, db, "mod", "moderator")
    await staff(other_browser, db, "chief", "admin")
    refused = await browser.post("/admin/users/chief/ban", page="/admin/users")
    assert refused.status_code == 403
    await other_browser.post("/logout")
    await other_browser.sign_up("newbie")
    granting = await browser.post(
        "/admin/users/newbie/roles", {"role": "moderator", "change": "grant"}, page="/admin/users"
    )
    assert granting.status_code == 403
    async with db.reader() as uow:
        account = await users.get_by_username(uow.conn, "newbie")
    assert account is not None
    assert account.roles == frozenset({"user"})


async def test_an_admin_grants_and_revokes_a_role(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await staff(browser, db, "chief", "admin")
    await other_browser.sign_up("helper")
    page = await browser.get("/admin/users?q=helper")
    assert "Make moderator" in page.text
    granted = await browser.post(
        "/admin/users/helper/roles",
        {"role": "moderator", "change": "grant", "reason": "trusted"},
        page="/admin/users",
    )
    assert granted.status_code == 303
    listed = await browser.get("/admin/users?q=helper")
    assert "badge-moderator" in rows(listed.text, "helper@example.com")[0]
    # The new moderator's own session opens the console at once.
    assert (await other_browser.get("/admin/users")).status_code == 200

    revoked = await browser.post(
        "/admin/users/helper/roles", {"role": "moderator", "change": "revoke"}, page="/admin/users"
    )
    assert revoked.status_code == 303
    assert (await other_browser.get("/admin/users")).status_code == 403
    audit = await browser.get("/admin/audit?type=user.role_granted")
    [row] = rows(audit.text, "username: helper")
    assert "trusted" in row
    assert "chief" in row


async def test_deleting_an_article_with_a_reason_shows_in_the_audit_log(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await staff(browser, db, "chief", "admin")
    await other_browser.sign_up("writer")
    slug = await an_article(db, "writer", "Buy cheap watches")
    kept = await an_article(db, "writer", "A fine essay")
    listed = await browser.get("/admin/articles?author=writer")
    assert len(rows(listed.text, "writer")) == 2
    deleted = await browser.post(
        f"/admin/articles/{slug}/delete",
        {"reason": "advertising", "next": "/admin/articles?author=writer"},
        page="/admin/articles",
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/admin/articles?author=writer&done=article-deleted"
    listed = await browser.get("/admin/articles?author=writer")
    assert len(rows(listed.text, "writer")) == 1
    assert (await articles.get(db, slug=kept, viewer_id=None)).title == "A fine essay"

    audit = await browser.get("/admin/audit")
    [row] = rows(audit.text, "article.deleted_by_moderator")
    assert "advertising" in row
    assert "chief" in row
    assert "writer" in row


async def test_a_moderator_deletes_a_comment_from_the_article_page(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await staff(browser, db, "mod", "moderator")
    await other_browser.sign_up("writer")
    slug = await an_article(db, "writer", "Comments welcome")
    writer = await principal_of(db, "writer")
    rude = await comments.add(db, slug=slug, actor=writer, body="something rude")
    await comments.add(db, slug=slug, actor=writer, body="something kind")
    article = await browser.get(f"/admin/articles/{slug}")
    assert "something rude" in article.text
    deleted = await browser.post(
        f"/admin/articles/{slug}/comments/{rude.id}/delete",
        {"reason": "insult", "next": f"/admin/articles/{slug}"},
        page=f"/admin/articles/{slug}",
    )
    assert deleted.status_code == 303
    article = await browser.get(deleted.headers["location"])
    assert "something rude" not in article.text
    assert "something kind" in article.text
    assert "The comment is deleted" in article.text


async def test_the_audit_log_filters_by_type_and_actor(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await staff(browser, db, "chief", "admin")
    await staff(other_browser, db, "mod", "moderator")
    # chief: two grants; mod (a moderator): one ban.
    for name in ("one", "two"):
        await users_sign_up(db, name)
        await browser.post(
            f"/admin/users/{name}/roles", {"role": "moderator", "change": "grant"}, page="/admin"
        )
    banned = await other_browser.post("/admin/users/one/ban", page="/admin/users")
    assert banned.status_code == 403  # "one" is a moderator now: only an admin bans them
    await users_sign_up(db, "three")
    assert (await other_browser.post("/admin/users/three/ban", page="/admin")).status_code == 303

    async def listed(query: str) -> list[str]:
        return rows((await browser.get(f"/admin/audit?{query}")).text, "<code>")

    everything = await listed("")
    grants = await listed("type=user.role_granted")  # chief's, mod's (command line), one, two
    by_mod = await listed("actor=mod")  # signing up, and the ban
    assert len(grants) == 4
    assert all("user.role_granted" in row for row in grants)
    assert 0 < len(by_mod) < len(everything)
    assert all("<td>mod</td>" in row for row in by_mod)
    assert any("user.banned" in row for row in by_mod)
    assert await listed("type=user.banned&actor=chief") == []
    assert len(await listed("type=user.role_granted&actor=chief")) == 2
    assert len(await listed("type=user.banned&actor=mod")) == 1
    unknown = await browser.get("/admin/audit?actor=nobody")
    assert rows(unknown.text, "<code>") == []


async def users_sign_up(db: Database, name: str) -> None:
    """An account made straight through the use case (no browser needed)."""
    from conduit.users import service as users_service

    await users_service.register(
        db, username=name, email=f"{name}@example.com", password="password123"
    )


async def test_a_dead_letter_is_listed_inspected_and_replayed(
    browser: Browser, db: Database
) -> None:
    await staff(browser, db, "chief", "admin")
    event = Event.of(UserRegistered(user_id=7, username="ghost"), actor_id=7)
    await record_dead_letter(
        db, notifications, event, error="RuntimeError: the mail server is away", attempts=5
    )
    listed = await browser.get("/admin/dead-letters")
    [row] = rows(listed.text, "user.registered")
    assert "notifications" in row
    assert "waiting" in row
    letter_id = re.search(r'href="/admin/dead-letters/(\d+)"', row)
    assert letter_id is not None
    path = f"/admin/dead-letters/{letter_id.group(1)}"
    shown = await browser.get(path)
    assert "the mail server is away" in shown.text
    assert event.id in shown.text  # the stored event
    async with db.reader() as uow:
        waiting_before = (
            await uow.conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))
        ).scalar_one()

    replayed = await browser.post(f"{path}/replay", page=path)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == f"{path}?done=replayed"
    after = await browser.get(replayed.headers["location"])
    assert "Replay event" not in after.text
    assert "waiting" not in rows((await browser.get("/admin/dead-letters")).text, "user.")[0]
    async with db.reader() as uow:
        queued = list(
            await uow.conn.execute(select(outbox.c.type).where(outbox.c.published_at.is_(None)))
        )
    assert len(queued) == waiting_before + 1
    overview = await browser.get("/admin")
    assert "Waiting in the outbox" in overview.text
    audit = await browser.get("/admin/audit?type=dead_letter.replayed")
    assert len(rows(audit.text, "dead_letter.replayed")) == 1
    again = await browser.post(f"{path}/replay", page=path)
    assert again.status_code == 409


async def test_a_console_action_without_the_form_token_is_refused(
    browser: Browser, other_browser: Browser, site: httpx.AsyncClient, db: Database
) -> None:
    await staff(browser, db, "mod", "moderator")
    await other_browser.sign_up("target")
    refused = await site.post(
        "/admin/users/target/ban", data={"reason": "x"}, headers={"origin": ORIGIN}
    )
    assert refused.status_code == 403
    listed = await browser.get("/admin/users?q=target")
    assert "active" in rows(listed.text, "target@example.com")[0]


async def test_an_admin_sees_the_rate_limit_refusals_of_this_instance(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    limited = settings.model_copy(
        update={"rate_limit_reads_per_ip": "2/minute", "rate_limit_login_per_ip": "2/minute"}
    )
    container = Container(
        settings=limited, db=db, tokens=tokens, rate_limiter=rate_limiter(limited)
    )
    transport = httpx.ASGITransport(app=create_app(container=container))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        browser = Browser(http)
        await staff(browser, db, "chief", "admin")
        for _ in range(3):  # the third read is refused
            last = await http.get("/api/tags")
        assert last.status_code == 429
        shown = await browser.get("/admin/rate-limits")
        assert shown.status_code == 200
        assert "each instance of Conduit keeps its own" in shown.text
        [per_rule] = rows(shown.text, '<td class="numeric">')
        assert '<td class="numeric">1</td>' in per_rule
        assert len(rows(shown.text, "<code>reads_per_ip</code>")) == 2  # and the latest
        assert "login_per_ip" not in shown.text

        await browser.post("/logout")
        for _ in range(3):  # the web's sign-in spends the same budget: the third is refused
            refused = await browser.post(
                "/login", {"email": "chief@example.com", "password": "wrong"}, page="/login"
            )
        assert refused.status_code == 429
        await admin.grant(db, username="chief", role="admin", actor=None)
    assert container.rate_limit_refusals.counts() == {"reads_per_ip": 1, "login_per_ip": 1}
