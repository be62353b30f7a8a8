"""deploy/nginx/conduit.conf, the proxy in front of Conduit's replicas, with Debian's nginx.

The file is rendered as compose.yaml's nginx would read it, but for this machine
(tests/deploy/nginx_proxy.py): the replicas' names become upstreams this test starts,
ports 80 and 443 free ports with a self-signed certificate, and the log and temporary files
go to a folder of the test's. `nginx -t` must accept
it; then nginx runs it in front of the real server, and a client checks what Conduit's
users rely on: TLS (plain HTTP redirects), gzip, the API and its request ids and trace
context pass through, reads are retried on another instance and writes never resent, a
WebSocket on /api/ws is upgraded,
each client behind the proxy has its own rate-limit budget (nginx hands the address it saw
on in X-Forwarded-For; Conduit believes that header from the proxy only), and /metrics is
not served through the proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import TEST_SECRET
from tests.deploy.nginx_proxy import Proxy, nginx_args, render, running_nginx
from tests.deploy.support import NGINX_CONF, compose_services, run
from tests.live_support import _wait_for_port, free_port
from tests.processes import stop

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    proxy = render(tmp_path, http_port=free_port(), https_port=free_port(), upstreams=[8000])
    checked = run(*nginx_args(proxy), "-t")
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr, checked.stderr


def test_the_upstream_names_the_api_services_of_compose() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    upstream = re.search(r"upstream conduit_api \{(.*?)\}", conf, re.S)
    assert upstream, "no upstream conduit_api"
    servers = set(re.findall(r"server (\S+?):8000", upstream.group(1)))
    replicas = {name for name in compose_services() if name.startswith("api-")}
    assert servers == replicas == {"api-1", "api-2"}


@contextlib.contextmanager
def _running(
    args: list[str], port: int, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    # Its lines go to a file: a pipe read by no one would fill with request lines and stop it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            _wait_for_port(port, process, wait=60)
            yield process
        finally:
            stop(process)


class Vanishing:
    """An upstream that reads each request and closes the connection without an answer (an
    instance dying mid-request); it records the method and headers of what it read."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with client:
                client.settimeout(5)
                head = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head:
                        chunk = client.recv(65536)
                        if not chunk:
                            break
                        head += chunk
                if head:
                    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                    headers = dict(
                        (name.strip().lower(), value.strip())
                        for name, _, value in (line.partition(":") for line in lines[1:])
                    )
                    self.requests.append((lines[0].split(" ", 1)[0], headers))

    def close(self) -> None:
        self._server.close()


@contextlib.contextmanager
def _proxied(folder: Path, *others: int) -> Iterator[Proxy]:
    """nginx with conduit.conf in front of a production `conduit serve` (SQLite), which
    believes X-Forwarded-For from nginx (loopback) only, and of the ``others`` upstreams."""
    server = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="production",
        CONDUIT_SECRET_KEY=TEST_SECRET,
        CONDUIT_CORS_ORIGINS='["https://app.example.com"]',
        CONDUIT_TRUSTED_PROXIES='["127.0.0.1"]',
        CONDUIT_DATA_DIR=str(folder),
    )
    serve = [sys.executable, "-m", "conduit.entrypoints.cli", "serve", "--port", str(server)]
    nginx_dir = folder / "nginx"
    nginx_dir.mkdir()
    upstreams = [server, *others]
    proxy = render(nginx_dir, http_port=free_port(), https_port=free_port(), upstreams=upstreams)
    with _running(serve, server, env=env, cwd=folder), running_nginx(proxy):
        yield proxy


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Proxy]:
    with _proxied(tmp_path) as proxy:
        yield proxy


def _client(proxy: Proxy, **kwargs: Any) -> httpx.Client:
    return httpx.Client(verify=_trusting(proxy), timeout=30, **kwargs)


def _trusting(proxy: Proxy) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(proxy.certificate))


def test_requests_and_their_ids_pass_through_nginx(proxied: Proxy) -> None:
    with _client(proxied, base_url=proxied.url) as http:
        sent = http.get("/api/tags", headers={"X-Request-ID": "from-the-client-42"})
        assert sent.status_code == 200, sent.text
        assert sent.headers["x-request-id"] == "from-the-client-42"

        made = http.get("/api/tags")
        request_id = made.headers["x-request-id"]
        assert REQUEST_ID.match(request_id), request_id  # nginx's own, kept by Conduit
        # nginx writes its log line once the answer is sent: wait for it.
        deadline = time.monotonic() + 10
        while f"request_id={request_id}" not in proxied.access_log.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, proxied.access_log.read_text(encoding="utf-8")
            time.sleep(0.05)
        assert "request_id=from-the-client-42" in proxied.access_log.read_text(encoding="utf-8")

        assert http.get("/health/ready").status_code == 200
        assert http.get("/metrics").status_code == 404
        assert http.get("/nginx-health").text == "ok\n"


def test_plain_http_redirects_to_https_and_answers_its_health_check(proxied: Proxy) -> None:
    plain = f"http://127.0.0.1:{proxied.http_port}"
    moved = httpx.get(f"{plain}/api/tags?limit=1")
    assert moved.status_code == 308
    assert moved.headers["location"] == "https://127.0.0.1/api/tags?limit=1"
    assert httpx.get(f"{plain}/nginx-health").text == "ok\n"
    # TLS is for real: a client that does not trust the certificate is refused.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proxied.url}/api/tags")


def test_answers_are_compressed_for_clients_that_accept_it(proxied: Proxy) -> None:
    with _client(proxied, base_url=proxied.url) as http:
        # A list long enough to be worth compressing: the OpenAPI document.
        zipped = http.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert zipped.status_code == 200
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.json()["openapi"]
        plain = http.get("/openapi.json", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.json() == zipped.json()


def test_reads_are_retried_on_another_instance_and_writes_are_never_resent(
    tmp_path: Path,
) -> None:
    """Next to the real instance, one that reads each request and drops the connection
    (an instance killed mid-request): every read is answered (nginx tries the other
    instance); a write that reached the dying instance fails with 502 and is not sent
    again (the real instance never applies it)."""
    vanishing = Vanishing()
    try:
        with _proxied(tmp_path, vanishing.port) as proxy, _client(proxy) as http:
            base = proxy.url
            # Sign-ups first (production allows 5 a minute per address): round robin sends
            # every other one to the vanishing instance.
            statuses = []
            for n in range(4):
                user = {"username": f"u{n}", "email": f"u{n}@x.test", "password": "password123"}
                statuses.append(http.post(f"{base}/api/users", json={"user": user}).status_code)
            assert set(statuses) <= {201, 502}, statuses
            posts = [method for method, _ in vanishing.requests if method == "POST"]
            assert len(posts) == statuses.count(502) > 0, (statuses, vanishing.requests)
            for n, status in enumerate(statuses):  # a 502 was applied nowhere
                taken = http.get(f"{base}/api/profiles/u{n}")
                assert taken.status_code == (200 if status == 201 else 404), (n, status)
            time.sleep(6)  # fail_timeout: the vanishing instance is tried again
            trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            for _ in range(6):
                read = http.get(f"{base}/api/tags", headers={"traceparent": trace})
                assert read.status_code == 200, read.text
            gets = [headers for method, headers in vanishing.requests if method == "GET"]
            assert gets, "no read reached the vanishing instance"
            assert all(headers.get("traceparent") == trace for headers in gets)
            assert all(headers.get("x-forwarded-for") == "127.0.0.1" for headers in gets)
    finally:
        vanishing.close()


def test_live_updates_are_upgraded_to_a_websocket(proxied: Proxy) -> None:
    with connect(proxied.ws_url, open_timeout=10, ssl=_trusting(proxied)) as ws:
        ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        with pytest.raises(ConnectionClosed) as closed:
            _read_until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def _read_until_closed(ws: ClientConnection) -> None:
    while True:
        ws.recv(timeout=10)


def _sign_up(proxy: Proxy, name: str, source: str, forwarded_for: str | None = None) -> int:
    """A sign-up from the loopback address ``source`` (any 127.x address is this machine)."""
    user = {"username": name, "email": f"{name}@conduit.test", "password": "password123"}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    transport = httpx.HTTPTransport(local_address=source, verify=_trusting(proxy))
    with httpx.Client(transport=transport, timeout=30) as client:
        response = client.post(f"{proxy.url}/api/users", json={"user": user}, headers=headers)
    return response.status_code


def test_each_client_behind_nginx_has_its_own_rate_limit(proxied: Proxy) -> None:
    # Production allows 5 sign-ups a minute per client address. Two clients, 127.0.0.2 and
    # 127.0.0.3, reach nginx (127.0.0.1, the one proxy Conduit trusts), which hands each
    # one's address on in X-Forwarded-For: each has a budget of its own.
    statuses = [_sign_up(proxied, f"first{n}", "127.0.0.2") for n in range(6)]
    assert statuses == [201] * 5 + [429], statuses
    # A client cannot pass for someone else: nginx appends the address it saw to the
    # header the client wrote, and Conduit reads it from the right.
    assert _sign_up(proxied, "spoofer", "127.0.0.2", forwarded_for="203.0.113.9") == 429
    assert _sign_up(proxied, "second", "127.0.0.3") == 201
