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

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
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
    script: str = "get.lua"  # the wrk script in bench/
    timeout: float | None = None  # wrk --timeout for this endpoint (default: --timeout)
    shown_method: str = ""  # the method(s) the table shows, when not ``method``

    @property
    def write(self) -> bool:
        return self.method != "GET"

    def label(self, fixtures: dict[str, str]) -> str:
        path = urllib.parse.unquote(self.url_path(fixtures))
        who = " (signed in)" if self.signed_in else ""
        return f"{self.shown_method or self.method} {path}{who}"

    def short_label(self, fixtures: dict[str, str]) -> str:
        path = self.path.replace("{slug}", ":slug").replace("{author}", ":username")
        path = path.replace("{favorite}", ":slug")
        path = path.replace("{tag}", fixtures.get("tag", ":tag"))
        who = " (signed in)" if self.signed_in else ""
        return f"{self.shown_method or self.method} {path}{who}"

    def url_path(self, fixtures: dict[str, str]) -> str:
        quoted = {k: urllib.parse.quote(v, safe="") for k, v in fixtures.items()}
        return self.path.format(**quoted)


ENDPOINTS = [
    Endpoint("list", "GET", "/api/articles", reference=True),
    Endpoint("list_signed_in", "GET", "/api/articles", signed_in=True, reference=True),
    Endpoint("list_tag", "GET", "/api/articles?tag={tag}", reference=True),
    Endpoint("search", "GET", "/api/articles/search?q=database"),  # a word of every seed
    Endpoint("feed", "GET", "/api/articles/feed", signed_in=True, reference=True),
    Endpoint("article", "GET", "/api/articles/{slug}", reference=True),
    Endpoint("comments", "GET", "/api/articles/{slug}/comments", reference=True),
    Endpoint("profile", "GET", "/api/profiles/{author}", reference=True),
    Endpoint("tags", "GET", "/api/tags", reference=True),
    # The web app's pages (HTML, anonymous) beside the JSON they are made of: the home page is
    # the list and the tags, the article page the article and its comments.
    Endpoint("web_home", "GET", "/"),
    Endpoint("web_article", "GET", "/article/{slug}"),
    # Writes, last: every request is valid and unique, their rows are deleted afterwards.
    Endpoint("create", "POST", "/api/articles", signed_in=True, script="create_article.lua"),
    Endpoint(
        "comment", "POST", "/api/articles/{slug}/comments", signed_in=True, script="comment.lua"
    ),
    Endpoint(
        "favorite",
        "POST",
        "/api/articles/{favorite}/favorite",
        signed_in=True,
        script="favorite.lua",
        shown_method="POST+DELETE",
    ),
    # Password hashing (argon2id) makes sign-ups slow on purpose: a longer wrk timeout.
    # 64 sign-ups in flight queue for the hasher: latency ≈ 64 / throughput, seconds.
    Endpoint("register", "POST", "/api/users", script="register.lua", timeout=30),
]
ENDPOINT_KEYS = [e.key for e in ENDPOINTS]
ENDPOINTS_BY_KEY = {e.key: e for e in ENDPOINTS}


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
    secret: str = ""  # Conduit's CONDUIT_SECRET_KEY (the reference checks tokens with it)
    # Articles the reader has not favorited: the favorite endpoint's warm-up and measured
    # run each toggle one half (first POST on every one, then DELETE, and so on).
    favorite_slugs: list[str] = field(default_factory=list)
    reader_id: int = 0
    # Per server: start-up seconds (until /health/ready) and resident memory after its load.
    servers: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


console = Console(highlight=False, soft_wrap=True)


def say(message: str) -> None:
    """A log line, printed above the progress bar (which stays at the bottom)."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    console.print(f"[bench {stamp}] {message}", markup=False)


def out(text: str = "") -> None:
    """Report text (the tables), printed as is."""
    console.print(text, markup=False)


class Tracker:
    """The progress bar of a run: phase, endpoint n of N in the phase, elapsed time.

    rich draws it only on a terminal; elsewhere (a log file, CI) only the log lines show.
    """

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._phase = ""
        self._done = 0
        self._count = 0

    def start(self, total: int) -> None:
        if not console.is_terminal:
            return
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("measurements"),
            TimeElapsedColumn(),
            console=console,
        )
        self._bar.start()
        self._task = self._bar.add_task("starting", total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def phase(self, name: str, count: int) -> None:
        self._phase, self._done, self._count = name, 0, count
        self._describe(f"{name}: starting")

    def step(self, label: str) -> None:
        self._done += 1
        self._describe(f"{self._phase}: endpoint {self._done} of {self._count}, {label}")

    def advance(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def _describe(self, text: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=text)


progress = Tracker()


def shown(command: list[str]) -> str:
    """A command line for the log, with the access token shortened."""
    return " ".join(f"{part[:12]}…" if len(part) > 60 else part for part in command)
