"""A real PgBouncer (Debian's package) in front of the test PostgreSQL, in transaction mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.helpers.fleet import HarnessUnavailable
from tests.helpers.processes import free_port, port_open, stop_process
from tests.helpers.waiting import wait_for


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if found is None:
        raise HarnessUnavailable("pgbouncer is not installed (`make pgbouncer-deps` installs it)")
    return found


class PgBouncer:
    """Started on a free port with its own directory; stopped by the PID it was given."""

    def __init__(self, postgres_url: str, *, pool_mode: str = "transaction"):
        self.binary = pgbouncer_binary()
        self.target = make_url(postgres_url)
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="authsvc-pgbouncer-"))
        # PgBouncer refuses to run as root; it then runs as `postgres`, which must read this.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.workdir.chmod(0o755)
        (self.workdir / "users.txt").write_text(f'"{self.target.username}" ""\n')
        (self.workdir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.target.host} port={self.target.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.workdir / 'users.txt'}\n"
            f"pool_mode = {pool_mode}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.workdir / 'pgbouncer.log'}\n"
        )
        for path in self.workdir.iterdir():
            path.chmod(0o644)
        if self.run_as:
            shutil.chown(self.workdir, "postgres", "postgres")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The test database's URL, through PgBouncer."""
        return self.target.set(port=self.port).render_as_string(hide_password=False)

    def start(self) -> PgBouncer:
        self.process = subprocess.Popen(
            [*self.run_as, self.binary, str(self.workdir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), timeout=20, what="pgbouncer to listen")
        return self

    def log(self) -> str:
        path = self.workdir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)
