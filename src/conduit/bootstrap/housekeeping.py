"""The worker's housekeeping beside the relay: pruning what nothing refers to any more.

Both loops run with the relay (``lifecycle.run_worker``): unreferenced uploads, and with
OpenID Connect providers the audit records of failed logins and abandoned login states.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING

import structlog

from conduit.auth.oidc import service as oidc_logins
from conduit.uploads import service as uploads

if TYPE_CHECKING:
    from conduit.bootstrap import Container

# The first prune waits this long after the start (at most), so short-lived processes and
# restarts in a loop do not prune on every start.
FIRST_PRUNE_DELAY_SECONDS = 60.0

log = structlog.get_logger("conduit.worker")


async def prune_uploads(container: Container) -> None:
    """Delete unreferenced old uploads every ``upload_prune_interval_seconds``, until
    cancelled; a failed round is logged and tried again at the next."""
    settings = container.settings
    interval = settings.upload_prune_interval_seconds
    older_than = dt.timedelta(hours=settings.upload_retention_hours)
    await asyncio.sleep(min(interval, FIRST_PRUNE_DELAY_SECONDS))
    while True:
        try:
            pruned = await uploads.prune(container.db, container.storage, older_than=older_than)
            if pruned:
                log.info("uploads_pruned", count=pruned)
        except Exception as exc:
            log.warning("uploads_prune_failed", error_type=type(exc).__name__, error=str(exc))
        await asyncio.sleep(interval)


async def prune_logins(container: Container) -> None:
    """Delete the audit records of failed OpenID Connect logins past
    ``oidc_failed_login_retention_days``, and abandoned login states, every
    ``oidc_prune_interval_seconds`` until cancelled; a failed round is logged and tried
    again at the next."""
    settings = container.settings
    interval = settings.oidc_prune_interval_seconds
    retention = dt.timedelta(days=settings.oidc_failed_login_retention_days)
    await asyncio.sleep(min(interval, FIRST_PRUNE_DELAY_SECONDS))
    while True:
        try:
            pruned = await oidc_logins.prune(container.db, failed_logins_older_than=retention)
            if pruned.failed_logins or pruned.login_states:
                log.info(
                    "oidc_logins_pruned",
                    failed_logins=pruned.failed_logins,
                    login_states=pruned.login_states,
                )
        except Exception as exc:
            log.warning("oidc_logins_prune_failed", error_type=type(exc).__name__, error=str(exc))
        await asyncio.sleep(interval)
