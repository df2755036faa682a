"""Throwaway PostgreSQL servers for tests that stop, restart or break one.

``throwaway_cluster()`` creates a cluster of its own on a free loopback port
(``pg_createcluster``), starts it, yields a handle with its URL and
``stop``/``start``, and always drops it afterwards. The shared server the
other tests use is never touched. Every wait is bounded in time and count,
and a missing ``pg_createcluster`` fails the test loudly instead of skipping.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import pytest

COMMAND_TIMEOUT_S = 60
READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _version() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("no PostgreSQL server binaries under /usr/lib/postgresql", pytrace=False)
    return found[-1].split("/")[4]


def _run(*args: str) -> None:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")


@dataclass
class Cluster:
    """A running throwaway PostgreSQL cluster; ``url`` reaches its ``postgres`` database."""

    version: str
    name: str
    port: int

    @property
    def log(self) -> str:
        """The server's log file (Debian's default place for a cluster's log)."""
        return f"/var/log/postgresql/postgresql-{self.version}-{self.name}.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, action: str, *extra: str) -> None:
        _run("pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *extra)

    def stop(self) -> None:
        """Fast shutdown: clients get "terminating connection due to administrator command"."""
        self.ctl("stop", "-m", "fast")

    def start(self) -> None:
        """Start and return once the server accepts connections."""
        self.ctl("start")
        wait_until_accepting(self.port)


def wait_until_accepting(port: int, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll until a connection succeeds; at most ``timeout_s`` and 300 tries."""

    async def attempt() -> bool:
        try:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=2
            )
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    deadline = time.monotonic() + timeout_s
    for _ in range(300):
        if asyncio.run(attempt()):
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL on port {port} did not accept connections in {timeout_s}s")


@contextmanager
def throwaway_cluster(*settings: str) -> Iterator[Cluster]:
    """A new PostgreSQL cluster on a free port, running, trust auth; dropped on exit.

    ``settings`` are extra ``name=value`` server settings (e.g. ``log_min_duration_statement=0``).
    """
    if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
        pytest.fail("pg_createcluster/pg_ctlcluster are needed for this test", pytrace=False)
    version = _version()
    cluster = Cluster(version, f"asyncdata_t{os.getpid()}_{uuid.uuid4().hex[:6]}", free_port())
    try:
        _run(
            "pg_createcluster",
            version,
            cluster.name,
            "-p",
            str(cluster.port),
            "-o",
            "fsync=off",
            "-o",
            "max_connections=60",
            *(arg for setting in settings for arg in ("-o", setting)),
            "--",
            "--auth=trust",
        )
        cluster.start()
        yield cluster
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", version, cluster.name],
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
