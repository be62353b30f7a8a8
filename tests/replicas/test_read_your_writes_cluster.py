"""Read replicas with read-your-writes, across two ``conduit serve`` processes.

A private PostgreSQL primary with a streaming replica that applies commits 300 ms late
(``recovery_min_apply_delay``), a private Redis holding each user's last write position,
and two instances. Every write is followed at once by its author's read on the *other*
instance: each must find the write (the replica is behind, so the read waits for it and
then goes to the primary). Anonymous reads go to the replica: right after a write they do
not see it yet, while its author does. With the replica stopped, every read still answers
from the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET, _unreachable
from tests.helpers import auth, create_article, register
from tests.live_support import conduit_servers, private_redis
from tests.replicas.cluster import Cluster, lagging_cluster, replica_reads

pytestmark = pytest.mark.cluster

WRITES = 200


@dataclass
class Fleet:
    cluster: Cluster
    apis: list[str]
    logs: list[Path]
    stack: contextlib.ExitStack
    tokens: dict[str, str] = field(default_factory=dict)

    def stop_servers(self) -> list[dict[str, int]]:
        """Stop both instances; what each logged about where its reads went."""
        self.stack.close()
        return [replica_reads(log) for log in self.logs]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("replicas")
    with contextlib.ExitStack() as outer:
        try:
            cluster = outer.enter_context(lagging_cluster())
            redis_url = outer.enter_context(private_redis(folder))
        except RuntimeError as exc:
            _unreachable("postgresql or redis-server", exc)
        env = {
            "CONDUIT_DATABASE_URL": cluster.primary.url(),
            "CONDUIT_DATABASE_REPLICA_URLS": cluster.replica.url(),
            "CONDUIT_REDIS_URL": redis_url,
            "CONDUIT_SECRET_KEY": TEST_SECRET,
            "CONDUIT_AUTO_MIGRATE": "false",
            "CONDUIT_DATA_DIR": str(folder),
            "CONDUIT_RATE_LIMITS_ENABLED": "false",
            "CONDUIT_LOG_JSON": "true",
            "CONDUIT_LOG_LEVEL": "INFO",
        }
        logs = [folder / "a.log", folder / "b.log"]
        stack = outer.enter_context(contextlib.ExitStack())
        apis = stack.enter_context(conduit_servers(env, logs))
        yield Fleet(cluster=cluster, apis=apis, logs=logs, stack=stack)


async def test_every_write_is_found_by_its_authors_next_read_on_another_instance(
    fleet: Fleet,
) -> None:
    a, b = (httpx.AsyncClient(base_url=api, timeout=30) for api in fleet.apis)
    async with a, b:
        instances = (a, b)
        names = [f"writer{n}" for n in range(4)]
        for n, name in enumerate(names):
            # Registering is a write too: the new user's first read must find the account.
            token = await register(instances[n % 2], name)
            me = await instances[(n + 1) % 2].get("/user", headers=auth(token))
            assert me.status_code == 200, me.text
            fleet.tokens[name] = token
        articles: dict[str, str] = {}
        stale: list[str] = []
        for i in range(WRITES):
            name = names[i % len(names)]
            token = fleet.tokens[name]
            writer, reader = instances[i % 2], instances[(i + 1) % 2]
            kind = i % 3
            if kind == 0 or name not in articles:
                title = f"Article {i} by {name}"
                slug = (await create_article(writer, token, title=title))["slug"]
                articles[name] = slug
                read = await reader.get(f"/articles/{slug}", headers=auth(token))
                found = read.status_code == 200 and read.json()["article"]["title"] == title
            elif kind == 1:
                slug = articles[name]
                posted = await writer.post(
                    f"/articles/{slug}/comments",
                    json={"comment": {"body": f"comment {i}"}},
                    headers=auth(token),
                )
                assert posted.status_code == 201, posted.text
                read = await reader.get(f"/articles/{slug}/comments", headers=auth(token))
                found = read.status_code == 200 and any(
                    c["id"] == posted.json()["comment"]["id"] for c in read.json()["comments"]
                )
            else:
                bio = f"bio {i}"
                put = await writer.put("/user", json={"user": {"bio": bio}}, headers=auth(token))
                assert put.status_code == 200, put.text
                read = await reader.get("/user", headers=auth(token))
                found = read.status_code == 200 and read.json()["user"]["bio"] == bio
            if not found:
                stale.append(f"write {i} ({name}, kind {kind}): {read.status_code}")
            # Beside the writes, the reads of a site: another writer reading their article
            # (their last write a few hundred ms old) and an anonymous list.
            other = names[(i + 1) % len(names)]
            if other in articles:
                read = await writer.get(
                    f"/articles/{articles[other]}", headers=auth(fleet.tokens[other])
                )
                assert read.status_code == 200, read.text
            listed = await reader.get("/articles", params={"limit": 5})
            assert listed.status_code == 200, listed.text
        assert stale == [], f"{len(stale)} of {WRITES} writes not seen by their author"
        # Once the replica has caught up, the same reads are the replica's (see the figures).
        fleet.cluster.wait_until_replayed()
        for name, slug in articles.items():
            for client in instances:
                read = await client.get(f"/articles/{slug}", headers=auth(fleet.tokens[name]))
                assert read.status_code == 200, read.text


async def test_anonymous_reads_go_to_the_replica(fleet: Fleet) -> None:
    a, b = (httpx.AsyncClient(base_url=api, timeout=30) for api in fleet.apis)
    async with a, b:
        token = await register(a, "anonymous-test-author")
        anonymous_misses = 0
        for i in range(5):
            slug = (await create_article(a, token, title=f"Fresh {i}"))["slug"]
            anonymous = await b.get(f"/articles/{slug}")
            author = await b.get(f"/articles/{slug}", headers=auth(token))
            assert author.status_code == 200, author.text
            assert anonymous.status_code in (200, 404), anonymous.text
            anonymous_misses += anonymous.status_code == 404
        print("anonymous reads that did not find a new article:", anonymous_misses, "of 5")
        # The primary has each article before its author's read; only a replica still
        # 300 ms behind can answer the anonymous read without it.
        assert anonymous_misses >= 1, "anonymous reads were served by the primary"
        fleet.cluster.wait_until_replayed()
        anonymous = await b.get(f"/articles/{slug}")
        assert anonymous.status_code == 200, anonymous.text


async def test_a_new_password_works_at_once_on_every_instance(fleet: Fleet) -> None:
    """Logging in is anonymous, yet must see a password changed a moment ago."""
    a, b = (httpx.AsyncClient(base_url=api, timeout=30) for api in fleet.apis)
    async with a, b:
        token = await register(a, "changes-password")
        fleet.cluster.wait_until_replayed()
        for n in range(3):
            password = f"new-password-{n}"
            changed = await a.put(
                "/user", json={"user": {"password": password}}, headers=auth(token)
            )
            assert changed.status_code == 200, changed.text
            token = changed.json()["user"]["token"]
            login = await b.post(
                "/users/login",
                json={"user": {"email": "changes-password@conduit.test", "password": password}},
            )
            assert login.status_code == 200, login.text


async def test_an_edit_reaches_anonymous_readers_through_the_cache_once_replayed(
    fleet: Fleet,
) -> None:
    """An anonymous read right after an edit is answered by the replica, still without it,
    and that answer is cached (Redis); once the replica has the edit, the cache forgets
    it again, so anonymous readers do not keep the old article for the cache's TTL."""
    a, b = (httpx.AsyncClient(base_url=api, timeout=30) for api in fleet.apis)
    async with a, b:
        token = fleet.tokens["writer1"]
        slug = (await create_article(a, token, title="Edited later", body="first"))["slug"]
        fleet.cluster.wait_until_replayed()
        assert (await b.get(f"/articles/{slug}")).json()["article"]["body"] == "first"
        edited = await a.put(
            f"/articles/{slug}", json={"article": {"body": "second"}}, headers=auth(token)
        )
        assert edited.status_code == 200, edited.text
        bodies = []
        for _ in range(100):
            read = await b.get(f"/articles/{slug}")
            assert read.status_code == 200, read.text
            bodies.append(read.json()["article"]["body"])
            if bodies[-1] == "second":
                break
            await asyncio.sleep(0.1)
        assert bodies[-1] == "second", f"anonymous readers kept the old article: {bodies}"


async def test_reads_answer_from_the_primary_while_the_replica_is_stopped(fleet: Fleet) -> None:
    a, b = (httpx.AsyncClient(base_url=api, timeout=30) for api in fleet.apis)
    async with a, b:
        token = fleet.tokens["writer0"]
        slug = (await create_article(a, token, title="Written before the replica stops"))["slug"]
        fleet.cluster.wait_until_replayed()
        fleet.cluster.replica.stop("fast")
        failures = []
        for i in range(20):
            client = (a, b)[i % 2]
            for path, headers in (
                ("/articles", {}),
                (f"/articles/{slug}", {}),
                (f"/articles/{slug}", auth(token)),
                ("/user", auth(token)),
                ("/tags", {}),
            ):
                response = await client.get(path, headers=headers)
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code}")
        assert failures == []
        # Writes and their authors' reads go on as well.
        slug = (await create_article(b, token, title="Written while the replica is down"))["slug"]
        read = await a.get(f"/articles/{slug}", headers=auth(token))
        assert read.status_code == 200, read.text


def test_where_the_reads_went(fleet: Fleet) -> None:
    """Each instance's own count (logged when it stops): the replica served reads, the
    primary served the reads the replica was too far behind for and those made while it
    was stopped."""
    counts = fleet.stop_servers()
    print("replica_reads per instance:", counts)
    total = {key: sum(count[key] for count in counts) for key in counts[0]}
    assert total["replica"] > 0
    assert total["lagging"] > 0
    assert total["unavailable"] > 0
