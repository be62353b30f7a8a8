"""Benchmark Conduit on PostgreSQL with wrk, the way PERFORMANCE.md measured its peers.

``make bench`` runs this file. In order it:

1. installs wrk with apt-get when it is missing;
2. drops and recreates the database ``conduit_bench``, migrates it (``conduit db upgrade``),
   seeds it (``conduit seed``), makes user1 follow about 40 authors, then VACUUM ANALYZE;
3. starts ``conduit serve`` (one worker) pinned to core 0 and signs in as user1;
4. runs wrk pinned to core 1 (64 connections, a warm-up, then --duration seconds) on each
   endpoint, POST /api/articles last, and deletes the articles that POST created;
5. stops Conduit, starts bench/reference_server.py (the hand-written ceiling) the same way
   and measures its three endpoints (skip with --no-reference);
6. prints a table and writes bench/results/<timestamp>.json.

Every process it starts is stopped on the way out, on errors and Ctrl-C too. The exit status
is non-zero when a server does not start or when any endpoint has socket errors or non-2xx
answers. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
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
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import cached  # bench/cached.py: the run with Redis

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
GET_LUA = BENCH_DIR / "get.lua"
CREATE_LUA = BENCH_DIR / "create_article.lua"
VENV_BIN = Path(sys.executable).parent

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "conduit_bench"
READER = "user1"
READER_EMAIL = "user1@conduit.example"
PASSWORD = "password123"  # the password `conduit seed` gives every demo user
FOLLOWED_AUTHORS = 40

FULL_SIZES = {
    "users": 1000,
    "articles": 10000,
    "tags": 50,
    "favorites": 50000,
    "follows": 20000,
    "comments": 30000,
}
QUICK_SIZES = {
    "users": 200,
    "articles": 2000,
    "tags": 50,
    "favorites": 8000,
    "follows": 3000,
    "comments": 6000,
}

# Half of the hand-written ceiling of PERFORMANCE.md: Conduit's target, for information.
BAR = {
    "list": 340,
    "list_signed_in": 270,
    "list_tag": 438,
    "feed": 400,
    "article": 1750,
    "comments": 872,
    "profile": 2170,
    "tags": 2325,
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str
    method: str
    path: str  # formatted with the fixtures: {slug}, {tag}, {author}
    signed_in: bool = False
    reference: bool = False  # the reference server has it too

    def label(self, fixtures: dict[str, str]) -> str:
        path = urllib.parse.unquote(self.url_path(fixtures))
        who = " (signed in)" if self.signed_in else ""
        return f"{self.method} {path}{who}"

    def short_label(self, fixtures: dict[str, str]) -> str:
        path = self.path.replace("{slug}", ":slug").replace("{author}", ":username")
        path = path.replace("{tag}", fixtures.get("tag", ":tag"))
        who = " (signed in)" if self.signed_in else ""
        return f"{self.method} {path}{who}"

    def url_path(self, fixtures: dict[str, str]) -> str:
        quoted = {k: urllib.parse.quote(v, safe="") for k, v in fixtures.items()}
        return self.path.format(**quoted)


ENDPOINTS = [
    Endpoint("list", "GET", "/api/articles", reference=True),
    Endpoint("list_signed_in", "GET", "/api/articles", signed_in=True),
    Endpoint("list_tag", "GET", "/api/articles?tag={tag}"),
    Endpoint("search", "GET", "/api/articles/search?q=database"),  # a word of every seed
    Endpoint("feed", "GET", "/api/articles/feed", signed_in=True),
    Endpoint("article", "GET", "/api/articles/{slug}", reference=True),
    Endpoint("comments", "GET", "/api/articles/{slug}/comments"),
    Endpoint("profile", "GET", "/api/profiles/{author}"),
    Endpoint("tags", "GET", "/api/tags", reference=True),
    Endpoint("create", "POST", "/api/articles", signed_in=True),
]
ENDPOINT_KEYS = [e.key for e in ENDPOINTS]


class BenchError(RuntimeError):
    """The run cannot go on; the message says why."""


@dataclass(slots=True)
class Result:
    requests: int
    duration_us: int
    bytes: int
    errors: dict[str, int]
    latency_us: dict[str, float]
    # CPU time per request of the server process and of its PostgreSQL backends, in ms:
    # unlike requests/s, barely moved by other work on the machine.
    server_cpu_ms: float | None = None
    db_cpu_ms: float | None = None
    # PostgreSQL sessions the server opened during the run (a steady pool opens none).
    db_connections_opened: int | None = None

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def non_2xx(self) -> int:
        return self.errors.get("status", 0)

    @property
    def socket_errors(self) -> int:
        return sum(self.errors.get(k, 0) for k in ("connect", "read", "write", "timeout"))

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["requests_per_second"] = round(self.rps, 1)
        data["non_2xx"] = self.non_2xx
        data["socket_errors"] = self.socket_errors
        return data


@dataclass(slots=True)
class Run:
    """Everything the run started or learned; the finally block cleans it up."""

    args: argparse.Namespace
    workdir: Path
    sizes: dict[str, int]
    admin_url: str
    database_url: str  # postgresql://... for asyncpg
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    fixtures: dict[str, str] = field(default_factory=dict)
    token: str = ""
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- output


def say(message: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", flush=True)


def shown(command: list[str]) -> str:
    """A command line for the log, with the access token shortened."""
    return " ".join(f"{part[:12]}…" if len(part) > 60 else part for part in command)


# --------------------------------------------------------------------------- tools


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is not installed: running apt-get install -y wrk")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in ([*prefix, "apt-get", "update"], [*prefix, "apt-get", "install", "-y", "wrk"]):
        say("$ " + " ".join(command))
        if subprocess.run(command, check=False).returncode != 0 and "install" in command:
            raise BenchError("apt-get install -y wrk failed: install wrk and run again")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is still missing after apt-get install")
    return found


def pinning(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """taskset prefixes for the server and for wrk (none on a single-core machine)."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        say("warning: taskset missing or a single core: server and wrk are not pinned")
        return [], []
    return (["taskset", "-c", str(args.server_cpu)], ["taskset", "-c", str(args.wrk_cpu)])


def conduit_command(*args: str) -> list[str]:
    script = VENV_BIN / "conduit"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "conduit.entrypoints.cli", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- database


def database_urls(admin_url: str, name: str) -> tuple[str, str]:
    """(asyncpg URL, SQLAlchemy URL) of database ``name`` on the admin URL's server."""
    parts = urllib.parse.urlsplit(admin_url)
    plain = urllib.parse.urlunsplit(("postgresql", parts.netloc, f"/{name}", parts.query, ""))
    return plain, plain.replace("postgresql://", "postgresql+asyncpg://", 1)


def check_database_name(name: str) -> None:
    # The run drops this database: refuse anything that does not look like a bench database.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or "bench" not in name:
        raise BenchError(f"refusing database name {name!r}: use [a-z0-9_] with 'bench' in it")


async def recreate_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def database_exists(admin_url: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def prepare_data(url: str, target_follows: int) -> dict[str, Any]:
    """Make the reader follow ``target_follows`` authors, pick the fixtures, VACUUM ANALYZE."""
    conn = await asyncpg.connect(url)
    try:
        reader_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", READER)
        if reader_id is None:
            raise BenchError(f"{READER} is missing: was the database seeded?")
        before = await conn.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1", reader_id
        )
        if before < target_follows:
            # The most prolific authors the reader does not follow yet: a full feed.
            await conn.execute(
                """
                INSERT INTO follows (follower_id, followee_id, created_at)
                SELECT $1, author_id, now() AT TIME ZONE 'utc'
                FROM articles
                WHERE author_id <> $1
                  AND author_id NOT IN (SELECT followee_id FROM follows WHERE follower_id = $1)
                GROUP BY author_id
                ORDER BY count(*) DESC, author_id
                LIMIT $2
                ON CONFLICT DO NOTHING
                """,
                reader_id,
                target_follows - before,
            )
        following = await conn.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1", reader_id
        )
        feed_size = await conn.fetchval(
            """
            SELECT count(*) FROM articles
            WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)
            """,
            reader_id,
        )
        # A typical article: among the newest, with tags and a few comments.
        row = await conn.fetchrow(
            """
            SELECT a.slug, u.username,
                   (SELECT count(*) FROM comments c WHERE c.article_id = a.id) AS comments
            FROM articles a JOIN users u ON u.id = a.author_id
            WHERE EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id)
              AND (SELECT count(*) FROM comments c WHERE c.article_id = a.id) >= 3
            ORDER BY a.id DESC
            LIMIT 1
            """
        )
        if row is None:
            row = await conn.fetchrow(
                """
                SELECT a.slug, u.username,
                       (SELECT count(*) FROM comments c WHERE c.article_id = a.id) AS comments
                FROM articles a JOIN users u ON u.id = a.author_id
                ORDER BY a.id DESC LIMIT 1
                """
            )
        if row is None:
            raise BenchError("the database has no article: was it seeded?")
        tag = await conn.fetchval(
            """
            SELECT t.name FROM tags t JOIN article_tags a ON a.tag_id = t.id
            GROUP BY t.id, t.name ORDER BY count(*) DESC, t.name LIMIT 1
            """
        )
        if tag is None:
            raise BenchError("the database has no tag in use: seed with --tags > 0")
        tables = ("users", "articles", "tags", "article_tags", "favorites", "follows", "comments")
        counts = {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {
        "reader": READER,
        "reader_follows": following,
        "reader_follows_added": following - before,
        "feed_articles": feed_size,
        "slug": row["slug"],
        "slug_comments": row["comments"],
        "author": row["username"],
        "tag": tag,
        "rows": counts,
    }


async def delete_bench_articles(url: str, run_id: str) -> int:
    """Delete the articles POST /api/articles created in this run (titles 'Bench <run id> …')."""
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute("DELETE FROM articles WHERE title LIKE $1", f"Bench {run_id}%")
        await conn.execute("VACUUM ANALYZE articles")
        await conn.execute("VACUUM ANALYZE article_tags")
        await conn.execute("VACUUM ANALYZE tags")
    finally:
        await conn.close()
    return int(status.split()[-1])


# --------------------------------------------------------------------------- processes


def start_process(
    run: Run, name: str, command: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log_path = run.workdir / f"{name}.log"
    say(f"starting {name}: {shown(command)}  (log: {log_path})")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches run.py only; it stops the server itself
        )
    run.processes.append(process)
    return process


def stop_process(run: Run, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process in run.processes:
        run.processes.remove(process)


def log_tail(run: Run, name: str, lines: int = 30) -> str:
    path = run.workdir / f"{name}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def http(
    base: str, method: str, path: str, *, token: str = "", body: Any = None
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Token {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text.decode(errors="replace")


def wait_ready(run: Run, name: str, process: subprocess.Popen[bytes], base: str) -> float:
    started = time.monotonic()
    deadline = started + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"{name} exited with status {process.returncode}:\n{log_tail(run, name)}"
            )
        with contextlib.suppress(OSError):
            status, _ = http(base, "GET", "/health/ready")
            if status == 200:
                return time.monotonic() - started
        time.sleep(0.2)
    raise BenchError(f"{name} was not ready after 60 s:\n{log_tail(run, name)}")


# --------------------------------------------------------------------------- wrk


def wrk_command(
    run: Run, wrk_prefix: list[str], base: str, endpoint: Endpoint, seconds: float, run_id: str
) -> list[str]:
    args = run.args
    url = base + endpoint.url_path(run.fixtures)
    token = run.token if endpoint.signed_in else "-"
    command = [
        *wrk_prefix,
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={args.timeout}s",
        "--latency",
    ]
    if endpoint.method == "POST":
        return [*command, "-s", str(CREATE_LUA), url, "--", token, run_id, run.fixtures["tag"]]
    return [*command, "-s", str(GET_LUA), url, "--", token]


def run_wrk(command: list[str], seconds: float) -> Result:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return Result(**json.loads(line.removeprefix("BENCH_RESULT ")))
    raise BenchError(
        f"wrk gave no result (status {completed.returncode}):\n"
        f"{completed.stdout}\n{completed.stderr}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 when it is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return 0.0


async def _database_state(url: str) -> tuple[dict[int, float], int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND backend_type = 'client backend'
            """
        )
        sessions = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return {row["pid"]: cpu_seconds(row["pid"]) for row in rows}, int(sessions or 0)


def database_state(run: Run) -> tuple[dict[int, float], int]:
    """CPU seconds of each PostgreSQL backend of the bench database, and sessions opened."""
    try:
        return asyncio.run(_database_state(run.database_url))
    except (OSError, asyncpg.PostgresError):
        return {}, 0


def measure(
    run: Run, wrk_prefix: list[str], base: str, endpoint: Endpoint, run_id: str, server_pid: int
) -> Result:
    args = run.args
    label = endpoint.label(run.fixtures)
    if args.warmup > 0:
        warmup = wrk_command(run, wrk_prefix, base, endpoint, args.warmup, run_id + "w")
        run_wrk(warmup, args.warmup)
    command = wrk_command(run, wrk_prefix, base, endpoint, args.duration, run_id)
    say(f"  {label}: $ {shown(command)}")
    db_before, sessions_before = database_state(run)
    server_before = cpu_seconds(server_pid)
    result = run_wrk(command, args.duration)
    server_used = cpu_seconds(server_pid) - server_before
    db_after, sessions_after = database_state(run)
    # Backends opened during the run count whole; those closed during it are missed.
    db_used = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
    result.db_connections_opened = max(0, sessions_after - sessions_before - 1)
    if result.requests:
        result.server_cpu_ms = round(server_used * 1000 / result.requests, 3)
        result.db_cpu_ms = round(max(db_used, 0.0) * 1000 / result.requests, 3)
    say(
        f"  {label}: {result.rps:,.0f} req/s, p50 {result.latency_us['p50'] / 1000:.1f} ms, "
        f"p99 {result.latency_us['p99'] / 1000:.1f} ms, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}, CPU per request: server "
        f"{result.server_cpu_ms or 0:.2f} ms, PostgreSQL {result.db_cpu_ms or 0:.2f} ms; "
        f"PostgreSQL connections opened {result.db_connections_opened}"
    )
    return result


def check_endpoints(run: Run, base: str, endpoints: list[Endpoint], run_id: str) -> None:
    """One request per endpoint before wrk: a broken endpoint fails here, clearly."""
    for endpoint in endpoints:
        body = None
        if endpoint.method == "POST":
            body = {
                "article": {
                    "title": f"Bench {run_id} check",
                    "description": "Written by bench/run.py",
                    "body": "Checked once before wrk.",
                    "tagList": [run.fixtures["tag"]],
                }
            }
        token = run.token if endpoint.signed_in else ""
        status, answer = http(
            base, endpoint.method, endpoint.url_path(run.fixtures), token=token, body=body
        )
        if not 200 <= status < 300:
            raise BenchError(f"{endpoint.label(run.fixtures)} answered {status}: {answer}")


# --------------------------------------------------------------------------- phases


def conduit_env(run: Run, secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CONDUIT_DATABASE_URL=database_urls(run.admin_url, run.args.database)[1],
        CONDUIT_SECRET_KEY=secret,
        CONDUIT_LOG_LEVEL="WARNING",
        # The bench measures the API: thousands of requests a second from one address.
        CONDUIT_RATE_LIMITS_ENABLED="false",
    )
    return env


def prepare_database(run: Run, env: dict[str, str]) -> dict[str, Any]:
    args = run.args
    reuse = args.reuse_db and asyncio.run(database_exists(run.admin_url, args.database))
    if reuse:
        say(f"reusing database {args.database} (--reuse-db): no drop, no seed")
    else:
        say(f"dropping and creating database {args.database}")
        asyncio.run(recreate_database(run.admin_url, args.database))
    commands = [conduit_command("db", "upgrade")]
    if not reuse:
        commands.append(
            conduit_command("seed", *(f"--{name}={value}" for name, value in run.sizes.items()))
        )
    for command in commands:
        say("$ " + shown(command))
        started = time.monotonic()
        completed = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise BenchError(f"{shown(command)} failed:\n{completed.stderr}")
        output = completed.stdout.strip().splitlines()
        say(f"  done in {time.monotonic() - started:.1f} s: {output[-1] if output else ''}")
    data = asyncio.run(prepare_data(run.database_url, FOLLOWED_AUTHORS))
    say(
        f"{READER} follows {data['reader_follows']} authors "
        f"({data['reader_follows_added']} added; {data['feed_articles']} articles in the feed); "
        f"slug {data['slug']} ({data['slug_comments']} comments), tag {data['tag']!r}, "
        f"author {data['author']}"
    )
    return data


def bench_conduit(
    run: Run, env: dict[str, str], server_prefix: list[str], wrk_prefix: list[str], run_id: str
) -> tuple[dict[str, Result], dict[str, Any]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [*server_prefix, *conduit_command("serve", "--host", "127.0.0.1", f"--port={port}")]
    process = start_process(run, "conduit", command, env)
    results: dict[str, Result] = {}
    samples: dict[str, Any] = {}
    try:
        say(f"conduit ready in {wait_ready(run, 'conduit', process, base):.1f} s")
        status, answer = http(
            base,
            "POST",
            "/api/users/login",
            body={"user": {"email": READER_EMAIL, "password": PASSWORD}},
        )
        if status != 200:
            raise BenchError(f"login as {READER} answered {status}: {answer}")
        run.token = answer["user"]["token"]
        # Anonymous answers the reference server must reproduce (compared later), taken
        # before anything is written.
        for endpoint in ENDPOINTS:
            if endpoint.reference:
                samples[endpoint.key] = http(base, "GET", endpoint.url_path(run.fixtures))[1]
        endpoints = [e for e in ENDPOINTS if e.key in run.args.only]
        check_endpoints(run, base, endpoints, run_id)
        say(
            f"benchmarking conduit: {len(endpoints)} endpoints, {run.args.warmup:g} s warm-up "
            f"+ {run.args.duration:g} s each, {run.args.connections} connections"
        )
        for endpoint in endpoints:
            results[endpoint.key] = measure(run, wrk_prefix, base, endpoint, run_id, process.pid)
            if process.poll() is not None:
                raise BenchError(f"conduit died during {endpoint.key}:\n{log_tail(run, 'conduit')}")
    finally:
        stop_process(run, process)
        say("conduit stopped")
    logged = [
        line for line in log_tail(run, "conduit", 200).splitlines() if "Conduit on http" not in line
    ]
    if logged:
        say(f"conduit logged {len(logged)} lines (warnings and errors); the last ones:")
        print("\n".join(logged[-10:]), flush=True)
    return results, samples


def first_difference(expected: Any, actual: Any, where: str = "") -> str:
    """Where two JSON documents first differ ("" when they are equal)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            if key not in expected or key not in actual:
                return f"{where}.{key} only in {'reference' if key in actual else 'conduit'}"
            found = first_difference(expected[key], actual[key], f"{where}.{key}")
            if found:
                return found
        return ""
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{where}: {len(expected)} items in conduit, {len(actual)} in reference"
        for n, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(left, right, f"{where}[{n}]")
            if found:
                return found
        return ""
    if expected != actual:
        return f"{where or 'body'}: conduit {expected!r:.60}, reference {actual!r:.60}"
    return ""


def bench_reference(
    run: Run, server_prefix: list[str], wrk_prefix: list[str], samples: dict[str, Any]
) -> tuple[dict[str, Result], list[str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["BENCH_DATABASE_URL"] = run.database_url
    command = [
        *server_prefix,
        str(VENV_BIN / "uvicorn") if (VENV_BIN / "uvicorn").exists() else "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "reference_server:app",
        "--host",
        "127.0.0.1",
        f"--port={port}",
        "--loop=uvloop",
        "--http=httptools",
        "--no-access-log",
        "--log-level=warning",
    ]
    process = start_process(run, "reference", command, env)
    results: dict[str, Result] = {}
    mismatches: list[str] = []
    try:
        say(f"reference ready in {wait_ready(run, 'reference', process, base):.1f} s")
        endpoints = [e for e in ENDPOINTS if e.reference and e.key in run.args.only]
        for endpoint in endpoints:
            status, answer = http(base, "GET", endpoint.url_path(run.fixtures))
            if status != 200:
                raise BenchError(f"reference {endpoint.key} answered {status}: {answer}")
            difference = first_difference(samples.get(endpoint.key), answer)
            if difference:
                mismatches.append(f"{endpoint.key}: {difference}")
                say(f"warning: reference {endpoint.key} differs from conduit: {difference}")
        say(f"benchmarking the reference server: {len(endpoints)} endpoints")
        for endpoint in endpoints:
            results[endpoint.key] = measure(run, wrk_prefix, base, endpoint, "ref", process.pid)
    finally:
        stop_process(run, process)
        say("reference stopped")
    return results, mismatches


# --------------------------------------------------------------------------- report


def _ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f}"


def _cpu(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def table(run: Run, conduit: dict[str, Result], reference: dict[str, Result]) -> str:
    header = [
        "endpoint",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "socket errors",
        "CPU ms/req ¹",
        "PG ms/req ¹",
        "reference req/s",
        "conduit/ref",
        "bar ²",
    ]
    rows = [header]
    for endpoint in ENDPOINTS:
        result = conduit.get(endpoint.key)
        if result is None:
            continue
        ref = reference.get(endpoint.key)
        bar = BAR.get(endpoint.key)
        rows.append(
            [
                endpoint.short_label(run.fixtures),
                f"{result.rps:,.0f}",
                _ms(result.latency_us["p50"]),
                _ms(result.latency_us["p99"]),
                str(result.non_2xx),
                str(result.socket_errors),
                _cpu(result.server_cpu_ms),
                _cpu(result.db_cpu_ms),
                f"{ref.rps:,.0f}" if ref else "",
                f"{result.rps / ref.rps:.2f}" if ref and ref.rps else "",
                "" if bar is None else f"{bar:,} {'ok' if result.rps >= bar else 'below'}",
            ]
        )
    for key, ref in reference.items():
        endpoint = next(e for e in ENDPOINTS if e.key == key)
        rows.append(
            [
                f"{endpoint.short_label(run.fixtures)} [reference]",
                f"{ref.rps:,.0f}",
                _ms(ref.latency_us["p50"]),
                _ms(ref.latency_us["p99"]),
                str(ref.non_2xx),
                str(ref.socket_errors),
                _cpu(ref.server_cpu_ms),
                _cpu(ref.db_cpu_ms),
                "",
                "",
                "",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            rules = ["-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)]
            lines.append("|" + "|".join(rules) + "|")
    fixtures = run.fixtures
    lines += [
        "",
        f":slug = {fixtures['slug']}, :username = {fixtures['author']}; signed in as {READER}.",
        "¹ CPU time per request of the server process and of its PostgreSQL backends "
        "(steadier than requests/s on a busy machine).",
        "² half the hand-written ceiling of /work/shared/PERFORMANCE.md (Conduit's target), "
        "for information.",
    ]
    return "\n".join(lines)


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "load_average_end": [round(n, 2) for n in os.getloadavg()],
    }


# --------------------------------------------------------------------------- main


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
        "--no-cached", action="store_true", help="skip the cached run (Conduit with Redis)"
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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    sizes = {
        name: getattr(args, name)
        if getattr(args, name) is not None
        else (QUICK_SIZES if args.quick else FULL_SIZES)[name]
        for name in FULL_SIZES
    }
    # SIGTERM takes the same way out as Ctrl-C: through every finally block.
    signal.signal(signal.SIGTERM, _interrupt)
    run_id = secrets.token_hex(4)
    try:
        check_database_name(args.database)
        ensure_wrk()
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    with tempfile.TemporaryDirectory(prefix="conduit-bench-") as workdir:
        run = Run(
            args=args,
            workdir=Path(workdir),
            sizes=sizes,
            admin_url=args.admin_url,
            database_url=database_urls(args.admin_url, args.database)[0],
        )
        try:
            return execute(run, run_id, started, started_at)
        except BenchError as exc:
            say(f"error: {exc}")
            return 2
        except KeyboardInterrupt:
            say("interrupted")
            return 130
        finally:
            for process in list(run.processes):
                with contextlib.suppress(Exception):
                    stop_process(run, process)


def execute(run: Run, run_id: str, started: float, started_at: dt.datetime) -> int:
    args = run.args
    server_prefix, wrk_prefix = pinning(args)
    env = conduit_env(run, secrets.token_urlsafe(36))  # 48 characters
    say(
        f"run {run_id}: database {args.database}, sizes {run.sizes}, "
        f"{'quick' if args.quick else 'full'} mode"
    )
    load = os.getloadavg()[0]
    if load > 0.5:
        say(f"warning: load average {load:.2f} before the run: other work skews the figures")
    data = prepare_database(run, env)
    run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}

    conduit, samples = bench_conduit(run, env, server_prefix, wrk_prefix, run_id)
    deleted = asyncio.run(delete_bench_articles(run.database_url, run_id))
    say(f"deleted the {deleted} articles POST /api/articles created")

    cached_results: dict[str, Result] = {}
    if not args.no_cached:
        driver = sys.modules[__name__]
        cached_results = cached.bench_cached(
            driver, run, env, server_prefix, wrk_prefix, run_id, samples
        )

    reference: dict[str, Result] = {}
    mismatches: list[str] = []
    if not args.no_reference and any(e.reference and e.key in args.only for e in ENDPOINTS):
        reference, mismatches = bench_reference(run, server_prefix, wrk_prefix, samples)

    runtime = time.monotonic() - started
    print()
    print(table(run, conduit, reference))
    print()
    if cached_results:
        print(cached.table(sys.modules[__name__], run, conduit, cached_results, reference))
        print()
    failures = [
        f"{server} {key}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors"
        for server, results in (
            ("conduit", conduit),
            ("conduit with Redis", cached_results),
            ("reference", reference),
        )
        for key, result in results.items()
        if result.non_2xx or result.socket_errors
    ]
    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "runtime_seconds": round(runtime, 1),
        "run_id": run_id,
        "git": git_state(),
        "machine": {**machine(), "load_average_start": round(load, 2)},
        "settings": {
            "quick": args.quick,
            "duration_seconds": args.duration,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "wrk_threads": 1,
            "timeout_seconds": args.timeout,
            "server_cpu": args.server_cpu if server_prefix else None,
            "wrk_cpu": args.wrk_cpu if wrk_prefix else None,
            "database": args.database,
            "seed": run.sizes,
        },
        "data": data,
        "endpoints": {e.key: e.label(run.fixtures) for e in ENDPOINTS},
        "conduit": {key: result.as_json() for key, result in conduit.items()},
        "cached": {key: result.as_json() for key, result in cached_results.items()},
        "reference": {key: result.as_json() for key, result in reference.items()},
        "ratios": {
            key: round(conduit[key].rps / ref.rps, 3)
            for key, ref in reference.items()
            if key in conduit and ref.rps
        },
        "cached_ratios": {
            key: round(result.rps / reference[key].rps, 3)
            for key, result in cached_results.items()
            if key in reference and reference[key].rps
        },
        "reference_mismatches": mismatches,
        "failures": failures,
    }
    output = args.output or RESULTS_DIR / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {output}")
    say(f"total runtime {runtime:.0f} s")
    if failures:
        say("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
