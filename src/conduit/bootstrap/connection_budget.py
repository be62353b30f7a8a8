"""How many connections Conduit will open on its database, against how many the server
takes: the start-up check of ``conduit serve`` and ``conduit worker``.

With pools that do not fit, nothing fails at start: the processes start, the pools fill up
under load, and the connection beyond the server's ``max_connections`` is refused ("sorry,
too many clients already"), as a 503 in the middle of traffic. The arithmetic is simple
enough to do at start instead:

    need   = per process x processes x instances
             per process = CONDUIT_DB_POOL_SIZE + CONDUIT_DB_POOL_MAX_OVERFLOW
                           (+ 1: the wake-up listener on PostgreSQL, its own session)
             processes   = conduit serve --workers N (+ 1 conduit worker with a broker)
             instances   = CONDUIT_DB_INSTANCES (machines or pods sharing the database)
    budget = max_connections - reserved slots
             PostgreSQL: superuser_reserved_connections + reserved_connections (16+)
             MariaDB: none (@@max_connections; a SUPER user gets one more of its own)

The outbox relay adds no process of its own: it runs in ``conduit serve`` (embedded bus, or
CONDUIT_RELAY_IN_SERVE) or in ``conduit worker`` and uses that process's pool. Read replicas
are other servers, with pools of their own (CONDUIT_DATABASE_REPLICA_POOL_SIZE): not counted.

This module is the arithmetic (:func:`judge`), apart from the plan's reading of the settings
(:func:`plan_for`) and the server's (:mod:`conduit.bootstrap.connection_limits`), so that it
is tested on numbers alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from conduit.settings import Settings

Level = Literal["ok", "warn", "refuse"]
Mode = Literal["refuse", "warn", "off"]
# Above this share of the budget a start is allowed but warned about: a psql session, a
# migration, a monitoring agent or the next instance of a rolling deploy need room too.
WARN_SHARE = 0.8
PGBOUNCER_DOC = "docs/operating/pgbouncer.md"


@dataclass(frozen=True, slots=True)
class Plan:
    """The connections Conduit's processes will hold at most."""

    pool_size: int
    max_overflow: int
    listeners: int  # per process: PostgreSQL's LISTEN session for the wake-ups (0 or 1)
    serve_processes: int
    worker_processes: int
    instances: int
    # The processes the command being started runs (serve: its workers; worker: itself),
    # which will open their pools beside the connections open now.
    starting: int = 1

    @property
    def starting_need(self) -> int:
        return self.per_process * self.starting

    @property
    def per_process(self) -> int:
        return self.pool_size + self.max_overflow + self.listeners

    @property
    def processes(self) -> int:
        """Per instance."""
        return self.serve_processes + self.worker_processes

    @property
    def need(self) -> int:
        return self.per_process * self.processes * self.instances

    def described(self) -> str:
        """``(26 pool + 1 listener) x (2 serve + 1 worker) x 1 instance = 81``."""
        parts = [f"{self.pool_size} pool"]
        if self.max_overflow:
            parts.append(f"{self.max_overflow} overflow")
        if self.listeners:
            parts.append(f"{self.listeners} listener")
        processes = [f"{self.serve_processes} serve"]
        if self.worker_processes:
            processes.append(f"{self.worker_processes} worker")
        instances = "instance" if self.instances == 1 else "instances"
        return (
            f"({' + '.join(parts)}) x ({' + '.join(processes)}) x {self.instances} {instances}"
            f" = {self.need}"
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """What the server takes, read at start."""

    max_connections: int
    reserved: int
    open_now: int  # client connections already open (others', or Conduit's running processes)

    @property
    def budget(self) -> int:
        return max(0, self.max_connections - self.reserved)


@dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    plan: Plan
    limits: Limits
    fitting_pool_size: int  # the largest CONDUIT_DB_POOL_SIZE within the budget (0: none)
    message: str

    def fields(self) -> dict[str, int | str]:
        """The numbers, for the log line."""
        return {
            "verdict": self.level,
            "need": self.plan.need,
            "budget": self.limits.budget,
            "max_connections": self.limits.max_connections,
            "reserved": self.limits.reserved,
            "open_now": self.limits.open_now,
            "pool_size": self.plan.pool_size,
            "max_overflow": self.plan.max_overflow,
            "listeners_per_process": self.plan.listeners,
            "serve_processes": self.plan.serve_processes,
            "worker_processes": self.plan.worker_processes,
            "instances": self.plan.instances,
            "starting": self.plan.starting_need,
            "fitting_pool_size": self.fitting_pool_size,
        }


def fitting_pool_size(plan: Plan, budget: int, share: float = 1.0) -> int:
    """The largest pool size whose plan needs at most ``share`` of ``budget`` (0: none)."""
    processes = plan.processes * plan.instances
    if processes <= 0:
        return 0
    per_process = int(budget * share) // processes
    return max(0, per_process - plan.max_overflow - plan.listeners)


def judge(plan: Plan, limits: Limits, mode: Mode = "refuse", *, postgresql: bool = True) -> Verdict:
    """``refuse`` when the plan needs more than the budget (``warn`` in mode warn), ``warn``
    above :data:`WARN_SHARE` of it or when the connections open now leave less than the
    plan, else ``ok``. ``postgresql``: pgbouncer is one fix (it pools PostgreSQL only)."""
    budget = limits.budget
    need = plan.need
    fits = fitting_pool_size(plan, budget)
    head = (
        f"Conduit's database connections: {plan.described()}; the server takes "
        f"{budget} (max_connections {limits.max_connections} - {limits.reserved} reserved), "
        f"{limits.open_now} open now."
    )
    if need > budget:
        fix = _fix(plan, fits, postgresql=postgresql)
        level: Level = "warn" if mode == "warn" else "refuse"
        verdict = (
            "does not fit: not starting"
            if level == "refuse"
            else "does not fit (CONDUIT_DB_BUDGET_CHECK=warn: starting anyway)"
        )
        return Verdict(level, plan, limits, fits, f"{head} {need} > {budget}: {verdict}. {fix}")
    if need > budget * WARN_SHARE:
        comfortable = fitting_pool_size(plan, budget, WARN_SHARE)
        return Verdict(
            "warn",
            plan,
            limits,
            fits,
            f"{head} {need} is {need * 100 // max(budget, 1)} % of {budget}: little room for "
            f"anything else (CONDUIT_DB_POOL_SIZE={comfortable} stays under "
            f"{int(WARN_SHARE * 100)} %).",
        )
    if plan.starting_need + limits.open_now > budget:
        return Verdict(
            "warn",
            plan,
            limits,
            fits,
            f"{head} The {plan.starting_need} of {_starting(plan)} do not fit beside the "
            f"{limits.open_now} open now: other clients (or a previous deploy's Conduit) "
            "hold them.",
        )
    return Verdict("ok", plan, limits, fits, head)


def _starting(plan: Plan) -> str:
    return "this process" if plan.starting == 1 else f"these {plan.starting} processes"


def _fix(plan: Plan, fits: int, *, postgresql: bool) -> str:
    if fits >= 1:
        smaller = f"set CONDUIT_DB_POOL_SIZE={fits} (or less)"
        if plan.max_overflow:
            smaller += " and keep CONDUIT_DB_POOL_MAX_OVERFLOW small"
    else:
        smaller = "fewer processes (--workers) or instances"
    if not postgresql:
        return f"Fix: {smaller}, or raise the server's max_connections."
    return (
        f"Fix: {smaller}, raise the server's max_connections, or put pgbouncer in front "
        f"(CONDUIT_DATABASE_POOLER=pgbouncer, {PGBOUNCER_DOC})."
    )


def listeners_per_process(settings: Settings) -> int:
    """1 when the wake-ups hold a PostgreSQL session of their own (``bootstrap/wakeups``)."""
    return int(settings.wakeups_enabled and _backend(settings) == "postgresql")


def plan_for(settings: Settings, *, serve_processes: int, worker: bool, starting: int) -> Plan:
    """The plan from the settings: ``serve_processes`` (``--workers``), ``worker`` (a
    ``conduit worker`` beside serve: events through a broker), ``starting`` (the processes
    the command starts)."""
    return Plan(
        starting=starting,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
        listeners=listeners_per_process(settings),
        serve_processes=serve_processes,
        worker_processes=1 if worker else 0,
        instances=settings.db_instances,
    )


def skipped_because(settings: Settings) -> str | None:
    """Why no check applies to these settings (None: it does)."""
    if settings.db_budget_check == "off":
        return "CONDUIT_DB_BUDGET_CHECK=off"
    backend = _backend(settings)
    if backend == "sqlite":
        return "SQLite: one file, no connection limit"
    if settings.database_pooler == "pgbouncer":
        return "through pgbouncer: its own limits apply (max_client_conn, default_pool_size)"
    if backend not in ("postgresql", "mysql", "mariadb"):
        return f"{backend}: limits unknown"
    return None


def is_postgresql(settings: Settings) -> bool:
    return _backend(settings) == "postgresql"


def _backend(settings: Settings) -> str:
    return settings.effective_database_url.split(":", 1)[0].split("+", 1)[0]
