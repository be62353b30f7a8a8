"""Run the official RealWorld suite (Bruno CLI) against real `conduit serve` processes.

Each run gets a fresh server: a new SQLite file, a new PostgreSQL or MariaDB database. The
``services`` run is PostgreSQL with the production parts switched on: Redis
(``CONDUIT_REDIS_URL``), RabbitMQ (``CONDUIT_BROKER_URL``, a vhost of its own) and a
``conduit worker`` beside the server; the ``handler`` run is SQLite with every route run by
FastAPI's own request handler (``CONDUIT_ROUTE_PLANS=false``); the ``pgbouncer`` run is
PostgreSQL reached through a private pgbouncer in transaction pooling mode
(``CONDUIT_DATABASE_POOLER=pgbouncer``; migrated through it too). Every folder of the suite
is run; the script fails if any request or assertion fails, or if a server logged an answer
500.

    python scripts/conformance.py --bruno-dir DIR \
        [--backends sqlite,postgresql,mariadb,services,handler,pgbouncer]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg2
import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' pgbouncer
from tests.pgbouncer_server import Pgbouncer, pgbouncer_binary

BRUNO = ["npx", "-y", "@usebruno/cli@4"]
PG_ADMIN = os.environ.get("CONDUIT_CONFORMANCE_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CONDUIT_CONFORMANCE_REDIS", "redis://127.0.0.1:6379/14")
AMQP_HOST = os.environ.get("CONDUIT_CONFORMANCE_AMQP", "guest:guest@127.0.0.1:5672")
SUMMARY = re.compile(r"Requests\s*│\s*(\d+)\s*\((.*?)\)")


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"conduit serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("conduit serve did not become ready")


def pg_database(name: str, *, create: bool) -> str:
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def mariadb_database(name: str, *, create: bool) -> str:
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if create:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    admin.close()
    return f"mysql+asyncmy://root@127.0.0.1:3306/{name}"


def rabbitmq_vhost(name: str, *, create: bool) -> str:
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, check=False)
    if create:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
        )
    return f"amqp://{AMQP_HOST}/{name}"


def start_pgbouncer(workdir: Path) -> Pgbouncer:
    """A private pgbouncer (transaction pooling, 10 server connections) in front of the
    PostgreSQL of ``PG_ADMIN``, on a free port."""
    binary = pgbouncer_binary()
    if binary is None:
        raise SystemExit("pgbouncer is not installed (apt-get install pgbouncer)")
    admin = psycopg2.extensions.parse_dsn(PG_ADMIN)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return Pgbouncer(
        workdir / "pgbouncer",
        port=port,
        binary=binary,
        server_host=admin.get("host", "127.0.0.1"),
        server_port=int(admin.get("port", 5432)),
    ).start()


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def run_suite(bruno_dir: Path, port: int) -> tuple[int, int, list[str]]:
    """(requests, failed requests, failed folders) over every folder of the suite."""
    folders = sorted(p.name for p in bruno_dir.iterdir() if p.is_dir() and p.name != "environments")
    total = failed = 0
    failures: list[str] = []
    for folder in folders:
        result = subprocess.run(
            [
                *BRUNO,
                "run",
                folder,
                "--env",
                "local",
                "--env-var",
                f"host=http://127.0.0.1:{port}",
                "--sandbox",
                "safe",
            ],
            cwd=bruno_dir,
            capture_output=True,
            text=True,
            check=False,
        )
        match = SUMMARY.search(result.stdout)
        count = int(match.group(1)) if match else 0
        bad = int(m.group(1)) if match and (m := re.search(r"(\d+) Failed", match.group(2))) else 0
        total += count
        failed += bad
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"  {folder:<22} {count:>3} requests  {status}", flush=True)
        if result.returncode != 0 or count == 0:
            failures.append(folder)
            print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", flush=True)
    return total, failed, failures


def serve_and_check(backend: str, bruno_dir: Path, port: int) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix=f"conduit-conformance-{backend}-"))
    env = {**os.environ, "CONDUIT_DATA_DIR": str(workdir / "data"), "CONDUIT_LOG_LEVEL": "WARNING"}
    for name in (
        "CONDUIT_DATABASE_URL",
        "CONDUIT_DATABASE_POOLER",
        "CONDUIT_SECRET_KEY",
        "CONDUIT_REDIS_URL",
    ):
        env.pop(name, None)
    env.pop("CONDUIT_BROKER_URL", None)
    db_name = f"conduit_conformance_{os.getpid()}"
    # "services": PostgreSQL with Redis, RabbitMQ and a worker; "handler": SQLite with every
    # route run by FastAPI's own handler (CONDUIT_ROUTE_PLANS=false), the plans' reference;
    # "pgbouncer": PostgreSQL through a private pgbouncer in transaction pooling mode.
    database = {"services": "postgresql", "handler": "sqlite", "pgbouncer": "postgresql"}.get(
        backend, backend
    )
    if backend == "handler":
        env["CONDUIT_ROUTE_PLANS"] = "false"
    bouncer = None
    if database == "postgresql":
        env["CONDUIT_DATABASE_URL"] = pg_database(db_name, create=True)
    elif database == "mariadb":
        env["CONDUIT_DATABASE_URL"] = mariadb_database(db_name, create=True)
    if backend == "pgbouncer":
        bouncer = start_pgbouncer(workdir)
        env["CONDUIT_DATABASE_URL"] = bouncer.url(db_name)
        env["CONDUIT_DATABASE_POOLER"] = "pgbouncer"
    if database != "sqlite":
        env["CONDUIT_SECRET_KEY"] = secrets.token_urlsafe(48)
        try:
            subprocess.run(["conduit", "db", "upgrade"], env=env, check=True)
        except BaseException:
            if bouncer is not None:
                bouncer.stop()
            raise
    if backend == "services":
        env["CONDUIT_REDIS_URL"] = REDIS_URL
        env["CONDUIT_BROKER_URL"] = rabbitmq_vhost(db_name, create=True)
    log = (workdir / "server.log").open("wb")
    processes = [
        subprocess.Popen(
            ["conduit", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    ]
    if backend == "services":
        processes.append(
            subprocess.Popen(["conduit", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        )
    try:
        wait_ready(port, processes[0])
        if len(processes) > 1 and processes[1].poll() is not None:
            raise SystemExit(f"conduit worker exited with {processes[1].returncode}")
        print(f"{backend}: conduit serve on port {port}", flush=True)
        total, failed, failures = run_suite(bruno_dir, port)
    finally:
        for process in processes:
            stop(process)
        log.close()
        if bouncer is not None:
            bouncer.stop()
        if database == "postgresql":
            pg_database(db_name, create=False)
        elif database == "mariadb":
            mariadb_database(db_name, create=False)
        if backend == "services":
            rabbitmq_vhost(db_name, create=False)
    text = (workdir / "server.log").read_text(errors="replace")
    errors = text.count('"status": 500') + text.count("unhandled_error")
    ok = not failures and failed == 0 and total > 0 and errors == 0
    print(
        f"{backend}: {total} requests, {failed} failed, {errors} server errors -> "
        f"{'PASS' if ok else 'FAIL'}",
        flush=True,
    )
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"{backend}: server log kept in {workdir / 'server.log'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bruno-dir", type=Path, default=Path("../shared/realworld/bruno"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    args = parser.parse_args()
    bruno_dir = args.bruno_dir.resolve()
    if not (bruno_dir / "bruno.json").exists():
        print(f"No Bruno collection at {bruno_dir} (set BRUNO_DIR)", file=sys.stderr)
        return 2
    results = [serve_and_check(b.strip(), bruno_dir, args.port) for b in args.backends.split(",")]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
