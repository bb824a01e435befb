"""Stop a request at one SQL statement, to commit another change exactly there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Engine, event

USER_ROW_LOCK = {
    # What `lock_user` sends first on each database: the statement that takes the row's lock.
    "sqlite": "UPDATE users SET token_version",
    "postgresql": "FOR NO KEY UPDATE",
}


@contextmanager
def held_at_statement(
    marker: str, *, moment: Literal["before", "after"] = "after"
) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first SQL statement containing `marker` waits, before or after it runs, until the
    gate opens.

    Yields (entered, gate). For a step with no hashing to stop in: a database read, or the lock
    a read-check-write takes before it checks again.
    """
    entered, gate = threading.Event(), threading.Event()

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if marker in statement and not entered.is_set():
            entered.set()
            gate.wait(timeout=30)

    hook = f"{moment}_cursor_execute"
    event.listen(Engine, hook, hold)
    try:
        yield entered, gate
    finally:
        gate.set()
        event.remove(Engine, hook, hold)
