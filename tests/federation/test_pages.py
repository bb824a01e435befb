"""The hosted pages: "Sign in with ..." buttons, linked identities, provider errors as a page."""

from __future__ import annotations

from authsvc.config import Settings
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import log_in
from tests.helpers.oidc import MockProvider, local_path

HTML = {"Accept": "text/html"}


def _settings(make_settings: MakeSettings, provider: MockProvider) -> Settings:
    setting = provider.provider_setting(display_name="Mock ID")
    return make_settings(registration="open", oauth_providers=[setting])


async def test_the_sign_in_and_register_pages_offer_each_provider(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        for page in ("/ui/login?next=/ui/account", "/ui/register"):
            body = (await client.get(page)).text
            assert "Sign in with Mock ID" in body
            assert 'href="/oauth/mock/authorize' in body


async def test_a_provider_error_is_shown_as_a_page(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        started = await client.get("/oauth/mock/authorize")
        back = oidc_provider.consent(started.headers["location"], "", deny=True)
        response = await client.get(local_path(back), headers=HTML)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?notice=provider-denied"
        page = await client.get(response.headers["location"], headers=HTML)
        assert page.status_code == 200
        assert "The identity provider did not sign you in." in page.text


async def test_the_account_page_lists_linked_identities(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
) -> None:
    make_user("alice")
    oidc_provider.set_user("page-alice", email="alice-page@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        await log_in(client)
        before = (await client.get("/ui/account")).text
        assert "No identity linked yet." in before and "Link Mock ID" in before
        started = await client.get("/oauth/mock/authorize", params={"link": "true"})
        back = oidc_provider.consent(started.headers["location"], "page-alice")
        assert (await client.get(local_path(back), headers=HTML)).status_code == 303
        after = (await client.get("/ui/account")).text
        assert "Mock ID (alice-page@example.com)" in after
