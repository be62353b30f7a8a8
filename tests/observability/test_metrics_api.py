"""GET /metrics on the API: requests by route template (bounded labels whatever clients
send), who may read it, metrics switched off, and the rate-limit and event counters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from conduit import __version__
from conduit.entrypoints.cli.main import app as cli
from conduit.observability.metrics.registry import HTTP_REQUESTS
from conduit.settings import Settings
from tests.helpers import auth, register
from tests.observability.conftest import Conduit, Samples, value

REQUESTS = "conduit_http_requests_total"


def http_label_sets(samples: Samples) -> set[frozenset[tuple[str, str]]]:
    return {labels for (name, labels) in samples if name == REQUESTS}


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    return value(samples, REQUESTS, route=route, method=method, status=str(status))


async def test_requests_are_counted_and_timed_by_route_template_method_and_status(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit()
    http = app.client()
    before = await app.scrape()
    token = await register(http, "alice")
    for _ in range(3):
        assert (await http.get("/articles/no-such-article")).status_code == 404
    assert (await http.get("/user", headers=auth(token))).status_code == 200
    after = await app.scrape()

    route = "/api/articles/{slug}"
    assert requests(after, route, "GET", 404) - requests(before, route, "GET", 404) == 3
    assert (
        requests(after, "/api/users", "POST", 201) - requests(before, "/api/users", "POST", 201)
        == 1
    )
    assert requests(after, "/api/user", "GET", 200) - requests(before, "/api/user", "GET", 200) == 1
    timed = "conduit_http_request_duration_seconds_count"
    labels = {"route": route, "method": "GET", "status": "404"}
    assert value(after, timed, **labels) - value(before, timed, **labels) == 3
    bucket = "conduit_http_request_duration_seconds_bucket"
    assert value(after, bucket, **labels, le="+Inf") == value(after, timed, **labels)
    # The scrape being answered is in flight; the requests before it are not.
    assert value(after, "conduit_http_requests_in_flight") == 1


async def test_the_labels_stay_the_same_whatever_paths_slugs_tokens_and_methods_arrive(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit()
    http = app.client()
    sent: list[str] = []

    async def burst() -> None:
        for _ in range(40):
            secret = uuid.uuid4().hex
            sent.append(secret)
            await http.get(f"/articles/{secret}")
            await http.get(f"/articles/{secret}/comments")
            await http.get(f"/profiles/{secret}")
            await http.get(f"/no/such/{secret}")
            await http.get(f"/../{secret}?token={secret}")
            await http.get("/user", headers=auth(secret))
            await http.request(f"M{secret[:6].upper()}", "/tags")

    await burst()  # every kind of request once: their label sets exist from here on
    first = http_label_sets(await app.scrape())
    await burst()
    labels = http_label_sets(await app.scrape())

    assert labels == first  # 280 more requests, no new label set
    values = {v for label_set in labels for _, v in label_set}
    assert not any(secret in v for secret in sent for v in values)
    assert {"/api/articles/{slug}", "/api/articles/{slug}/comments", "unmatched"} <= values
    assert {"/api/profiles/{username}", "/api/user", "/api/tags", "other"} <= values


async def test_metrics_answer_loopback_and_the_allowed_networks_and_refuse_everyone_else(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit(metrics_allow="10.1.0.0/16, 192.0.2.7", trusted_proxies=["10.9.9.9"])
    for peer in ("127.0.0.1", "::1", "10.1.200.3", "192.0.2.7"):
        response = await app.client(peer, prefix="").get("/metrics")
        assert response.status_code == 200, peer
        assert response.headers["content-type"].startswith("text/plain")
        assert "conduit_http_requests_total" in response.text
    for peer in ("10.2.0.1", "192.0.2.8", "203.0.113.5"):
        response = await app.client(peer, prefix="").get("/metrics")
        assert response.status_code == 403, peer
        assert response.json() == {"errors": {"metrics": ["forbidden"]}}
    # Behind a trusted proxy, the client it names is the one judged, never the proxy.
    proxy = app.client("10.9.9.9", prefix="")
    refused = await proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
    assert refused.status_code == 403
    allowed = await proxy.get("/metrics", headers={"X-Forwarded-For": "10.1.0.9"})
    assert allowed.status_code == 200
    # A client cannot pretend to be loopback through a proxy nobody trusts.
    spoofed = app.client("203.0.113.5", prefix="")
    assert (
        await spoofed.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    ).status_code == 403


async def test_with_metrics_off_nothing_is_measured_and_metrics_are_not_found(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit(metrics_enabled=False)
    assert app.container.metrics is None
    http = app.client()
    before = sum(child._value.get() for child in _children())
    for _ in range(5):
        await http.get("/tags")
    response = await app.client(prefix="").get("/metrics")
    assert response.status_code == 404
    assert response.json() == {"errors": {"path": ["not found"]}}
    assert sum(child._value.get() for child in _children()) == before


def _children() -> list[object]:
    return [child for child in HTTP_REQUESTS._metrics.values()]  # type: ignore[attr-defined]


async def test_a_metrics_port_of_their_own_takes_metrics_off_the_api_port(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit(metrics_port=9999)
    assert app.container.metrics is not None
    assert (await app.client(prefix="").get("/metrics")).status_code == 404


def test_a_network_metrics_allow_cannot_read_stops_the_start(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP network"):
        Settings(metrics_allow="127.0.0.1,10.0.0.0/33")
    monkeypatch.chdir(str(tmp_path))
    result = CliRunner().invoke(
        cli,
        ["serve"],
        env={"CONDUIT_METRICS_ALLOW": "10.0.0.0/8,intranet", "CONDUIT_LOG_JSON": "true"},
    )
    assert result.exit_code == 2
    assert "Invalid configuration" in result.stderr
    assert "'intranet' is not an IP network" in result.stderr


async def test_refusals_are_counted_by_the_limit_refused(conduit: Callable[..., Conduit]) -> None:
    app = conduit(rate_limit_register_per_ip="2/minute", rate_limit_login_per_account="2/minute")
    http = app.client("192.0.2.10")
    before = await app.scrape()
    await register(http, "carol")
    await register(http, "dave")
    assert (await http.post("/users", json={"user": {}})).status_code == 429
    wrong = {"user": {"email": "carol@conduit.test", "password": "not-her-password"}}
    for _ in range(2):
        assert (await http.post("/users/login", json=wrong)).status_code == 401
    assert (await http.post("/users/login", json=wrong)).status_code == 429  # this address failed
    elsewhere = app.client("192.0.2.11")  # has not failed on carol: may still try
    assert (await elsewhere.post("/users/login", json=wrong)).status_code == 401
    after = await app.scrape()

    def refused(limit: str) -> float:
        name = "conduit_rate_limit_rejections_total"
        return value(after, name, limit=limit) - value(before, name, limit=limit)

    assert refused("register_per_ip") == 1
    assert refused("login_per_account") == 1
    assert refused("login_per_ip") == 0
    assert (
        requests(after, "/api/users", "POST", 429) - requests(before, "/api/users", "POST", 429)
        == 1
    )


async def test_events_are_counted_from_the_outbox_to_the_consumers(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit()
    http = app.client()
    before = await app.scrape()
    # Without the app running (no relay), the events wait in the outbox.
    alice = await register(http, "alice")
    bob = await register(http, "bob")
    waiting = await app.scrape()
    assert value(waiting, "conduit_outbox_unpublished_events") >= 2
    assert value(waiting, "conduit_outbox_oldest_unpublished_age_seconds") >= 0

    async with app.app.router.lifespan_context(app.app):
        assert (await http.post("/profiles/alice/follow", headers=auth(bob))).status_code == 200
        assert (await http.get("/notifications", headers=auth(alice))).status_code == 200
        after = before
        for _ in range(100):
            after = await app.scrape()
            if value(after, "conduit_outbox_unpublished_events") == 0:
                break
            await asyncio.sleep(0.1)

    def counted(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "conduit_outbox_unpublished_events") == 0
    assert value(after, "conduit_outbox_oldest_unpublished_age_seconds") == 0
    assert counted("conduit_relay_published_events_total") >= 3
    assert counted("conduit_consumer_deliveries_total", consumer="notifications") >= 1
    assert counted("conduit_consumer_failures_total", consumer="notifications") == 0
    assert value(after, "conduit_build_info", version=__version__, git_sha=_sha(after)) == 1


def _sha(samples: Samples) -> str:
    for name, labels in samples:
        if name == "conduit_build_info":
            return dict(labels)["git_sha"]
    raise AssertionError("no conduit_build_info")
