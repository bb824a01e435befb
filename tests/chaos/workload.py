"""The mix of moves the concurrent clients make: logins (some with the old password),
refreshes (two tabs at once), session checks, password changes, logout everywhere, session ends,
and an operator's disable, enable and revoke; each race a real client can run into is also
provoked on purpose (races.py)."""

from __future__ import annotations

from collections.abc import Callable

from tests.chaos.client import Client
from tests.chaos.races import (
    login_during_logout_everywhere,
    login_during_password_change,
    second_step_during_revocation,
)
from tests.chaos.revocations import change_password, end_session, logout_everywhere, operate
from tests.chaos.signin import login
from tests.chaos.tokens import check, refresh, two_tabs

# Each move with its weight; the order is part of what a seed repeats.
MOVES: list[tuple[Callable[[Client], object], int]] = [
    (check, 40),
    (refresh, 12),
    (two_tabs, 4),
    (login, 14),
    (login_during_password_change, 5),
    (login_during_logout_everywhere, 5),
    (change_password, 2),
    (logout_everywhere, 2),
    (end_session, 4),
    (operate, 4),
    (second_step_during_revocation, 6),
]


def step(client: Client) -> None:
    """One move, chosen by weight with the client's `rng`."""
    moves, weights = zip(*MOVES, strict=True)
    client.rng.choices(moves, weights)[0](client)
