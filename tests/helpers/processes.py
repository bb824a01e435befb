"""Real server processes on 127.0.0.1: free ports, `authsvc serve`, started and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process this test started, and kill it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def inherited_env(*foreign_prefixes: str) -> dict[str, str]:
    """This process's environment without the developer's AUTHSVC_* settings (and others named)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTHSVC_", *foreign_prefixes)) or name.startswith("AUTHSVC_TEST_")
    }


def authsvc_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "authsvc", *args]


@dataclass
class LiveServer:
    """A server process answering GET /healthz; restartable on the same port, as a supervisor
    would restart it."""

    port: int
    env: dict[str, str]
    workdir: Path
    command: tuple[str, ...] = tuple(authsvc_command("serve"))
    name: str = "authsvc"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.port}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, *, timeout: float = 120) -> LiveServer:
        return self.launch().wait_until_healthy(timeout=timeout)

    def launch(self) -> LiveServer:
        """Start the process without waiting for it: several servers can start side by side."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_until_healthy(self, *, timeout: float = 120) -> LiveServer:
        process = self.process
        assert process is not None, "launch() first"

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} on port {self.port} exited early:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(healthy, timeout=timeout, what=f"{self.name} on port {self.port}")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not become healthy:\n{self.log()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye; what a crash or the OOM killer does."""
        if self.process is not None:
            stop_process(self.process, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def start_server(env: dict[str, str], *, workdir: Path, timeout: float = 120) -> LiveServer:
    """Start `authsvc serve` with these settings on a free port and wait until it answers."""
    port = free_port()
    full_env = {
        **inherited_env(),
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_HOST": "127.0.0.1",
        # Pages served from the server's own address may call it with cookies (CSRF, CORS).
        "AUTHSVC_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        **env,
    }
    return LiveServer(port=port, env=full_env, workdir=workdir).start(timeout=timeout)
