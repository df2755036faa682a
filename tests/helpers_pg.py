"""Throwaway PostgreSQL servers for tests that stop, restart or break one.

``throwaway_cluster()`` creates a cluster of its own on a free loopback port
(``pg_createcluster``), starts it, yields a handle with its URL and
``stop``/``start``, and always drops it afterwards. The shared server the
other tests use is never touched. Every wait is bounded in time and count,
and a missing ``pg_createcluster`` fails the test loudly instead of skipping.

``streaming_replica(cluster)`` adds a hot standby of such a cluster
(``pg_basebackup -R``) on another port, and ``pgbouncer(port, pool_size=...)``
a PgBouncer in transaction pooling mode in front of a server; both are removed
on exit and fail loudly if their programs are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
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


def _as_postgres(*args: str) -> None:
    """Run a server command as the ``postgres`` user (PostgreSQL and PgBouncer refuse root)."""
    if os.geteuid() == 0:
        _run("runuser", "-u", "postgres", "--", *args)
    else:
        _run(*args)


def _needed(program: str, package: str) -> str:
    found = shutil.which(program) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))[-1:]), None
    )
    if found is None:
        pytest.fail(
            f"{program} is needed for this test (Debian package {package}; .ci/run installs it)",
            pytrace=False,
        )
    return found


@dataclass
class Server:
    """A running server process of a test's own (a replica or a PgBouncer) on ``port``."""

    port: int
    directory: str
    database: str = "postgres"

    def url(self, database: str | None = None) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database or self.database}"


@dataclass
class Replica(Server):
    """A streaming replica (hot standby) made by ``pg_basebackup -R``; ``stop``/``start``."""

    def ctl(self, action: str, *extra: str) -> None:
        pg_ctl = _needed("pg_ctl", "postgresql")
        log = os.path.join(self.directory, "server.log")
        _as_postgres(pg_ctl, "-D", self.directory, "-l", log, "-w", "-t", "30", action, *extra)

    def stop(self) -> None:
        self.ctl("stop", "-m", "fast")

    def start(self) -> None:
        self.ctl("start")
        wait_until_accepting(self.port)


@contextmanager
def streaming_replica(primary: Cluster) -> Iterator[Replica]:
    """A hot standby of ``primary`` on a free port, streaming from it; removed on exit.

    ``pg_basebackup -R`` copies the primary's data directory and writes the
    ``primary_conninfo`` that makes the copy follow it. Debian keeps a cluster's
    configuration outside its data directory, so the copy gets a small
    ``postgresql.conf`` and ``pg_hba.conf`` of its own (trust, loopback only).
    """
    basebackup = _needed("pg_basebackup", "postgresql-client")
    directory = tempfile.mkdtemp(prefix="asyncdata_replica_")
    replica = Replica(free_port(), os.path.join(directory, "data"))
    try:
        _run(
            basebackup,
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", replica.directory, "-R", "-X", "stream", "--checkpoint=fast",
        )  # fmt: skip
        with open(os.path.join(replica.directory, "postgresql.conf"), "w") as conf:
            conf.write(
                f"port = {replica.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{directory}'\n"
                "max_connections = 60\n"
                "fsync = off\n"
                "hot_standby = on\n"
                f"hba_file = '{replica.directory}/pg_hba.conf'\n"
            )
        with open(os.path.join(replica.directory, "pg_hba.conf"), "w") as hba:
            hba.write("host all all 127.0.0.1/32 trust\nlocal all all trust\n")
        _run("chown", "-R", "postgres:postgres", directory)
        os.chmod(replica.directory, 0o700)
        replica.start()
        yield replica
    finally:
        if os.path.isdir(replica.directory):
            subprocess.run(
                ["runuser", "-u", "postgres", "--", _needed("pg_ctl", "postgresql"),
                 "-D", replica.directory, "stop", "-m", "immediate", "-w"],
                capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False,
            )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


def wait_for_replay(primary_port: int, replica_port: int, *, timeout_s: float = 30.0) -> None:
    """Return once the replica has replayed everything the primary has written so far."""

    async def lag() -> bool:
        source = await asyncpg.connect(
            host="127.0.0.1", port=primary_port, user="postgres", database="postgres"
        )
        target = await asyncpg.connect(
            host="127.0.0.1", port=replica_port, user="postgres", database="postgres"
        )
        try:
            written = await source.fetchval("SELECT pg_current_wal_lsn()")
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if await target.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", written):
                    return True
                await asyncio.sleep(0.05)
            return False
        finally:
            await source.close()
            await target.close()

    if not asyncio.run(lag()):
        raise RuntimeError(f"the replica on port {replica_port} lags behind after {timeout_s}s")


@contextmanager
def pgbouncer(server_port: int, *, pool_size: int) -> Iterator[Server]:
    """PgBouncer in ``pool_mode = transaction`` in front of ``server_port``; stopped on exit.

    ``pool_size`` server connections per database and user, however many
    clients connect (up to 500). Trust auth, loopback only, its own files in
    a temporary directory; fails the test loudly if ``pgbouncer`` is missing.
    """
    program = _needed("pgbouncer", "pgbouncer")
    directory = tempfile.mkdtemp(prefix="asyncdata_pgbouncer_")
    server = Server(free_port(), directory)
    config = os.path.join(directory, "pgbouncer.ini")
    with open(config, "w") as ini:
        ini.write(
            "[databases]\n"
            f"* = host=127.0.0.1 port={server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {server.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {directory}/users.txt\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            "max_client_conn = 500\n"
            f"logfile = {directory}/pgbouncer.log\n"
            f"pidfile = {directory}/pgbouncer.pid\n"
        )
    with open(os.path.join(directory, "users.txt"), "w") as users:
        users.write('"postgres" ""\n')
    _run("chown", "-R", "postgres:postgres", directory)
    try:
        if os.geteuid() == 0:
            _run(program, "-d", "-u", "postgres", config)
        else:
            _run(program, "-d", config)
        wait_until_accepting(server.port)
        yield server
    finally:
        pidfile = os.path.join(directory, "pgbouncer.pid")
        if os.path.exists(pidfile):
            with open(pidfile) as pid, contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid.read().strip()), signal.SIGINT)
            deadline = time.monotonic() + 10
            while os.path.exists(pidfile) and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(directory, ignore_errors=True)
