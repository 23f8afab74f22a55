"""Private PostgreSQL and Redis servers on free loopback ports, for tests that kill or restart them.

The shared servers of the other suites are never touched. PostgreSQL refuses to run as root, so
under root the cluster runs as the `postgres` user, in a folder of its own outside tmp_path (which
only root can enter). A missing binary skips the test, or fails it with REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text

from tests.services import service_missing
from zuora_workflow_sync.store import migrate

START_SECONDS = 30.0


def free_port() -> int:
    """A port nothing listens on right now (another process could still take it: rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin(name: str) -> Path:
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        service_missing(f"{name} not found (PATH or /usr/lib/postgresql/*/bin)")
    return candidates[-1]


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (trust auth, fsync off) that a test may restart."""

    def __init__(self, *, max_connections: int = 200) -> None:
        self._initdb = _postgres_bin("initdb")
        self._max_connections = max_connections
        self._pg_ctl = _postgres_bin("pg_ctl")
        self._user = _cluster_user()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="zws-chaos-pg-"))
        self._data = self.folder / "data"
        self.log = self.folder / "server.log"
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb (first time only), then start and wait until it accepts connections."""
        if not self._data.exists():
            self._run(
                self._initdb,
                *("-D", str(self._data), "-U", "postgres", "-A", "trust"),
                *("-E", "UTF8", "--locale=C", "--no-sync"),
            )
        self._pg_ctl_run("start")

    def create_database(self) -> str:
        """A new database, migrated as `workflow-sync db upgrade` does: its URL."""
        name = f"zws_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))  # a generated name
        finally:
            engine.dispose()
        migrate.upgrade(self.url(name))
        return self.url(name)

    def restart_immediately(self) -> None:
        """`pg_ctl restart -m immediate`: every session is cut, open transactions are lost."""
        self._pg_ctl_run("restart", "-m", "immediate")

    def stop(self) -> None:
        """Stop the server (immediately) and delete its folder."""
        try:
            if (self._data / "postmaster.pid").exists():
                self._run(self._pg_ctl, "stop", "-D", str(self._data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _pg_ctl_run(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            f"-c fsync=off -c full_page_writes=off -c max_connections={self._max_connections}"
        )
        self._run(
            self._pg_ctl,
            action,
            "-D",
            str(self._data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            str(int(START_SECONDS)),
            *extra,
        )

    def _run(self, binary: Path, *args: str) -> None:
        options: dict[str, Any] = {}
        if self._user is not None:
            options = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        done = subprocess.run(
            [str(binary), *args],
            capture_output=True,
            text=True,
            timeout=START_SECONDS + 10,
            check=False,
            cwd=self.folder,
            **options,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{binary.name} {args[0]} failed: {done.stderr.strip()[-500:]}")


def _cluster_user() -> pwd.struct_passwd | None:
    """None when not root; else the `postgres` account (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        service_missing("running as root and no 'postgres' account to run a private PostgreSQL")


class PrivateRedis:
    """A redis-server on a free port; without persistence (the default) a kill loses every key,
    with `persistent` every write is in its append-only file first (fsync always)."""

    def __init__(self, folder: Path, *, persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server not found on PATH")
        self._binary = binary
        self.port = free_port()
        self._folder = folder
        self._folder.mkdir(parents=True, exist_ok=True)
        self._persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        command = [
            self._binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self._persistent else "no",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--dir",
            str(self._folder),
        ]
        with open(self._folder / "redis.log", "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_for_ping()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; the data is gone."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=START_SECONDS)
            self._process = None

    def flush(self) -> None:
        with redis.Redis.from_url(self.url()) as client:
            client.flushall()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def _wait_for_ping(self) -> None:
        client = redis.Redis.from_url(self.url(), socket_connect_timeout=1)
        deadline = time.monotonic() + START_SECONDS
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()
