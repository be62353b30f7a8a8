"""deploy/nginx/conduit.conf rendered for this machine, and nginx run with it.

The upstream names of compose (api-1, api-2) become `conduit serve` processes on loopback
ports (as many as the test runs), ports 80 and 443 free ports, the certificate a
self-signed one made for 127.0.0.1 by ``openssl``, and the log and temporary files go to a
folder of the test's. Nothing else in the file changes: what runs is what ships.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.support import NGINX_CONF, run, tool
from tests.live_support import _wait_for_port
from tests.processes import stop

UPSTREAM_LINE = re.compile(r"^(\s*)server api-1:8000 (.*);$", re.M)


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is not in {NGINX_CONF} any more: update this test"
    return text.replace(old, new)


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    crt, key = folder / "conduit.crt", folder / "conduit.key"
    made = run(
        tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(crt),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return crt, key


@dataclass
class Proxy:
    folder: Path
    http_port: int
    https_port: int
    certificate: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.https_port}/api/ws"

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"


def render(folder: Path, *, http_port: int, https_port: int, upstreams: list[int]) -> Proxy:
    """nginx.conf for this machine around conduit.conf (as compose's nginx includes it)."""
    conf = NGINX_CONF.read_text(encoding="utf-8")
    found = UPSTREAM_LINE.search(conf)
    assert found, f"no 'server api-1:8000 ...;' line in {NGINX_CONF}: update this test"
    indent, options = found.group(1), found.group(2)
    servers = "\n".join(f"{indent}server 127.0.0.1:{port} {options};" for port in upstreams)
    conf = conf.replace(found.group(0), servers)
    conf = re.sub(r"^\s*server api-\d+:8000 .*;\n", "", conf, flags=re.M)
    conf = _replace(conf, "listen 80 default_server;", f"listen 127.0.0.1:{http_port};")
    conf = _replace(conf, "listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl;")
    crt, key = certificate(folder)
    conf = _replace(conf, "/etc/nginx/tls/conduit.crt", str(crt))
    conf = _replace(conf, "/etc/nginx/tls/conduit.key", str(key))
    conf = _replace(conf, "/var/log/nginx/access.log", str(folder / "access.log"))
    (folder / "conduit.conf").write_text(conf, encoding="utf-8")
    temp = "\n".join(
        f"  {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"""pid {folder / "nginx.pid"};
error_log {folder / "error.log"};
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
  access_log {folder / "default-access.log"};
{temp}
  include {folder / "conduit.conf"};
}}
""",
        encoding="utf-8",
    )
    return Proxy(folder, http_port, https_port, crt)


def nginx_args(proxy: Proxy) -> list[str]:
    folder = proxy.folder
    error_log = str(folder / "error.log")
    return [tool("nginx"), "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", error_log]


@contextlib.contextmanager
def running_nginx(proxy: Proxy) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground with the rendered configuration, stopped afterwards."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*nginx_args(proxy), "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for_port(proxy.https_port, process, wait=30)
            yield process
        finally:
            stop(process)
