"""OWASP API Security Top 10 (2023), API6 Unrestricted Access to Sensitive Business Flows:
registration floods per address, follow and favorite floods per user.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from conduit.users.models import users
from tests.helpers import auth, create_article
from tests.security.conftest import Connect
from tests.security.owasp_support import (
    PASSWORD,
    assert_too_many,
    count,
    get_json,
    limited_app,
    sign_up,
)


class TestAPI6UnrestrictedAccessToSensitiveBusinessFlows:
    """API6:2023 Unrestricted Access to Sensitive Business Flows.

    "APIs vulnerable to this risk expose a business flow - such as buying a ticket, or
    posting a comment - without compensating for how the functionality could harm the
    business if used excessively in an automated manner."

    Here: creating accounts, following and favoriting (fake popularity) in bulk.
    """

    async def test_a_registration_flood_from_one_address_meets_429(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        app = limited_app(db, settings, tokens, rate_limit_register_per_ip="3/minute")
        bot = connect(app, "192.0.2.66")
        for n in range(3):
            await sign_up(bot, f"bot{n}")

        user = {"username": "bot3", "email": "bot3@conduit.test", "password": PASSWORD}
        assert_too_many(await bot.post("/users", json={"user": user}), limit=3)

        assert await count(db, users, users.c.username == "bot3") == 0
        assert await count(db, users) == 3
        # Another address is not held up.
        await sign_up(connect(app, "192.0.2.67"), "bot3")

    async def test_a_follow_and_favorite_flood_meets_the_writes_budget(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        app = limited_app(db, settings, tokens, rate_limit_writes_per_user="4/minute")
        author, _ = await sign_up(connect(app, "192.0.2.80"), "author")
        slug = (await create_article(connect(app, "192.0.2.80"), author))["slug"]
        http = connect(app, "192.0.2.81")  # two users on one address
        mallory, _ = await sign_up(http, "mallory")
        bob, _ = await sign_up(http, "bob")

        for method, path in (
            ("POST", "/profiles/author/follow"),
            ("DELETE", "/profiles/author/follow"),
            ("POST", f"/articles/{slug}/favorite"),
            ("DELETE", f"/articles/{slug}/favorite"),
        ):
            response = await http.request(method, path, headers=auth(mallory))
            assert response.status_code == 200, (method, path, response.text)
        assert_too_many(await http.post(f"/articles/{slug}/favorite", headers=auth(mallory)), 4)
        assert_too_many(await http.post("/profiles/author/follow", headers=auth(mallory)), 4)

        article = (await get_json(http, f"/articles/{slug}", mallory))["article"]
        assert (article["favorited"], article["favoritesCount"]) == (False, 0)
        assert (await get_json(http, "/profiles/author", mallory))["profile"]["following"] is False
        # Bob, on the same address, has a budget of his own.
        assert (await http.post(f"/articles/{slug}/favorite", headers=auth(bob))).status_code == 200
        assert (await http.post("/profiles/author/follow", headers=auth(bob))).status_code == 200
