"""Real processes for the fleet tests and benchmark: authsvc, nginx, a throw-away PostgreSQL.

Everything listens on 127.0.0.1 on free ports, lives in a temporary directory, and is stopped by
the PID this module started; nothing is looked up or killed by name.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from authsvc.clock import SystemClock
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.services.users import create_user
from authsvc.storage.engine import make_engine, make_session_factory
from tests.helpers.paths import REPO_ROOT
from tests.helpers.support import authsvc_command, free_port

REPO = REPO_ROOT
LOCATIONS_CONF = REPO / "deploy" / "nginx" / "authsvc-locations.conf"
TEST_SECRET = "test-key-encryption-secret-0123456789abcdef"
# Propagation times the fleet tests measured; printed in pytest's terminal summary.
measurements: list[str] = []


class HarnessUnavailable(RuntimeError):
    """A program the harness needs (nginx, initdb) is not installed."""


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"gave up after {timeout}s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def add_user(database_url: str, username: str, password: str) -> str:
    """Setup only: cheap argon2 parameters (the hash records them, servers verify as usual)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with make_session_factory(engine)() as db:
            user = create_user(
                db,
                Argon2Hasher(memory_cost=1024, time_cost=1, parallelism=1),
                username=username,
                password=password,
                roles=[],
                now=SystemClock().now(),
            )
            db.commit()
            return user.id
    finally:
        engine.dispose()


# --- authsvc instances ----------------------------------------------------------------------


@dataclass
class Instance:
    """One `authsvc serve` process; restartable on the same port, as a supervisor would."""

    port: int
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"authsvc-{self.port}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, *, timeout: float = 30) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                authsvc_command("serve"),
                env={**self.env, "AUTHSVC_PORT": str(self.port), "AUTHSVC_HOST": "127.0.0.1"},
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"authsvc on {self.port} exited early:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=timeout, what=f"authsvc on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye; what a crash or the OOM killer does."""
        if self.process is not None:
            stop_process(self.process, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def instance_env(database_url: str, **extra: str) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AUTHSVC_") or name.startswith("AUTHSVC_TEST_")
    }
    return {
        **inherited,
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": TEST_SECRET,
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_ISSUER": "http://authsvc.fleet",
        # PostgreSQL allows 100 connections on a shared machine: small pools per instance.
        "AUTHSVC_DATABASE_POOL_SIZE": "3",
        "AUTHSVC_TRUSTED_PROXIES": "127.0.0.1",
        **extra,
    }


# --- nginx ----------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise HarnessUnavailable("nginx is not installed (`make fleet-deps` installs it)")
    return found


@dataclass
class Nginx:
    """nginx balancing over the instances, with its own prefix, pid and log files."""

    upstream_ports: list[int]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            # A refused connection takes an instance out for 2 s, then nginx tries it again.
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
            for port in self.upstream_ports
        )
        prefix = self.workdir
        return f"""
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream authsvc {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{self.port};
        # Test-only: which instance answered, so the tests can tell the instances apart.
        add_header X-Authsvc-Upstream $upstream_addr always;
        include {LOCATIONS_CONF};
    }}
}}
"""

    def start(self) -> None:
        binary = nginx_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config())
        log = (self.workdir / "nginx.stderr").open("ab")
        with log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "-p",
                    str(self.workdir),
                    "-c",
                    str(conf),
                    "-e",
                    str(self.workdir / "error.log"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        def listening() -> bool:
            if process.poll() is not None:
                errors = (self.workdir / "nginx.stderr").read_text(errors="replace")
                raise RuntimeError(f"nginx exited early:\n{errors}")
            return port_open(self.port)

        wait_until(listening, timeout=15, what="nginx")

    def stop(self) -> None:
        if self.process is not None:
            # SIGQUIT: graceful shutdown of the master and its workers.
            stop_process(self.process, signal.SIGQUIT)


# --- the fleet ------------------------------------------------------------------------------


@dataclass
class Fleet:
    instances: list[Instance]
    nginx: Nginx

    @property
    def url(self) -> str:
        return self.nginx.url

    def stop(self) -> None:
        self.nginx.stop()
        for instance in self.instances:
            instance.stop()

    def by_upstream(self, response: httpx.Response) -> Instance:
        """The instance that answered a request made through nginx."""
        port = int(response.headers["x-authsvc-upstream"].split(",")[-1].strip().rsplit(":", 1)[1])
        return next(instance for instance in self.instances if instance.port == port)


def start_fleet(database_url: str, workdir: Path, *, size: int = 3, **env: str) -> Fleet:
    """Start `size` instances one after another (the first creates the signing key), then nginx."""
    workdir.mkdir(parents=True, exist_ok=True)
    instances = [
        Instance(port=free_port(), env=instance_env(database_url, **env), workdir=workdir)
        for _ in range(size)
    ]
    nginx = Nginx(
        upstream_ports=[instance.port for instance in instances], workdir=workdir / "nginx"
    )
    fleet = Fleet(instances=instances, nginx=nginx)
    try:
        for instance in instances:
            instance.start()
        nginx.start()
    except BaseException:
        fleet.stop()
        raise
    return fleet


# --- a PostgreSQL cluster the test owns -----------------------------------------------------


def postgres_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise HarnessUnavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return Path(candidates[-1]).parent


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temporary directory, to stop and start at will."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="authsvc-pg-"))
        # initdb refuses to run as root; the cluster then belongs to the `postgres` user.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.run_as:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.datadir.chmod(0o700)
        self._pg(
            "initdb", "-D", str(self.datadir / "data"), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=40"
        )
        self._pg(
            "pg_ctl", "-D", str(self.datadir / "data"), "-o", options,
            "-l", str(self.datadir / "postgres.log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.datadir / "data"), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        if (self.datadir / "data" / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)
