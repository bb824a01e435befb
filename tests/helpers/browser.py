"""A real Chromium against real servers: Debian's browser driven by Playwright (never a browser
Playwright downloads), authsvc served by uvicorn over HTTP or HTTPS, and the other sites a test
needs (a page server on another origin or site, the downstream example). Every process is
started here and stopped by its PID."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme
import uvicorn

from authsvc.app import create_app
from authsvc.clock import Clock
from authsvc.config import Settings
from authsvc.passwords.hashing import PasswordHasher
from tests.helpers.cli import cli_env
from tests.helpers.processes import free_port, inherited_env, stop_process
from tests.helpers.suites import skip_suite
from tests.helpers.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
BROWSER_HINT = (
    "Browser suite skipped: Chromium is not installed (make browser-deps installs Debian's "
    "chromium and chromium-driver)"
)
# What works in a container as root, with no network but loopback: a fresh profile per launch
# (Playwright makes one), nothing phoning home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_executable() -> str:
    """Debian's Chromium; the browser suite is skipped without it, and fails in CI."""
    path = shutil.which("chromium") or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "CI must run the browser suite, but Chromium is not installed "
                "(make browser-deps installs it)"
            )
        skip_suite(BROWSER_HINT)
    return path


@dataclass
class Tls:
    """A certificate authority the test made and a certificate for 127.0.0.1 signed by it."""

    directory: Path
    ca: trustme.CA = field(default_factory=trustme.CA)

    def __post_init__(self) -> None:
        certificate = self.ca.issue_cert("127.0.0.1", "localhost")
        certificate.private_key_pem.write_to_path(str(self.key_file))
        certificate.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    @property
    def key_file(self) -> Path:
        return self.directory / "server.key"

    @property
    def cert_file(self) -> Path:
        return self.directory / "server.pem"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@dataclass
class ServerProcess:
    """A server this test started: its URL, and its PID to stop it by."""

    name: str
    command: list[str]
    env: dict[str, str]
    workdir: Path
    url: str
    health_path: str = "/healthz"
    verify: ssl.SSLContext | bool = True
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()}")
            try:
                response = httpx.get(self.url + self.health_path, timeout=1, verify=self.verify)
            except httpx.TransportError:
                return False
            return response.status_code == 200

        try:
            wait_for(answers, timeout=30, what=self.name)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.log()}") from None
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Servers:
    """The servers of one test; all stopped (by PID) when the test ends."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.started: list[ServerProcess] = []

    def _start(self, server: ServerProcess) -> ServerProcess:
        self.started.append(server)
        return server.start()

    def authsvc(
        self,
        database_url: str,
        *,
        tls: Tls | None = None,
        public_host: str = "127.0.0.1",
        **settings: str,
    ) -> ServerProcess:
        """authsvc under uvicorn, as `authsvc serve` runs it (over HTTPS with `tls`).

        `public_host="localhost"`: browsers use it by that name (WebAuthn needs a host name).
        """
        port = free_port()
        scheme = "https" if tls is not None else "http"
        url = f"{scheme}://{public_host}:{port}"
        env = {
            **inherited_env(),
            **cli_env(database_url),
            "AUTHSVC_ISSUER": url,
            "AUTHSVC_ALLOWED_ORIGINS": url,
            "AUTHSVC_COOKIE_SECURE": "true" if tls is not None else "false",
            "AUTHSVC_LOG_LEVEL": "warning",
            **settings,
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "authsvc.app:create_app_from_environment",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-server-header",
            "--log-level",
            "warning",
        ]
        if tls is not None:
            command += ["--ssl-keyfile", str(tls.key_file), "--ssl-certfile", str(tls.cert_file)]
        verify: ssl.SSLContext | bool = tls.client_context() if tls is not None else True
        return self._start(
            ServerProcess(f"authsvc-{port}", command, env, self.workdir, url, verify=verify)
        )

    def pages(self, directory: Path, *, host: str = "127.0.0.1") -> ServerProcess:
        """Static files from `directory`, as another origin (another port) or another site
        (`host="localhost"` while authsvc is on 127.0.0.1)."""
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(directory),
        ]
        url = f"http://{host}:{port}"
        return self._start(
            ServerProcess(
                f"pages-{port}", command, inherited_env(), self.workdir, url, health_path="/"
            )
        )

    def downstream(self, authsvc: ServerProcess, database_url: str) -> ServerProcess:
        """examples/downstream, verifying authsvc's tokens on its own (JWKS and the database)."""
        port = free_port()
        env = {
            **inherited_env("DOWNSTREAM_"),
            "DOWNSTREAM_AUTHSVC_URL": authsvc.url,
            "DOWNSTREAM_VERSION_SOURCE": "database",
            "DOWNSTREAM_DATABASE_URL": database_url,
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(REPO / "examples" / "downstream"),
            "--factory",
            "service:create_app_from_environment",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        url = f"http://127.0.0.1:{port}"
        return self._start(ServerProcess(f"downstream-{port}", command, env, self.workdir, url))

    def stop_all(self) -> None:
        for server in reversed(self.started):
            server.stop()


@contextmanager
def serve_in_thread(
    settings: Settings, *, port: int, clock: Clock, hasher: PasswordHasher
) -> Iterator[str]:
    """authsvc with an injected clock, on a real socket: uvicorn in a thread of this process,
    for what needs time moved by hand (token expiry) behind a real browser."""
    app = create_app(settings, clock=clock, hasher=hasher)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="authsvc-uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=30, what="authsvc in a thread")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
