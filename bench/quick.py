"""The frame of a side bench on the quick data set (``make bench-cache``, ``make
bench-metrics``): check the database name and wrk, make a work folder and a :class:`Run`,
call ``execute(run, started_at)``, and stop every process it started, however it ends."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import QUICK_SIZES, BenchError, Run, say
from load import ensure_wrk
from seeding import check_database_name, database_urls
from servers import stop_process


def run_quick(
    args: argparse.Namespace,
    execute: Callable[[Run, dt.datetime], int],
    *,
    prefix: str,
) -> int:
    """``execute``'s exit code; 2 with the error said when the bench cannot run."""
    started_at = dt.datetime.now(dt.UTC)
    try:
        check_database_name(args.database)
        ensure_wrk()
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        run = Run(
            args=args,
            workdir=Path(workdir),
            sizes=dict(QUICK_SIZES),
            admin_url=args.admin_url,
            database_url=database_urls(args.admin_url, args.database)[0],
        )
        try:
            return execute(run, started_at)
        except BenchError as exc:
            say(f"error: {exc}")
            return 2
        finally:
            for process in list(run.processes):
                with contextlib.suppress(Exception):
                    stop_process(run, process)
