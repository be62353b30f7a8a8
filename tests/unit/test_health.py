"""Readiness (``conduit.observability.health``): what a report says about its dependencies.

The pings here are plain coroutines; the same checks against real services (Redis, RabbitMQ,
NATS, a database at a closed port, a read-only folder) are in
``tests/integration/test_readiness.py``.
"""

from __future__ import annotations

import asyncio

from conduit.observability.health import Dependency, Readiness


async def answers() -> None:
    return None


async def refuses() -> None:
    raise ConnectionRefusedError("connection refused")


async def hangs() -> None:
    await asyncio.Event().wait()


async def test_ready_with_every_dependency_up_and_each_latency_reported() -> None:
    report = await Readiness(
        [
            Dependency("database", "postgresql", required=True, ping=answers),
            Dependency("broker", "embedded"),
        ]
    ).check()
    assert report.ready
    assert report.as_dict() == {
        "status": "ok",
        "checks": {
            "database": {
                "state": "up",
                "latency_ms": report.results[0].latency_ms,
                "kind": "postgresql",
                "required": True,
            },
            "broker": {"state": "up", "latency_ms": 0.0, "kind": "embedded", "required": False},
        },
    }
    assert report.results[0].latency_ms >= 0


async def test_an_optional_dependency_down_degrades_and_a_required_one_makes_it_unready() -> None:
    optional_down = await Readiness(
        [
            Dependency("database", "sqlite", required=True, ping=answers),
            Dependency("cache", "redis", ping=refuses),
        ]
    ).check()
    assert optional_down.ready
    assert optional_down.status == "degraded"
    assert optional_down.as_dict()["checks"]["cache"]["state"] == "down"
    assert optional_down.as_dict()["checks"]["cache"]["error"] == "unreachable"

    required_down = await Readiness(
        [
            Dependency("database", "postgresql", required=True, ping=refuses),
            Dependency("cache", "redis", ping=answers),
        ]
    ).check()
    assert not required_down.ready
    assert required_down.status == "unavailable"
    assert required_down.down == ("database",)


async def test_a_dependency_that_does_not_answer_is_down_after_the_timeout() -> None:
    report = await Readiness([Dependency("broker", "rabbitmq", ping=hangs)], timeout=0.05).check()
    (result,) = report.results
    assert result.state == "down"
    assert result.error == "timed out"
    assert result.latency_ms > 0  # the time it was waited for


async def test_the_dependencies_are_checked_at_the_same_time() -> None:
    """Each ping waits for the other to have started: checked one after the other, the
    first would wait forever (and time out)."""
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def ping(mine: str, other: str) -> Dependency:
        async def meet() -> None:
            started[mine].set()
            await started[other].wait()

        return Dependency(mine, "redis", ping=meet)

    report = await Readiness([ping("a", "b"), ping("b", "a")], timeout=5).check()
    assert [result.state for result in report.results] == ["up", "up"]
