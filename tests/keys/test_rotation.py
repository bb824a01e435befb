"""A full planned rotation on two instances sharing one database: not one valid token refused."""

from __future__ import annotations

from typing import Any

import httpx

from authsvc.config import Settings
from tests.helpers.cli import cli_json
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.keys import CachingJwksClient, kid_of
from tests.helpers.login import access_token
from tests.helpers.sessions import Device, session_status

DAY = 86400
STEP = 20


def rotation_settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        expose_token_in_body=True,
        access_token_ttl_seconds=300,
        jwks_max_age_seconds=120,
        key_refresh_seconds=10,
        key_rotation_days=1,
    )


async def new_device(instance: httpx.AsyncClient) -> str:
    """A login from a browser of its own: one in the same browser would end the session it held,
    and with it that session's tokens, which this test needs valid until they expire."""
    instance.cookies.clear()
    return await access_token(instance)


def key_states(db_query: DbQuery) -> dict[str, str]:
    return dict(db_query("SELECT kid, state FROM signing_keys"))


async def test_scheduled_rotation_on_two_instances_rejects_no_valid_token(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    settings = rotation_settings(make_settings)
    make_user()
    async with client_factory(settings) as first, client_factory(settings) as second:
        instances = (first, second)
        (old_kid,) = key_states(db_query)
        downstream = CachingJwksClient(clock)
        await downstream.refresh_if_stale(first)

        # The least favourable moment: the downstream cache takes the JWKS from the second
        # instance just before the first one starts the (scheduled) rotation, and the second
        # serves its old ring until its next refresh, so the cache misses the new key for a
        # whole max-age. The new key must not sign before that has run out.
        clock.advance(DAY - 1)
        await downstream.refresh_if_stale(second)
        clock.advance(2)
        tokens = [(token, downstream.verify(token).exp) for token in [await new_device(first)]]
        assert len(key_states(db_query)) == 2, "the first instance started the rotation"
        await downstream.refresh_if_stale(second)
        assert downstream.fetches == 2, "the downstream cache is still fresh"
        history: dict[str, list[str]] = {}
        signed_by: dict[str, int] = {}
        refused: list[tuple[int, str, Any]] = []
        checks = 0
        for step in range(45):
            clock.advance(STEP)
            for index, instance in enumerate(instances):
                await downstream.refresh_if_stale(instances[(step + index) % 2])
                token = await new_device(instance)
                tokens.append((token, downstream.verify(token).exp))
                signed_by[kid_of(token)] = signed_by.get(kid_of(token), 0) + 1
            now = clock.now().timestamp()
            tokens = [(token, exp) for token, exp in tokens if exp > now]
            for number, (token, _exp) in enumerate(tokens):
                instance = instances[(number + step) % 2]
                status, code = await session_status(instance, token)
                if status != 200:
                    refused.append((step, kid_of(token), code))
                downstream.verify(token)
                checks += 1
            for kid, state in key_states(db_query).items():
                if not history.get(kid) or history[kid][-1] != state:
                    history.setdefault(kid, []).append(state)

        assert refused == []
        assert checks > 500
        (new_kid,) = set(history) - {old_kid}
        assert history[old_kid] == ["active", "retiring", "retired"]
        assert history[new_kid] == ["pending", "active"]
        # Both keys really signed tokens that were checked across the switch.
        assert signed_by[old_kid] >= 10
        assert signed_by[new_kid] >= 10
        jwks = (await second.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [new_kid]
        audit = db_query("SELECT event FROM audit_events WHERE event LIKE 'key_%' ORDER BY id")
        assert [event for (event,) in audit] == [
            "key_created",
            "key_rotated",
            "key_activated",
            "key_retired",
        ]


async def test_a_key_falling_due_as_a_refresh_signs_takes_effect_at_once(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
) -> None:
    """The first request after a rotation falls due is a refresh, which writes before it signs.
    The due activation is a write too: on SQLite, made inside the refresh's transaction it would
    wait for that transaction's own lock (15 s), fail, and leave the old key signing."""
    make_user()
    # Longer than the test: the background refresh stays asleep, so the request meets the due
    # transition first.
    interval = 300
    settings = make_settings(key_refresh_seconds=interval)
    async with client_factory(settings) as client:
        phone = Device(client)
        await phone.login()
        old = kid_of(phone.access)
        pending = cli_json(database_url, "keys", "rotate")["kid"]
        clock.advance(settings.key_publish_ahead + interval)

        refreshed = await phone.refresh_now()

        assert refreshed.status_code == 200, refreshed.text
        assert kid_of(phone.access) == pending != old
