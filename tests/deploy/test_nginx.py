"""deploy/nginx/conduit.conf, the proxy in front of Conduit's replicas, with Debian's nginx.

The file is rendered as compose.yaml's nginx would read it, but for this machine: the
replicas' names (api-1, api-2) become a `conduit serve` this test starts, port 80 a free
port, and the log and temporary files go to a folder of the test's. `nginx -t` must accept
it; then nginx runs it in front of the real server, and a client checks what Conduit's
users rely on: the API and its request ids pass through, a WebSocket on /api/ws is upgraded,
each client behind the proxy has its own rate-limit budget (nginx hands the address it saw
on in X-Forwarded-For; Conduit believes that header from the proxy only), and /metrics is
not served through the proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import TEST_SECRET
from tests.deploy.support import NGINX_CONF, compose_services, run, tool
from tests.live_support import _wait_for_port, free_port
from tests.processes import stop

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is not in {NGINX_CONF} any more: update this test"
    return text.replace(old, new)


def render(folder: Path, *, listen: int, upstream: int) -> Path:
    """nginx.conf for this machine around conduit.conf (as compose's nginx includes it)."""
    conf = NGINX_CONF.read_text(encoding="utf-8")
    for service in ("api-1", "api-2"):
        conf = _replace(conf, f"server {service}:8000", f"server 127.0.0.1:{upstream}")
    conf = _replace(conf, "listen 80 default_server;", f"listen 127.0.0.1:{listen} default_server;")
    conf = _replace(conf, "/var/log/nginx/access.log", str(folder / "access.log"))
    (folder / "conduit.conf").write_text(conf, encoding="utf-8")
    temp = "\n".join(
        f"  {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    main = folder / "nginx.conf"
    main.write_text(
        f"""pid {folder / "nginx.pid"};
error_log {folder / "error.log"};
events {{ worker_connections 64; }}
http {{
  access_log {folder / "default-access.log"};
{temp}
  uwsgi_temp_path {folder / "uwsgi"};
  scgi_temp_path {folder / "scgi"};
  include {folder / "conduit.conf"};
}}
""",
        encoding="utf-8",
    )
    return main


def _nginx_args(folder: Path, main: Path) -> list[str]:
    return [tool("nginx"), "-p", f"{folder}/", "-c", str(main), "-e", str(folder / "error.log")]


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    checked = run(*_nginx_args(tmp_path, render(tmp_path, listen=free_port(), upstream=8000)), "-t")
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


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """nginx with conduit.conf in front of a production `conduit serve` (SQLite), which
    believes X-Forwarded-For from nginx (loopback) only. Yields nginx's URL and its folder."""
    server, proxy = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="production",
        CONDUIT_SECRET_KEY=TEST_SECRET,
        CONDUIT_CORS_ORIGINS='["https://app.example.com"]',
        CONDUIT_TRUSTED_PROXIES='["127.0.0.1"]',
        CONDUIT_DATA_DIR=str(tmp_path),
    )
    serve = [sys.executable, "-m", "conduit.entrypoints.cli", "serve", "--port", str(server)]
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    main = render(nginx_dir, listen=proxy, upstream=server)
    nginx = [*_nginx_args(nginx_dir, main), "-g", "daemon off;"]
    with _running(serve, server, env=env, cwd=tmp_path), _running(nginx, proxy):
        yield f"http://127.0.0.1:{proxy}", nginx_dir


def test_requests_and_their_ids_pass_through_nginx(proxied: tuple[str, Path]) -> None:
    base, folder = proxied
    sent = httpx.get(f"{base}/api/tags", headers={"X-Request-ID": "from-the-client-42"})
    assert sent.status_code == 200, sent.text
    assert sent.headers["x-request-id"] == "from-the-client-42"

    made = httpx.get(f"{base}/api/tags")
    request_id = made.headers["x-request-id"]
    assert REQUEST_ID.match(request_id), request_id  # nginx's own, kept by Conduit
    # nginx writes its log line once the answer is sent: wait for it.
    access_log = folder / "access.log"
    deadline = time.monotonic() + 10
    while f"request_id={request_id}" not in access_log.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, access_log.read_text(encoding="utf-8")
        time.sleep(0.05)
    assert "request_id=from-the-client-42" in access_log.read_text(encoding="utf-8")

    assert httpx.get(f"{base}/health/ready").status_code == 200
    assert httpx.get(f"{base}/metrics").status_code == 404
    assert httpx.get(f"{base}/nginx-health").text == "ok\n"


def test_live_updates_are_upgraded_to_a_websocket(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    with connect(base.replace("http", "ws") + "/api/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        with pytest.raises(ConnectionClosed) as closed:
            _read_until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def _read_until_closed(ws: ClientConnection) -> None:
    while True:
        ws.recv(timeout=10)


def _sign_up(base: str, name: str, source: str, forwarded_for: str | None = None) -> int:
    """A sign-up from the loopback address ``source`` (any 127.x address is this machine)."""
    user = {"username": name, "email": f"{name}@conduit.test", "password": "password123"}
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as client:
        response = client.post(f"{base}/api/users", json={"user": user}, headers=headers)
    return response.status_code


def test_each_client_behind_nginx_has_its_own_rate_limit(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    # Production allows 5 sign-ups a minute per client address. Two clients, 127.0.0.2 and
    # 127.0.0.3, reach nginx (127.0.0.1, the one proxy Conduit trusts), which hands each
    # one's address on in X-Forwarded-For: each has a budget of its own.
    statuses = [_sign_up(base, f"first{n}", "127.0.0.2") for n in range(6)]
    assert statuses == [201] * 5 + [429], statuses
    # A client cannot pass for someone else: nginx appends the address it saw to the
    # header the client wrote, and Conduit reads it from the right.
    assert _sign_up(base, "spoofer", "127.0.0.2", forwarded_for="203.0.113.9") == 429
    assert _sign_up(base, "second", "127.0.0.3") == 201
