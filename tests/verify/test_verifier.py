"""The downstream TokenVerifier against an in-process authsvc: claims, caches, JWKS, FastAPI."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace

import pytest
from fastapi import Depends, FastAPI

from authsvc.config import Settings
from authsvc.errors import InvalidToken, TokenExpired, TokenRevoked
from authsvc.keys.ring import KeyRing
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.services.introspection import new_client_secret
from authsvc.verify import (
    DatabaseSource,
    HttpResponse,
    IntrospectionSource,
    StaticKeys,
    TokenVerifier,
    VerifiedSession,
    VerifierUnavailable,
)
from authsvc.verify.jwks import JwksCache
from tests.helpers.asgi import SyncClient, authsvc_test_client, sync_asgi_client
from tests.helpers.clock import FakeClock
from tests.helpers.database import execute
from tests.helpers.fixture_types import MakeSettings, MakeUser
from tests.helpers.forged import foreign_token
from tests.helpers.login import bearer_token_sync
from tests.helpers.processes import free_port
from tests.helpers.sessions import logout_everywhere
from tests.helpers.verifiers import AppHttp, verifier_for_app


@pytest.fixture
def versions(database_url: str) -> Iterator[DatabaseSource]:
    source = DatabaseSource(database_url)
    yield source
    source.close()


@pytest.fixture
def verifier(authsvc: SyncClient, versions: DatabaseSource, clock: FakeClock) -> TokenVerifier:
    return verifier_for_app(authsvc, versions=versions, clock=clock)


def test_a_token_from_authsvc_verifies_into_its_session(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: MakeUser
) -> None:
    user_id = make_user(roles=["admin", "staff"])
    session = verifier.verify(bearer_token_sync(authsvc))
    me = authsvc.get(
        "/session", headers={"Authorization": f"Bearer {bearer_token_sync(authsvc)}"}
    ).json()
    assert session.user_id == user_id
    assert session.roles == ("admin", "staff")
    assert session.token_version == 0
    assert session.state == {}
    assert session.session_id
    assert me["user"]["id"] == user_id


def test_a_seen_token_skips_the_signature_but_not_the_version_check(
    authsvc: SyncClient,
    verifier: TokenVerifier,
    versions: DatabaseSource,
    make_user: MakeUser,
) -> None:
    make_user()
    token = bearer_token_sync(authsvc)
    verifier.verify(token)
    verifier.verify(token)
    assert verifier.stats.cache_hits == 1
    assert versions.reads == 2
    logout_everywhere(authsvc, token)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)
    assert verifier.stats.cache_hits == 2


def test_a_cached_token_does_not_outlive_its_exp(
    authsvc: SyncClient,
    verifier: TokenVerifier,
    clock: FakeClock,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    make_user()
    token = bearer_token_sync(authsvc)
    verifier.verify(token)
    clock.advance(settings.access_token_ttl_seconds + settings.clock_leeway_seconds + 1)
    with pytest.raises(TokenExpired):
        verifier.verify(token)
    assert len(verifier.cache) == 0


def test_a_cached_token_dies_with_its_key_when_the_jwks_drops_it(
    authsvc: SyncClient,
    versions: DatabaseSource,
    clock: FakeClock,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    make_user()
    http = DroppableKeys(AppHttp(authsvc))
    verifier = TokenVerifier(settings.issuer, versions=versions, clock=clock, http=http)
    assert isinstance(verifier.jwks, JwksCache)
    token = bearer_token_sync(authsvc)
    verifier.verify(token)
    http.drop_keys = True
    clock.advance(settings.jwks_max_age_seconds - 1)
    verifier.verify(token)  # the JWKS is still fresh for its max-age: no refetch yet
    assert verifier.jwks.fetches == 1
    clock.advance(2)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    assert verifier.jwks.fetches == 2


def test_an_unknown_kid_refetches_the_jwks_at_a_bounded_rate(
    authsvc: SyncClient, verifier: TokenVerifier, clock: FakeClock, make_user: MakeUser
) -> None:
    assert isinstance(verifier.jwks, JwksCache)
    make_user()
    verifier.verify(bearer_token_sync(authsvc))
    assert verifier.jwks.fetches == 1
    forged = foreign_token(issuer=verifier.issuer)
    with pytest.raises(InvalidToken):
        verifier.verify(forged)
    assert verifier.jwks.fetches == 1  # the set was fetched a moment ago: no refetch yet
    clock.advance(11)
    for _ in range(5):
        with pytest.raises(InvalidToken):
            verifier.verify(forged)
    assert verifier.jwks.fetches == 2
    clock.advance(11)
    with pytest.raises(InvalidToken):
        verifier.verify(forged)
    assert verifier.jwks.fetches == 3


def test_the_jwks_is_discovered_through_the_issuer_metadata(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: MakeUser
) -> None:
    assert isinstance(verifier.jwks, JwksCache)
    make_user()
    verifier.verify(bearer_token_sync(authsvc))
    http = verifier.jwks._http
    assert isinstance(http, AppHttp)
    assert http.requests == [
        "http://authsvc.test/.well-known/openid-configuration",
        "http://authsvc.test/.well-known/jwks.json",
    ]


def test_discovery_refuses_metadata_that_names_another_issuer(
    authsvc: SyncClient, versions: DatabaseSource, clock: FakeClock, make_user: MakeUser
) -> None:
    make_user()
    token = bearer_token_sync(authsvc)
    # authsvc answers as http://authsvc.test; a verifier told another issuer must not trust it.
    impostor = TokenVerifier(
        "http://other.test", versions=versions, clock=clock, http=RewriteHost(authsvc)
    )
    with pytest.raises(VerifierUnavailable):
        impostor.verify(token)


def test_a_disabled_user_is_refused_by_the_database_source(
    authsvc: SyncClient,
    verifier: TokenVerifier,
    database_url: str,
    make_user: MakeUser,
) -> None:
    user_id = make_user()
    token = bearer_token_sync(authsvc)
    verifier.verify(token)
    execute(database_url, "UPDATE users SET disabled = true WHERE id = :id", id=user_id)
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


# --- FastAPI ---------------------------------------------------------------------------


def downstream_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    verifier.install(app)

    @app.get("/me")
    def me(session: VerifiedSession = Depends(verifier.session)) -> dict[str, object]:  # noqa: B008
        return {"user": session.user_id, "roles": list(session.roles), "sid": session.session_id}

    @app.get("/admin")
    def admin(
        session: VerifiedSession = Depends(verifier.require_roles("admin")),  # noqa: B008
    ) -> dict[str, str]:
        return {"admin": session.user_id}

    return app


def test_fastapi_dependency_answers_401_403_or_the_session(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: MakeUser
) -> None:
    alice = make_user("alice", roles=["admin"])
    make_user("bob")
    alice_token, bob_token = bearer_token_sync(authsvc, "alice"), bearer_token_sync(authsvc, "bob")
    with sync_asgi_client(downstream_app(verifier), "http://service.test") as service:
        anonymous = service.get("/me")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "not_authenticated"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        by_cookie = service.get("/me", headers={"Cookie": f"authsvc_at={alice_token}"})
        assert by_cookie.json()["user"] == alice
        by_host_cookie = service.get("/me", headers={"Cookie": f"__Host-authsvc_at={alice_token}"})
        # authsvc at an http:// issuer never sets the __Host- name (see test_browser_requests).
        assert by_host_cookie.status_code == 401
        assert by_host_cookie.json()["error"] == "not_authenticated"
        by_bearer = service.get("/admin", headers={"Authorization": f"Bearer {alice_token}"})
        assert by_bearer.json() == {"admin": alice}
        forbidden = service.get("/admin", headers={"Authorization": f"Bearer {bob_token}"})
        assert forbidden.status_code == 403
        assert forbidden.json()["error"] == "forbidden"
        garbage = service.get("/me", headers={"Authorization": "Bearer not.a.token"})
        assert garbage.status_code == 401
        assert garbage.json()["error"] == "invalid_token"
        logout_everywhere(authsvc, alice_token)
        revoked = service.get("/me", headers={"Cookie": f"authsvc_at={alice_token}"})
        assert revoked.status_code == 401
        assert revoked.json()["error"] == "token_revoked"


def test_fastapi_dependency_fails_closed_with_503_when_the_source_is_down(
    authsvc: SyncClient, clock: FakeClock, make_user: MakeUser
) -> None:
    make_user()
    token = bearer_token_sync(authsvc)
    unreachable = DatabaseSource(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    verifier = verifier_for_app(authsvc, versions=unreachable, clock=clock)
    with sync_asgi_client(downstream_app(verifier), "http://service.test") as service:
        response = service.get("/me", headers={"Cookie": f"authsvc_at={token}"})
    unreachable.close()
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"


class DroppableKeys:
    """Passes requests through, but can serve an empty key set (a key removed from the JWKS)."""

    def __init__(self, inner: AppHttp):
        self.inner = inner
        self.drop_keys = False

    def get(self, url: str) -> HttpResponse:
        response = self.inner.get(url)
        if self.drop_keys and url.endswith("/jwks.json"):
            return replace(response, body=b'{"keys": []}')
        return response

    def post_form(
        self, url: str, data: Mapping[str, str], *, basic_auth: tuple[str, str] | None = None
    ) -> HttpResponse:
        return self.inner.post_form(url, data, basic_auth=basic_auth)


class RewriteHost(AppHttp):
    """Sends any host's requests to the in-process authsvc."""

    def get(self, url: str) -> HttpResponse:
        return super().get(url.replace("http://other.test", "http://authsvc.test"))


def test_the_introspection_source_asks_authsvc_and_honours_revocation(
    make_settings: MakeSettings,
    clock: FakeClock,
    fast_hasher: Argon2Hasher,
    make_user: MakeUser,
) -> None:
    secret, digest = new_client_secret()
    settings = make_settings(introspection_clients=f"svc:{digest}")
    make_user()
    with authsvc_test_client(settings, clock=clock, hasher=fast_hasher) as authsvc:
        source = IntrospectionSource(
            "http://authsvc.test/introspect", "svc", secret, http=AppHttp(authsvc)
        )
        verifier = verifier_for_app(authsvc, versions=source, clock=clock)
        token = bearer_token_sync(authsvc)
        assert verifier.verify(token).token_version == 0
        logout_everywhere(authsvc, token)
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
        assert source.reads == 2
        wrong = IntrospectionSource(
            "http://authsvc.test/introspect", "svc", "nope", http=AppHttp(authsvc)
        )
        with pytest.raises(VerifierUnavailable):
            verifier_for_app(authsvc, versions=wrong, clock=clock).verify(
                bearer_token_sync(authsvc)
            )


def test_hs256_mode_verifies_with_the_shared_secrets_given_to_the_service(
    make_settings: MakeSettings,
    database_url: str,
    clock: FakeClock,
    fast_hasher: Argon2Hasher,
    make_user: MakeUser,
) -> None:
    secret = "a-shared-secret-for-hs256-mode-0123456789abcdef"
    settings = make_settings(jwt_secrets=secret, key_encryption_secret=None)
    make_user()
    with authsvc_test_client(settings, clock=clock, hasher=fast_hasher) as authsvc:
        token = bearer_token_sync(authsvc)
        versions = DatabaseSource(database_url)
        # Nothing is published in HS256 mode: the JWKS-based verifier knows no key...
        published = verifier_for_app(authsvc, versions=versions, clock=clock)
        with pytest.raises(InvalidToken):
            published.verify(token)
        # ...and a service given the secrets verifies, with HS256 pinned by the key.
        ring = KeyRing.from_secrets([secret])
        verifier = TokenVerifier(
            settings.issuer,
            versions=versions,
            clock=clock,
            keys=StaticKeys(ring.verification_keys),
        )
        assert verifier.verify(token).token_version == 0
        other = KeyRing.from_secrets(["another-secret-entirely-0123456789abcdefgh"])
        stranger = TokenVerifier(
            settings.issuer,
            versions=versions,
            clock=clock,
            keys=StaticKeys(other.verification_keys),
        )
        with pytest.raises(InvalidToken):
            stranger.verify(token)
        versions.close()
