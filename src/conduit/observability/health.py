"""Readiness: every dependency of a process checked at once, each within its own timeout.

A :class:`Dependency` is a name (``database``, ``cache``, ``broker`` ...), the kind of
service behind it (``postgresql``, ``redis``, ``rabbitmq``, ``folder`` ...), whether the
process can serve without it, and how to reach it: the adapter's cheap ``ping()`` (one round
trip; raises when the service does not answer), or nothing for what lives in the process (the
embedded bus), which is reported as it is and always up. ``conduit.bootstrap.health`` says
which dependencies a container has; :class:`Readiness` checks them concurrently and answers a
:class:`Report`: ``ready`` while every *required* dependency is up, ``degraded`` when an
optional one is down.

Framework-free and service-free: the checks only see ``ping()``; no client library is
imported here. A state change (up to down, down to up) is logged once, with the error; the
report itself says only ``timed out`` or ``unreachable``, since it is served to anyone who
asks and the error names hosts and ports.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog

_log = structlog.get_logger("conduit.health")

# How long one dependency may take to answer before it counts as down. Point the
# orchestrator's probe timeout above it (3 s or more).
CHECK_TIMEOUT_SECONDS = 2.0

UP = "up"
DOWN = "down"


@runtime_checkable
class Pingable(Protocol):
    """An adapter of an outside service that can be asked, cheaply, whether it answers."""

    async def ping(self) -> None:
        """One round trip to the service; raises when it does not answer."""
        ...


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str
    kind: str
    required: bool = False
    # None: nothing to reach (it runs in this process); reported up.
    ping: Callable[[], Awaitable[object]] | None = None


@dataclass(frozen=True, slots=True)
class Result:
    dependency: Dependency
    state: str
    latency_ms: float
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.state == UP

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "state": self.state,
            "latency_ms": self.latency_ms,
            "kind": self.dependency.kind,
            "required": self.dependency.required,
        }
        if self.error is not None:
            shown["error"] = self.error
        return shown


@dataclass(frozen=True, slots=True)
class Report:
    results: tuple[Result, ...]

    @property
    def ready(self) -> bool:
        """Every required dependency is up."""
        return all(result.up for result in self.results if result.dependency.required)

    @property
    def status(self) -> str:
        """``ok`` (all up), ``degraded`` (an optional one is down) or ``unavailable``."""
        if not self.ready:
            return "unavailable"
        return "ok" if all(result.up for result in self.results) else "degraded"

    @property
    def down(self) -> tuple[str, ...]:
        """The names of the dependencies that are down, required ones first."""
        down = [result for result in self.results if not result.up]
        down.sort(key=lambda result: not result.dependency.required)
        return tuple(result.dependency.name for result in down)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {result.dependency.name: result.as_dict() for result in self.results},
        }


class Readiness:
    """Checks a fixed set of dependencies on demand (each call checks them anew)."""

    def __init__(
        self, dependencies: Sequence[Dependency], *, timeout: float = CHECK_TIMEOUT_SECONDS
    ) -> None:
        self.dependencies = tuple(dependencies)
        self.timeout = timeout
        self._last: dict[str, str] = {}

    async def check(self) -> Report:
        results = await asyncio.gather(*(self._check(dep) for dep in self.dependencies))
        for result in results:
            self._log_change(result)
        return Report(tuple(results))

    async def _check(self, dependency: Dependency) -> Result:
        if dependency.ping is None:
            return Result(dependency, UP, 0.0)
        started = time.perf_counter()
        error: str | None = None
        detail = ""
        try:
            async with asyncio.timeout(self.timeout):
                await dependency.ping()
        except TimeoutError:
            error, detail = "timed out", f"no answer within {self.timeout} s"
        except Exception as exc:
            error, detail = "unreachable", f"{type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - started) * 1000, 1)
        if error is None:
            return Result(dependency, UP, latency)
        result = Result(dependency, DOWN, latency, error)
        if self._last.get(dependency.name) != DOWN:
            _log.warning(
                "dependency_down",
                dependency=dependency.name,
                kind=dependency.kind,
                required=dependency.required,
                error=detail,
            )
        return result

    def _log_change(self, result: Result) -> None:
        name = result.dependency.name
        before, self._last[name] = self._last.get(name), result.state
        if before == DOWN and result.up:
            _log.info("dependency_up", dependency=name, kind=result.dependency.kind)
