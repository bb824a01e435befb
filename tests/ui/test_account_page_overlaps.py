"""The account page's new-password form when the account is signed out everywhere meanwhile."""

from __future__ import annotations

from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.hashing import GatedHasher, held_inside_hashing
from tests.helpers.headers import bearer
from tests.helpers.login import bearer_token
from tests.helpers.pages import sign_in_through_page, submit

NEW_PASSWORD = "a much longer passphrase 2024"


async def test_a_new_password_overlapping_a_sign_out_everywhere_sends_the_browser_to_sign_in(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    alice_id = make_user()
    gated = GatedHasher()
    # Slots enough for the held request and the change beside it, whatever the machine's cores.
    settings = make_settings(password_hashing_workers=4)
    async with (
        client_factory(settings, browser=False, hasher=gated) as browser,
        client_factory(settings) as phone,
    ):
        assert (await sign_in_through_page(browser)).status_code == 303
        page = await browser.get("/ui/account")
        token = await bearer_token(phone)
        fields = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}

        change = submit(browser, page, "/ui/account/password", fields)
        async with held_inside_hashing(gated, change) as held:
            logout = await phone.post("/logout?everywhere=true", headers=bearer(token))
            assert logout.status_code == 200, logout.text
        response = await held

    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/ui/login?")
    alive = db_query(
        "SELECT id FROM sessions WHERE user_id = :id AND ended_at IS NULL", id=alice_id
    )
    assert alive == []
    [(stored,)] = db_query("SELECT password_hash FROM users WHERE id = :id", id=alice_id)
    assert gated.verify(PASSWORD, stored).ok
