"""Real processes for the tests that need them: ``todo-api serve`` and a PostgreSQL
cluster the test owns (so it can stop and start it).

Everything binds to 127.0.0.1 on a free port and is stopped when the ``with``
block ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``todo-api serve`` process."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        """Everything the process wrote to stderr and stdout so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as an orchestrator would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


@contextmanager
def todo_api_server(
    env: dict[str, str], *, workers: int = 1, wait_for_health: bool = True
) -> Iterator[Server]:
    """Run ``todo-api serve`` with ``env`` added to this environment.

    Waits until ``/api/health`` answers (any status), so the service has
    migrated its database and is taking requests; with ``wait_for_health``
    false, yields at once (a test that watches the start-up itself).

    Raises:
        RuntimeError: the process exited or did not answer within
            ``STARTUP_TIMEOUT_SECONDS``; the message holds its log.
    """
    port = free_port()
    full_env = {**os.environ, "ENVIRONMENT": "test", **env, "PORT": str(port)}
    full_env.pop("HOST", None)
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finally
        prefix="todo-api-", suffix=".log", delete=False
    )
    executable = Path(sys.executable).with_name("todo-api")
    process = subprocess.Popen(
        [str(executable), "serve", "--host", "127.0.0.1", "--workers", str(workers)],
        cwd=ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process, Path(log_file.name), env)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while wait_for_health:
            if process.poll() is not None:
                raise RuntimeError(f"todo-api exited with {process.returncode}:\n{server.log()}")
            try:
                httpx.get(f"{server.url}/api/health", timeout=2.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"todo-api did not start:\n{server.log()}") from None
                time.sleep(0.2)
        yield server
    finally:
        server.stop()
        log_file.close()


def _cannot_run_as_postgres() -> str | None:
    """Why server programs cannot be run as the postgres user here, or ``None``."""
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to drop to the postgres user"
    return None


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` as the postgres user when running as root (servers refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _postgres_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def postgres_cluster_unavailable() -> str | None:
    """Why a throwaway cluster cannot be made here, or ``None``."""
    if _postgres_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    return _cannot_run_as_postgres()


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, on its own port.

    Its own server, so a test may stop and start it without touching the
    machine's. Initialised with trust authentication for ``postgres``.
    """

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run_tool(self, *args: str) -> None:
        """Run a PostgreSQL tool (``initdb``, ``pg_ctl``) as the postgres user."""
        binary = _postgres_bin()
        assert binary is not None
        command = [str(binary / args[0]), *args[1:]]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.run_tool(
            "pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-l",
            str(self.directory / "server.log"),
            "-o",
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``), as a crash or failover would."""
        self.run_tool("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """``initdb`` a new cluster, start it, and remove it at the end."""
    directory = Path(tempfile.mkdtemp(prefix="todo-pg-"))
    os.chmod(directory, 0o777)  # noqa: S103 - the postgres user writes its socket here
    cluster = PostgresCluster(directory, free_port())
    try:
        cluster.run_tool(
            "initdb", "-D", str(directory / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        cluster.start()
        yield cluster
    finally:
        with suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def pgbouncer_unavailable() -> str | None:
    """Why a PgBouncer cannot be started here, or ``None``."""
    if _pgbouncer_bin() is None:
        return "pgbouncer is not installed (Debian package pgbouncer)"
    return _cannot_run_as_postgres()


def _pgbouncer_bin() -> str | None:
    return shutil.which("pgbouncer") or next(
        (str(p) for p in (Path("/usr/sbin/pgbouncer"),) if p.exists()), None
    )


@contextmanager
def pgbouncer(upstream_host: str, upstream_port: int, *, server_connections: int) -> Iterator[int]:
    """A PgBouncer in transaction mode, as Neon's pooler runs, in front of a server.

    ``server_connections`` per database and user, so that many clients share
    few server connections. Trust authentication. Yields its port.
    """
    binary = _pgbouncer_bin()
    assert binary is not None
    directory = Path(tempfile.mkdtemp(prefix="todo-pgbouncer-"))
    os.chmod(directory, 0o777)  # noqa: S103 - pgbouncer runs as postgres and logs here
    port = free_port()
    (directory / "users.txt").write_text('"postgres" ""\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={upstream_host} port={upstream_port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {server_connections}\n"
        "max_client_conn = 500\nignore_startup_parameters = extra_float_digits\n"
        f"logfile = {directory / 'pgbouncer.log'}\n"
    )
    for path in directory.iterdir():
        os.chmod(path, 0o644)
    process = subprocess.Popen(
        _as_postgres([binary, str(config)]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log = (directory / "pgbouncer.log").read_text(errors="replace")
                raise RuntimeError(f"pgbouncer did not start:\n{log}")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
        shutil.rmtree(directory, ignore_errors=True)
