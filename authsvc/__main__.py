"""`python -m authsvc` and the `authsvc` command."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from authsvc.cli import main as run
    except ModuleNotFoundError as exc:
        # The base package is only the downstream verifier; the commands need the server extra.
        sys.exit(
            f"authsvc: the server is not installed here ({exc.name} is missing): "
            "install `authsvc[server]`"
        )
    run()


if __name__ == "__main__":
    main()
