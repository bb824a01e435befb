"""Print the test URL of a local service if it answers, so `make test` runs its suite.

Usage: python scripts/local_services.py postgres|redis
Prints nothing (and exits 0) when the service does not answer: its suite is then skipped.
"""

from __future__ import annotations

import socket
import sys

SERVICES = {
    "postgres": (5432, "postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_test"),
    "redis": (6379, "redis://127.0.0.1:6379/15"),
}


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    port, url = SERVICES[sys.argv[1]]
    if answers(port):
        sys.stdout.write(url + "\n")


if __name__ == "__main__":
    main()
