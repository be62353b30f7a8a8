"""The start-up connection budget on numbers alone: what Conduit's processes will open
against the server's max_connections less its reserved slots, and the default pool size
from the machine's cores."""

from __future__ import annotations

import pytest

from conduit.bootstrap.connection_budget import (
    Limits,
    Plan,
    fitting_pool_size,
    judge,
    plan_for,
    skipped_because,
)
from conduit.settings import Settings
from conduit.settings.database import default_pool_size, usable_cores

PG = "postgresql+asyncpg://conduit@db/conduit"
STOCK_POSTGRESQL = Limits(max_connections=100, reserved=3, open_now=0)


def plan(pool: int = 26, *, serve: int = 2, worker: int = 1, **other: int) -> Plan:
    values = {"max_overflow": 0, "listeners": 1, "instances": 1, "starting": serve} | other
    return Plan(pool_size=pool, serve_processes=serve, worker_processes=worker, **values)


def test_the_need_is_per_process_times_processes_times_instances() -> None:
    assert plan(26).need == (26 + 1) * (2 + 1)
    assert plan(20, max_overflow=5, instances=3).need == (20 + 5 + 1) * 3 * 3
    assert plan(10, worker=0, listeners=0).need == 20


def test_the_old_default_of_forty_does_not_fit_two_processes_and_a_worker() -> None:
    """The issue's numbers: 3 x 40 on a stock PostgreSQL refused, with a size that fits."""
    verdict = judge(plan(40), STOCK_POSTGRESQL)

    assert verdict.level == "refuse"
    assert (verdict.plan.need, verdict.limits.budget) == (123, 97)
    assert verdict.fitting_pool_size == 31  # 97 // 3 = 32 per process, one of them the listener
    assert judge(plan(31), STOCK_POSTGRESQL).level != "refuse"
    assert judge(plan(32), STOCK_POSTGRESQL).level == "refuse"
    for shown in ("123 > 97", "max_connections 100 - 3 reserved", "CONDUIT_DB_POOL_SIZE=31"):
        assert shown in verdict.message
    assert "pgbouncer" in verdict.message
    mariadb = judge(plan(40, listeners=0), Limits(100, 0, 0), postgresql=False)
    assert "CONDUIT_DB_POOL_SIZE=33" in mariadb.message
    assert "pgbouncer" not in mariadb.message  # PostgreSQL's pooler


def test_warn_mode_starts_with_the_same_numbers() -> None:
    verdict = judge(plan(40), STOCK_POSTGRESQL, "warn")

    assert verdict.level == "warn"
    assert "123 > 97" in verdict.message
    assert "CONDUIT_DB_POOL_SIZE=31" in verdict.message


def test_above_eighty_percent_of_the_budget_is_a_warning() -> None:
    assert judge(plan(24), STOCK_POSTGRESQL).level == "ok"  # 75 of 97
    verdict = judge(plan(28), STOCK_POSTGRESQL)  # 87 of 97: 89 %
    assert verdict.level == "warn"
    assert "89 %" in verdict.message
    assert "CONDUIT_DB_POOL_SIZE=24" in verdict.message  # 75 of 97 stays under 80 %
    assert judge(plan(25), STOCK_POSTGRESQL).level == "warn"  # 78 of 97


def test_connections_open_now_warn_when_the_starting_processes_would_not_fit() -> None:
    busy = Limits(max_connections=100, reserved=3, open_now=60)
    # serve --workers 2 needs 2 x 21 = 42 now; 60 + 42 > 97
    verdict = judge(plan(20, serve=2, worker=1, starting=2), busy)
    assert verdict.level == "warn"
    assert "60 open now" in verdict.message
    assert judge(plan(20, starting=2), Limits(100, 3, 50)).level == "ok"  # 50 + 42 <= 97


def test_reserved_slots_count_and_a_plan_without_room_names_other_fixes() -> None:
    pg16 = Limits(max_connections=20, reserved=3 + 5, open_now=0)  # reserved_connections=5
    assert pg16.budget == 12
    verdict = judge(plan(5, serve=4, worker=1), pg16)
    assert verdict.level == "refuse"
    assert verdict.fitting_pool_size == 1  # 12 // 5 = 2 per process, one is the listener
    assert fitting_pool_size(plan(5, serve=16), pg16.budget) == 0
    assert "fewer processes" in judge(plan(5, serve=16), pg16).message


def test_the_plan_reads_the_settings() -> None:
    settings = Settings(database_url=PG, db_pool_size=12, db_instances=3, db_pool_max_overflow=2)
    made = plan_for(settings, serve_processes=4, worker=True, starting=4)
    assert made == Plan(12, 2, 1, 4, 1, 3, starting=4)
    assert made.need == (12 + 2 + 1) * 5 * 3
    quiet = settings.model_copy(update={"wakeups_enabled": False})
    assert plan_for(quiet, serve_processes=1, worker=False, starting=1).listeners == 0
    mariadb = Settings(database_url="mysql+aiomysql://root@db/conduit", db_pool_size=12)
    assert plan_for(mariadb, serve_processes=1, worker=False, starting=1).listeners == 0


@pytest.mark.parametrize(
    ("settings", "skipped"),
    [
        (Settings(database_url="sqlite+aiosqlite:///x.db"), "SQLite"),
        (Settings(database_url=PG, database_pooler="pgbouncer"), "pgbouncer"),
        (Settings(database_url=PG, db_budget_check="off"), "off"),
        (Settings(database_url=PG), None),
        (Settings(database_url="mysql+asyncmy://root@db/conduit"), None),
    ],
)
def test_what_is_not_checked(settings: Settings, skipped: str | None) -> None:
    reason = skipped_because(settings)
    assert (reason is None) == (skipped is None)
    if skipped is not None:
        assert skipped in str(reason)


@pytest.mark.parametrize(
    ("cores", "size"), [(1, 37), (2, 24), (3, 18), (4, 14), (8, 7), (11, 5), (64, 5)]
)
def test_the_default_pool_comes_from_the_cores(cores: int, size: int) -> None:
    assert default_pool_size(cores) == size
    # One machine's Conduit (a serve worker per core and the worker) fits a stock PostgreSQL.
    if size > 5:
        fleet = plan(size, serve=cores, worker=1)
        assert judge(fleet, STOCK_POSTGRESQL).level == "ok"


def test_the_default_pool_is_this_machines_and_an_explicit_size_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONDUIT_DB_POOL_SIZE", raising=False)
    assert Settings().db_pool_size == default_pool_size(usable_cores())
    monkeypatch.setenv("CONDUIT_DB_POOL_SIZE", "7")
    assert Settings().db_pool_size == 7
