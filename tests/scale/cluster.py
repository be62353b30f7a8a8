"""A Conduit fleet of the test's own: nginx (deploy/nginx/conduit.conf, TLS) over several
`conduit serve` instances and one `conduit worker`, sharing a fresh PostgreSQL database on
the machine's server, a private Redis and a private RabbitMQ vhost. Everything listens on
free ports and is stopped (the database dropped, the vhost deleted) even when the test fails.
"""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Backend, _unreachable
from tests.deploy.nginx_proxy import Proxy, render, running_nginx
from tests.faults.support import ConduitServer
from tests.integration.messaging import own_vhost
from tests.ports import free_port
from tests.processes import stop
from tests.redis_server import PrivateRedis


@dataclass
class Fleet:
    proxy: Proxy
    instances: list[ConduitServer]
    database_url: str
    folder: Path

    @property
    def trust(self) -> ssl.SSLContext:
        """What a client needs to trust nginx's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.proxy.certificate))

    def kill(self, index: int) -> None:
        """SIGKILL one instance: no goodbye to its clients, its sockets, its transactions."""
        process = self.instances[index].process
        assert process is not None
        process.kill()
        process.wait(10)

    def restart(self, index: int, attempt: int) -> None:
        """Start the instance again on the same port (its log goes to a new file)."""
        instance = self.instances[index]
        instance.log_path = self.folder / f"instance-{index}.{attempt}.log"
        instance.start(timeout=120)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )


@contextlib.contextmanager
def fleet(folder: Path, *, instances: int) -> Iterator[Fleet]:
    backend = Backend("postgresql", folder)
    try:
        database_url = backend.create()
    except Exception as exc:
        _unreachable("postgresql", exc)
    redis = PrivateRedis(folder)
    with contextlib.ExitStack() as stack:
        stack.callback(backend.drop)
        redis.start()
        stack.callback(redis.stop)
        broker_url = stack.enter_context(own_vhost("conduit_fleet"))
        settings = {
            "CONDUIT_REDIS_URL": redis.url,
            "CONDUIT_BROKER_URL": broker_url,
            "CONDUIT_AUTO_MIGRATE": "false",
            # nginx on loopback is the one proxy whose X-Forwarded-For is believed.
            "CONDUIT_TRUSTED_PROXIES": '["127.0.0.1"]',
            # 64 clients behind one address: the per-address limits would throttle the test.
            "CONDUIT_RATE_LIMITS_ENABLED": "false",
            "CONDUIT_LOG_LEVEL": "WARNING",
            # Three instances and a worker share the machine's PostgreSQL (100 connections,
            # other tests' too): 40 each, the default, ran it out of connections.
            "CONDUIT_DB_POOL_SIZE": "12",
        }
        servers = []
        for index in range(instances):
            own = folder / f"instance-{index}"
            own.mkdir()
            server = ConduitServer(database_url, own, **settings)
            server.log_path = folder / f"instance-{index}.0.log"
            servers.append(server)
            stack.callback(server.stop)
        with ThreadPoolExecutor(instances) as pool:
            list(pool.map(lambda server: server.start(timeout=90), servers))
        worker_log = stack.enter_context((folder / "worker.log").open("wb"))
        worker = subprocess.Popen(
            [sys.executable, "-m", "conduit.entrypoints.cli", "worker"],
            env=servers[0].env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop, worker)
        nginx_dir = folder / "nginx"
        nginx_dir.mkdir()
        proxy = render(
            nginx_dir,
            http_port=free_port(),
            https_port=free_port(),
            upstreams=[server.port for server in servers],
        )
        stack.enter_context(running_nginx(proxy))
        yield Fleet(proxy, servers, database_url, folder)
