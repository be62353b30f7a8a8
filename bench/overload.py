"""The overload run: Conduit at 64 connections and at 8x as many, admitted and shed apart.

At 64 connections (wrk's usual load) one ``conduit serve`` runs near its ceiling; at 512 it
is offered far more than it can answer in time. A server that queues answers everything
late (latency grows with the queue); one that sheds answers what it can in time and refuses
the rest at once (503 with Retry-After). wrk reports one latency for every answer, so this
run uses its own client (overload_client.py) and reports the admitted requests (2xx) apart
from the shed ones:

- ``bench_overload(run, base, keys, client_cpu, server_pid=...)`` measures each endpoint
  key (``list``, ``article`` by default) at each connection count (64 and 512), a warm-up
  then ``run.args.duration`` seconds each, the client pinned to ``client_cpu``; given the
  server's pid it also reports the server's CPU per answer and lets the server finish its
  backlog after each run (what a 512-connection run leaves must not slow the next one);
- ``table(results, fixtures)`` is the printed table, with the target: p99 of the admitted
  requests at 512 connections within 3x the p50 at 64, and no client timeout;
  ``failures(results)`` names the endpoints that miss it;
- ``as_json(results)`` is what the results file records.

By hand, against any server: ``python bench/overload.py --url http://127.0.0.1:PORT --path
/api/articles --connections 512 --duration 10``; ``--ceiling`` measures the client itself
against a trivial server. See bench/README.md, "Overload".
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import ENDPOINTS_BY_KEY, progress, say
from load import settle, tree_cpu_seconds
from overload_client import Sample, Target, generate, percentile
from report import markdown
from servers import free_port

CONNECTIONS = (64, 512)
KEYS = ("list", "article")
TARGET_RATIO = 3.0  # p99 admitted at the highest load / p50 at the lowest
TIMEOUT = 2.0  # seconds: a request slower than this is a client timeout


@dataclass(slots=True)
class OverloadResult:
    """One endpoint at one connection count; latencies in ms, rates per second."""

    connections: int
    seconds: float
    admitted: int  # 2xx answers
    shed: int  # 503 answers with Retry-After
    other: int  # every other answer (4xx, 5xx, a 503 without Retry-After)
    timeouts: int  # no answer within the client timeout (connecting included)
    errors: int  # connection refused, reset or closed under a request; unreadable answers
    admitted_p50_ms: float
    admitted_p90_ms: float
    admitted_p99_ms: float
    admitted_max_ms: float
    shed_p50_ms: float
    shed_p99_ms: float
    client_cpu: float  # the client's CPU time / the window: 1.0 is a whole core
    statuses: dict[int, int]
    workers: int = 1
    server_cpu_ms: float | None = None  # server CPU per answer, when its pid is known

    @property
    def admitted_rps(self) -> float:
        return self.admitted / self.seconds if self.seconds else 0.0

    @property
    def shed_rps(self) -> float:
        return self.shed / self.seconds if self.seconds else 0.0

    @property
    def answered(self) -> int:
        return self.admitted + self.shed + self.other

    @classmethod
    def of(cls, sample: Sample, connections: int) -> OverloadResult:
        admitted, shed = sorted(sample.admitted_ms), sorted(sample.shed_ms)
        answered = sum(sample.statuses.values())
        return cls(
            connections=connections,
            seconds=sample.seconds,
            admitted=len(admitted),
            shed=len(shed),
            other=answered - len(admitted) - len(shed),
            timeouts=sample.timeouts,
            errors=sample.errors,
            admitted_p50_ms=percentile(admitted, 0.50),
            admitted_p90_ms=percentile(admitted, 0.90),
            admitted_p99_ms=percentile(admitted, 0.99),
            admitted_max_ms=admitted[-1] if admitted else 0.0,
            shed_p50_ms=percentile(shed, 0.50),
            shed_p99_ms=percentile(shed, 0.99),
            client_cpu=sample.cpu_seconds / sample.seconds if sample.seconds else 0.0,
            statuses=dict(sorted(sample.statuses.items())),
            workers=sample.workers,
        )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name, value in data.items():
            if isinstance(value, float):
                data[name] = round(value, 3)
        data["statuses"] = {str(k): v for k, v in self.statuses.items()}
        data["admitted_rps"] = round(self.admitted_rps, 1)
        data["shed_rps"] = round(self.shed_rps, 1)
        return data

    def line(self) -> str:
        return (
            f"{self.connections} connections: admitted {self.admitted_rps:,.0f}/s "
            f"(p50 {self.admitted_p50_ms:.1f} ms, p99 {self.admitted_p99_ms:.1f} ms, "
            f"max {self.admitted_max_ms:.0f} ms), shed {self.shed_rps:,.0f}/s "
            f"(p99 {self.shed_p99_ms:.1f} ms), other {self.other}, timeouts "
            f"{self.timeouts}, errors {self.errors}, client CPU {self.client_cpu:.0%} of a core"
            + ("" if self.server_cpu_ms is None else f", server CPU {self.server_cpu_ms} ms/answer")
        )


def tail_ratio(by_connections: dict[int, OverloadResult]) -> float | None:
    """p99 of the admitted requests at the most connections / their p50 at the fewest."""
    if len(by_connections) < 2:
        return None
    low = by_connections[min(by_connections)]
    high = by_connections[max(by_connections)]
    if not low.admitted_p50_ms or not high.admitted:
        return None
    return high.admitted_p99_ms / low.admitted_p50_ms


def verdict(by_connections: dict[int, OverloadResult]) -> str:
    """Whether the target holds: the tail ratio within 3x and no client timeout."""
    ratio = tail_ratio(by_connections)
    if ratio is None:
        return "no figure"
    misses = []
    if ratio > TARGET_RATIO:
        misses.append(f"ratio over {TARGET_RATIO:g}")
    timeouts = sum(r.timeouts for r in by_connections.values())
    if timeouts:
        misses.append(f"{timeouts} timeouts")
    return "holds" if not misses else "missed (" + ", ".join(misses) + ")"


def measure(
    url: str,
    path: str,
    connections: int,
    *,
    seconds: float,
    warmup: float,
    token: str = "",
    timeout: float = TIMEOUT,
    workers: int = 1,
    client_cpus: tuple[int, ...] = (),
    server_pid: int | None = None,
    shed_pause: float = 0.0,
) -> OverloadResult:
    """One closed-loop run; with ``server_pid``, the server's CPU per answer too."""
    cpu_seconds = _server_cpu_reader(server_pid)
    before = cpu_seconds()
    sample = generate(
        Target.of(url, path, token, shed_pause),
        connections,
        seconds=seconds,
        warmup=warmup,
        timeout=timeout,
        workers=workers,
        cpus=client_cpus,
    )
    result = OverloadResult.of(sample, connections)
    if server_pid is not None and result.answered:
        # Warm-up included (the server's CPU is read around the whole run): per answer of
        # the window, scaled by the window's share of the run.
        share = seconds / (seconds + warmup)
        result.server_cpu_ms = round((cpu_seconds() - before) * share * 1000 / result.answered, 3)
    return result


def _server_cpu_reader(pid: int | None) -> Callable[[], float]:
    if pid is None:
        return lambda: 0.0
    return lambda: tree_cpu_seconds(pid)


def bench_overload(
    run: Any,
    base: str,
    keys: tuple[str, ...] = KEYS,
    client_cpu: int | None = None,
    *,
    server_pid: int | None = None,
    connections: tuple[int, ...] = CONNECTIONS,
    shed_pause: float = 0.0,
) -> dict[str, dict[int, OverloadResult]]:
    """Each endpoint key at each connection count against Conduit at ``base``: a warm-up of
    ``run.args.warmup`` s, then ``run.args.duration`` s; the client pinned to ``client_cpu``.
    With ``server_pid``, the server is left to finish its backlog between runs; with
    ``shed_pause``, a connection waits that long after a shed answer."""
    args = run.args
    results: dict[str, dict[int, OverloadResult]] = {}
    progress.phase("overload", len(keys) * len(connections))
    for key in keys:
        endpoint = ENDPOINTS_BY_KEY[key]
        path = endpoint.url_path(run.fixtures)
        token = run.token if endpoint.signed_in else ""
        results[key] = {}
        for count in connections:
            progress.step(f"{endpoint.short_label(run.fixtures)}, {count} connections")
            if server_pid is not None:  # what came before (sign-ups, the last run) done
                settle(server_pid)
            result = measure(
                base,
                path,
                count,
                seconds=args.duration,
                warmup=args.warmup,
                token=token,
                timeout=getattr(args, "timeout", TIMEOUT) or TIMEOUT,
                client_cpus=() if client_cpu is None else (client_cpu,),
                server_pid=server_pid,
                shed_pause=shed_pause,
            )
            results[key][count] = result
            say(f"  overload {endpoint.label(run.fixtures)}, {result.line()}")
            if result.client_cpu > 0.9:
                say("  warning: the client used over 90 % of its core: it may be the limit")
            progress.advance()
    return results


def table(
    results: dict[str, dict[int, OverloadResult]], fixtures: dict[str, str] | None = None
) -> str:
    """Per endpoint and connection count: admitted and shed rates, admitted latency,
    timeouts; on the last row of each endpoint, p99 at the most connections / p50 at the
    fewest against the target."""
    rows = [
        [
            "endpoint",
            "connections",
            "admitted req/s",
            "shed req/s",
            "admitted p50 ms",
            "admitted p99 ms",
            "admitted max ms",
            "shed p99 ms",
            "other",
            "timeouts",
            "errors",
            "client CPU",
            "server CPU ms/answer",
            f"p99 / p50@{min(CONNECTIONS)} (target ≤ {TARGET_RATIO:g})",
        ]
    ]
    for key, by_connections in results.items():
        base_key, _, variant = key.partition("+")  # "list+clients honour Retry-After"
        endpoint = ENDPOINTS_BY_KEY.get(base_key)
        label = endpoint.short_label(fixtures or {}) if endpoint else base_key
        label += f" ({variant})" if variant else ""
        ratio = tail_ratio(by_connections)
        for count in sorted(by_connections):
            r = by_connections[count]
            last = count == max(by_connections)
            rows.append(
                [
                    label,
                    str(count),
                    f"{r.admitted_rps:,.0f}",
                    f"{r.shed_rps:,.0f}",
                    f"{r.admitted_p50_ms:.1f}",
                    f"{r.admitted_p99_ms:.1f}",
                    f"{r.admitted_max_ms:.0f}",
                    f"{r.shed_p99_ms:.1f}" if r.shed else "",
                    str(r.other),
                    str(r.timeouts),
                    str(r.errors),
                    f"{r.client_cpu:.0%}",
                    "" if r.server_cpu_ms is None else f"{r.server_cpu_ms:.2f}",
                    f"{ratio:.1f} {verdict(by_connections)}" if last and ratio else "",
                ]
            )
    lines = markdown(rows)
    lines.append(
        f"Overload: a closed-loop client (bench/overload_client.py), {TIMEOUT:g} s timeout; "
        "admitted = 2xx, shed = 503 with Retry-After. The target holds when the admitted "
        f"p99 at {max(CONNECTIONS)} connections is within {TARGET_RATIO:g}x the p50 at "
        f"{min(CONNECTIONS)} and no request timed out. Server CPU: the server's CPU time "
        "over the run (requests abandoned at a timeout included) per answer in the window."
    )
    return "\n".join(lines)


def failures(results: dict[str, dict[int, OverloadResult]]) -> list[str]:
    """One line per endpoint where the target does not hold (for the run's exit status)."""
    return [
        f"overload {key}: {verdict(by_connections)}"
        for key, by_connections in results.items()
        if verdict(by_connections) != "holds"
    ]


def as_json(results: dict[str, dict[int, OverloadResult]]) -> dict[str, Any]:
    """The results file's "overload" section: per key, per connection count, and the ratio."""
    data: dict[str, Any] = {}
    for key, by_connections in results.items():
        ratio = tail_ratio(by_connections)
        data[key] = {
            "runs": {str(n): r.as_json() for n, r in sorted(by_connections.items())},
            "p99_over_p50": None if ratio is None else round(ratio, 2),
            "target": TARGET_RATIO,
            "verdict": verdict(by_connections),
        }
    return data


# --------------------------------------------------------------------------- by hand


def ceiling(args: argparse.Namespace) -> int:
    """The client against trivial_server.py (core ``--server-cpu``): what
    one client process can drive, and its CPU per request."""
    port = free_port()
    here = Path(__file__).resolve().parent
    script = str(here / "trivial_server.py")
    command = ["taskset", "-c", str(args.server_cpu), sys.executable, script, str(port)]
    server = subprocess.Popen([*command, str(args.body)])
    try:
        time.sleep(1.0)
        for count in args.connections:
            result = measure(
                f"http://127.0.0.1:{port}",
                "/",
                count,
                seconds=args.duration,
                warmup=args.warmup,
                workers=args.workers,
                client_cpus=(args.client_cpu,),
            )
            answered = max(result.answered, 1)
            per_request = result.client_cpu * result.seconds / answered * 1e6
            print(
                f"trivial server, {args.body} B bodies, {result.line()}; client CPU "
                f"{per_request:.1f} µs per request: one core drives ~{1e6 / per_request:,.0f}/s"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--path", default="/api/articles", help="the GET path (/api/articles)")
    parser.add_argument(
        "--connections", type=int, nargs="+", default=list(CONNECTIONS), help="(64 512)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="request timeout, s (2)")
    parser.add_argument("--token", default="", help="sent as Authorization: Token …")
    parser.add_argument("--workers", type=int, default=1, help="client processes (1)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core of the client (1)")
    parser.add_argument("--server-pid", type=int, help="the server's pid: its CPU per answer")
    parser.add_argument(
        "--shed-pause",
        type=float,
        default=0.0,
        help="seconds a connection waits after a shed answer (0: resend at once)",
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="measure the client against a trivial server"
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="trivial server's core (0)")
    parser.add_argument("--body", type=int, default=1500, help="trivial answer's bytes (1500)")
    args = parser.parse_args(argv)
    if args.ceiling:
        return ceiling(args)
    if not args.url:
        parser.error("--url is required (or --ceiling)")
    results: dict[int, OverloadResult] = {}
    for count in args.connections:
        results[count] = measure(
            args.url,
            args.path,
            count,
            seconds=args.duration,
            warmup=args.warmup,
            token=args.token,
            timeout=args.timeout,
            workers=args.workers,
            client_cpus=(args.client_cpu,),
            server_pid=args.server_pid,
            shed_pause=args.shed_pause,
        )
        print(f"GET {args.path}, {results[count].line()}", flush=True)
    ratio = tail_ratio(results)
    if ratio is not None:
        print(
            f"p99 admitted @{max(results)} / p50 @{min(results)}: {ratio:.1f} "
            f"(target ≤ {TARGET_RATIO:g}): {verdict(results)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
