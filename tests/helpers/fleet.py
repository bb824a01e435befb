"""Real processes for the fleet tests and benchmark: authsvc instances, nginx, a throw-away
PostgreSQL.

Everything listens on 127.0.0.1 on free ports, lives in a temporary directory, and is stopped by
the PID this module started; nothing is looked up or killed by name.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.helpers.defaults import TEST_SECRET
from tests.helpers.paths import REPO_ROOT
from tests.helpers.processes import LiveServer, free_port, inherited_env, port_open, stop_process
from tests.helpers.suites import skip_suite
from tests.helpers.waiting import wait_for

T = TypeVar("T")
LOCATIONS_CONF = REPO_ROOT / "deploy" / "nginx" / "authsvc-locations.conf"
FORWARD_AUTH_CONF = REPO_ROOT / "deploy" / "nginx" / "forward-auth.conf"
# Propagation times the fleet tests measured; printed in pytest's terminal summary.
measurements: list[str] = []


class HarnessUnavailable(RuntimeError):
    """A program the harness needs (nginx, initdb) is not installed."""


def require(build: Callable[[], T]) -> T:
    """Build a harness part; skip where nginx/initdb is missing, but never in CI."""
    try:
        return build()
    except HarnessUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the fleet tests: {exc}")
        skip_suite(f"fleet suite skipped: {exc}")


# --- authsvc instances ----------------------------------------------------------------------


# Every instance's issuer, so the origin a page of the fleet sends.
FLEET_ISSUER = "http://authsvc.fleet"


def instance_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **inherited_env(),
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": TEST_SECRET,
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_ISSUER": FLEET_ISSUER,
        # PostgreSQL allows 100 connections on a shared machine: small pools per instance.
        "AUTHSVC_DATABASE_POOL_SIZE": "3",
        "AUTHSVC_TRUSTED_PROXIES": "127.0.0.1",
        **extra,
    }


def fleet_instance(database_url: str, workdir: Path, **extra: str) -> LiveServer:
    """One `authsvc serve` of the fleet (not started yet), on a free port."""
    port = free_port()
    env = {
        **instance_env(database_url, **extra),
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_HOST": "127.0.0.1",
    }
    return LiveServer(port=port, env=env, workdir=workdir)


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
    # A service protected with GET /verify (deploy/nginx/forward-auth.conf) at /app/, if any.
    app_port: int | None = None
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
        app = (
            f"upstream app {{ server 127.0.0.1:{self.app_port}; }}"
            if self.app_port is not None
            else ""
        )
        forward_auth = f"include {FORWARD_AUTH_CONF};" if self.app_port is not None else ""
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
    {app}
    server {{
        listen 127.0.0.1:{self.port};
        # Test-only: which instance answered, so the tests can tell the instances apart.
        add_header X-Authsvc-Upstream $upstream_addr always;
        include {LOCATIONS_CONF};
        {forward_auth}
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

        wait_for(listening, timeout=15, what="nginx")

    def stop(self) -> None:
        if self.process is not None:
            # SIGQUIT: graceful shutdown of the master and its workers.
            stop_process(self.process, signal.SIGQUIT)


# --- the fleet ------------------------------------------------------------------------------


@dataclass
class Fleet:
    instances: list[LiveServer]
    nginx: Nginx

    @property
    def url(self) -> str:
        return self.nginx.url

    def stop(self) -> None:
        self.nginx.stop()
        for member in self.instances:
            member.stop()

    def by_upstream(self, response: httpx.Response) -> LiveServer:
        """The instance that answered a request made through nginx."""
        port = int(response.headers["x-authsvc-upstream"].split(",")[-1].strip().rsplit(":", 1)[1])
        return next(member for member in self.instances if member.port == port)


def start_fleet(database_url: str, workdir: Path, *, size: int = 3, **env: str) -> Fleet:
    """Start `size` instances (the first alone: it creates the signing key), then nginx.

    Where nginx is missing the test is skipped (failed in CI) before anything starts, whichever
    way the test calls this.
    """
    return _start(database_url, workdir, size=size, app_port=None, env=env)


def start_gateway(database_url: str, workdir: Path, app_port: int, *, size: int = 3) -> Fleet:
    """A fleet whose nginx also protects the service on `app_port` with GET /verify."""
    return _start(database_url, workdir, size=size, app_port=app_port, env={})


def _start(
    database_url: str, workdir: Path, *, size: int, app_port: int | None, env: dict[str, str]
) -> Fleet:
    require(nginx_binary)
    workdir.mkdir(parents=True, exist_ok=True)
    instances = [fleet_instance(database_url, workdir, **env) for _ in range(size)]
    nginx = Nginx(
        upstream_ports=[member.port for member in instances],
        workdir=workdir / "nginx",
        app_port=app_port,
    )
    fleet = Fleet(instances=instances, nginx=nginx)
    try:
        # The first creates the signing key; the others then start side by side.
        first, *others = instances
        first.start()
        for member in others:
            member.launch()
        for member in others:
            member.wait_until_healthy()
        nginx.start()
    except BaseException:
        fleet.stop()
        raise
    return fleet


# --- a service behind the gateway ------------------------------------------------------------


class EchoApp:
    """An HTTP service that answers every GET with the request's path and headers as JSON."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                seen.append({"path": self.path, **headers})
                body = json.dumps({"path": self.path, "headers": headers}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoApp:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


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
