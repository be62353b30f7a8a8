"""OWASP API Security Top 10 (2023), API7 Server Side Request Forgery: no route fetches a URL a
user wrote; only adapters import an HTTP client.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import httpx

import conduit
from conduit.core.db import Database
from conduit.notifications.handlers import consumer as notifications_consumer
from tests.api.support import add_comment
from tests.helpers import auth, create_article, register
from tests.outbox_delivery import deliver_outbox
from tests.security.owasp_support import (
    get_json,
)

HTTP_CLIENTS = ("httpx", "aiohttp", "requests", "urllib.request", "urllib3", "http.client")
SOURCE = Path(conduit.__file__).parent
# Modules allowed to make outgoing HTTP requests: the adapters (the OpenID Connect client
# belongs there too). Anything else that imports an HTTP client fails the test.
HTTP_CLIENT_ALLOWED = ("adapters/",)


def http_client_imports(source: str) -> set[str]:
    """The HTTP client modules a Python source imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(
            client
            for name in names
            for client in HTTP_CLIENTS
            if name == client or name.startswith(f"{client}.")
        )
    return found


class TestAPI7ServerSideRequestForgery:
    """API7:2023 Server Side Request Forgery.

    "Server-Side Request Forgery (SSRF) flaws can occur when an API is fetching a remote
    resource without validating the user-supplied URI. This enables an attacker to coerce
    the application to send a crafted request to an unexpected destination."
    """

    async def test_no_route_fetches_a_url_a_user_wrote(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        connections: list[str] = []

        async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append((await reader.read(200)).decode(errors="replace"))
            writer.close()

        server = await asyncio.start_server(record, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/internal"
        try:
            alice = await register(client, "alice")
            bob = await register(client, "bob")
            response = await client.put(
                "/user", json={"user": {"image": url, "bio": url}}, headers=auth(alice)
            )
            assert response.status_code == 200, response.text
            assert response.json()["user"]["image"] == url
            markdown = f"![pic]({url}/a.png) [link]({url}) <img src='{url}'> {url}"
            slug = (
                await create_article(
                    client, alice, "Links", body=markdown, description=url, tagList=[url]
                )
            )["slug"]
            await client.post("/profiles/alice/follow", headers=auth(bob))
            await client.post(f"/articles/{slug}/favorite", headers=auth(bob))
            await add_comment(client, bob, slug, markdown)
            await client.put(
                f"/articles/{slug}", json={"article": {"body": markdown}}, headers=auth(alice)
            )
            for path, token in [
                ("/user", alice),
                ("/profiles/alice", None),
                ("/profiles/alice", bob),
                (f"/articles/{slug}", None),
                (f"/articles/{slug}", bob),
                (f"/articles/{slug}/comments", None),
                ("/articles", None),
                ("/articles?author=alice", bob),
                ("/articles?tag=" + url, None),
                ("/articles/feed", bob),
                ("/tags", None),
            ]:
                await get_json(client, path, token)
            await deliver_outbox(db, notifications_consumer)
            await get_json(client, "/notifications", alice)
            await asyncio.sleep(0.2)

            assert connections == []

            # The control: the listener does see a connection when one is made.
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await writer.drain()
            writer.close()
            for _ in range(50):
                if connections:
                    break
                await asyncio.sleep(0.02)
            assert len(connections) == 1
        finally:
            server.close()
            await server.wait_closed()

    def test_only_adapters_import_an_http_client(self) -> None:
        assert http_client_imports("import httpx\nfrom urllib.request import urlopen") == {
            "httpx",
            "urllib.request",
        }
        assert http_client_imports("from urllib import request") == {"urllib.request"}
        assert http_client_imports("from urllib.parse import urlsplit") == set()

        offenders = {}
        for path in sorted(SOURCE.rglob("*.py")):
            relative = path.relative_to(SOURCE).as_posix()
            if relative.startswith(HTTP_CLIENT_ALLOWED):
                continue
            found = http_client_imports(path.read_text(encoding="utf-8"))
            if found:
                offenders[relative] = sorted(found)
        assert offenders == {}
