"""``make bench``'s command line (bench/run.py --help): durations, connections, seed sizes,
the database, and the phases to skip."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from common import DEFAULT_ADMIN_URL, DEFAULT_DATABASE, ENDPOINT_KEYS, FULL_SIZES, QUICK_SIZES
from phases import WORKERS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Conduit on PostgreSQL with wrk (see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="3 s smoke run on smaller data")
    parser.add_argument("--duration", type=float, help="seconds per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per endpoint (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--timeout", type=float, default=2, help="wrk request timeout, s (2)")
    for name, value in FULL_SIZES.items():
        parser.add_argument(
            f"--{name}", type=int, help=f"seed size (default {value}, --quick {QUICK_SIZES[name]})"
        )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL of a database to run CREATE/DROP DATABASE from "
        "(env BENCH_ADMIN_URL; default %(default)s)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE", DEFAULT_DATABASE),
        help="name of the database dropped and recreated (env BENCH_DATABASE; default "
        "%(default)s; must contain 'bench')",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep the database if it exists (no drop, no seed): faster reruns",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the reference server")
    parser.add_argument(
        "--no-servers",
        action="store_true",
        help="skip the server comparison (uvicorn and Granian's modes and loops, taking turns)",
    )
    parser.add_argument(
        "--no-overload",
        action="store_true",
        help="skip the overload run (the list and an article at 64 and 512 connections)",
    )
    parser.add_argument(
        "--no-cached", action="store_true", help="skip the cached run (Conduit with Redis)"
    )
    parser.add_argument(
        "--no-sqlite", action="store_true", help="skip the SQLite run (Conduit on an SQLite file)"
    )
    parser.add_argument(
        "--no-workers",
        action="store_true",
        help=f"skip the run with conduit serve --workers {WORKERS} on both cores",
    )
    parser.add_argument(
        "--only",
        default=",".join(ENDPOINT_KEYS),
        help=f"comma-separated endpoints to measure (default all: {','.join(ENDPOINT_KEYS)})",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core of wrk (1)")
    parser.add_argument("--output", type=Path, help="result file (default bench/results/<ts>.json)")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 3.0
    args.only = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = sorted(set(args.only) - set(ENDPOINT_KEYS))
    if unknown:
        parser.error(f"unknown endpoints in --only: {', '.join(unknown)}")
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration must be at least 1 and --connections at least 1")
    return args
