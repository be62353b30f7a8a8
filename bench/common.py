"""What every part of the bench shares: settings, the endpoints, results, the log."""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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


def say(message: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", flush=True)


def shown(command: list[str]) -> str:
    """A command line for the log, with the access token shortened."""
    return " ".join(f"{part[:12]}…" if len(part) > 60 else part for part in command)
