"""Revocations of one user take their locks in one order, the user's row before its sessions:
an operator's revoke or disable beside the user's own logout everywhere waits for it instead of
deadlocking (PostgreSQL would answer one of the two 503)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from tests.helpers.fixture_types import DbQuery, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device

# The first statement of a logout everywhere: the token-version bump, which locks the user's row.
BUMP = "UPDATE users SET token_version"


@contextmanager
def held_after_first(marker: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first SQL statement containing `marker` waits, once run, until the gate opens."""
    entered, gate = threading.Event(), threading.Event()

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if marker in statement and not entered.is_set():
            entered.set()
            gate.wait(timeout=30)

    event.listen(Engine, "after_cursor_execute", hold)
    try:
        yield entered, gate
    finally:
        gate.set()
        event.remove(Engine, "after_cursor_execute", hold)


def waiting_on_a_lock(db_query: DbQuery) -> bool:
    rows = db_query(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return int(rows[0][0]) > 0


# SQLite serialises writers on one database lock: only PostgreSQL's row locks can deadlock.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("action", ["revoke", "disable"])
async def test_an_operators_revocation_beside_a_logout_everywhere_both_answer(
    action: str, client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    alice_id = make_user()
    make_user("root", roles=["admin"])
    alice, root = Device(client), Device(client)
    await alice.login()
    await root.login("root")

    with held_after_first(BUMP) as (entered, gate):
        logout = asyncio.create_task(
            client.post("/logout?everywhere=true", headers=bearer(alice.access))
        )
        assert await asyncio.to_thread(entered.wait, 30)
        # The logout holds alice's row and has her sessions still to end.
        operator = asyncio.create_task(
            client.post(f"/admin/users/{alice_id}/{action}", headers=bearer(root.access))
        )
        for _ in range(300):
            if await asyncio.to_thread(waiting_on_a_lock, db_query):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the operator's request never waited on the logout's lock")
        gate.set()
        logged_out, operated = await logout, await operator

    assert logged_out.status_code == 200, logged_out.text
    assert operated.status_code == 200, operated.text
    alive = "SELECT id FROM sessions WHERE user_id = :id AND ended_at IS NULL"
    assert db_query(alive, id=alice_id) == []
