"""The key ring reloads early for a kid it does not know, and on time in the background."""

from __future__ import annotations

from datetime import timedelta

import jwt

from authsvc.keys.refresh import KeyRingHolder
from authsvc.keys.ring import KeyRing
from tests.helpers.cli import cli_json
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.keys import kid_of
from tests.helpers.login import access_token
from tests.helpers.sessions import session_status

REFRESH = 10


async def test_a_token_of_a_key_this_instance_has_not_loaded_yet_makes_it_reload(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
) -> None:
    make_user()
    settings = make_settings(expose_token_in_body=True, key_refresh_seconds=REFRESH)
    async with client_factory(settings) as first:
        # The second instance starts half an interval later, so its refresh falls due later.
        clock.advance(REFRESH / 2)
        async with client_factory(settings) as second:
            old = kid_of(await access_token(second))
            # An emergency-style change: a new key signs at once, nobody has loaded it yet.
            new = cli_json(database_url, "keys", "rotate", "--now")["kid"]
            clock.advance(REFRESH / 2)
            token = await access_token(first)
            assert kid_of(token) == new != old
            # `second` is not due for another half interval, but the unknown kid makes it look.
            assert await session_status(second, token) == (200, None)
            assert kid_of(await access_token(second)) == new


def made_up_token(kid: str) -> str:
    return jwt.encode(
        {"sub": "x"}, "s" * 32, algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"}
    )


def test_unknown_kids_reload_the_ring_at_most_every_quarter_second() -> None:
    clock = FakeClock()
    reloads: list[object] = []

    def refresh(previous: KeyRing) -> KeyRing:
        reloads.append(clock.now())
        return previous

    holder = KeyRingHolder(KeyRing(signer=None), clock=clock, refresh=refresh)
    clock.advance(1)
    for number in range(5):
        holder.ring_for(made_up_token(f"made-up-{number}"))
    assert len(reloads) == 1
    clock.advance(0.2)
    holder.ring_for(made_up_token("made-up-5"))
    assert len(reloads) == 1
    clock.advance(0.05)
    holder.ring_for(made_up_token("made-up-6"))
    assert len(reloads) == 2


def test_the_background_refresh_wakes_when_the_ring_falls_due() -> None:
    clock = FakeClock()
    holder = KeyRingHolder(
        KeyRing(signer=None), clock=clock, refresh=lambda ring: ring, interval=timedelta(seconds=10)
    )
    assert holder.seconds_until_due() == 10
    clock.advance(7)
    # Not a fixed 10 s after the task's last wake-up, which could leave the ring 2 intervals old.
    assert holder.seconds_until_due() == 3
    clock.advance(4)
    holder.refresh_if_due()
    assert holder.seconds_until_due() == 10
