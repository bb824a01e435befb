"""The downstream TokenVerifier against an in-process authsvc: claims, caches, JWKS, FastAPI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI

from authsvc.config import Settings
from authsvc.errors import InvalidToken, TokenExpired, TokenRevoked
from authsvc.verify import DatabaseSource, TokenVerifier, VerifiedSession, VerifierUnavailable
from tests.conftest import PASSWORD
from tests.helpers.support import FakeClock
from tests.helpers.verify import (
    AppHttp,
    SyncClient,
    authsvc_test_client,
    sync_asgi_client,
    verifier_for_app,
)


@pytest.fixture
def authsvc(settings: Settings, clock: FakeClock, fast_hasher: Any) -> Iterator[SyncClient]:
    with authsvc_test_client(settings, clock=clock, hasher=fast_hasher) as client:
        yield client


@pytest.fixture
def versions(database_url: str) -> Iterator[DatabaseSource]:
    source = DatabaseSource(database_url)
    yield source
    source.close()


@pytest.fixture
def verifier(authsvc: SyncClient, versions: DatabaseSource, clock: FakeClock) -> TokenVerifier:
    return verifier_for_app(authsvc, versions=versions, clock=clock)


def log_in(authsvc: SyncClient, username: str = "alice") -> str:
    response = authsvc.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.cookies.get("authsvc_at")
    assert token
    authsvc.cookies.clear()
    return token


def logout_everywhere(authsvc: SyncClient, token: str) -> None:
    response = authsvc.post("/logout?everywhere=true", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"logged_out": True, "everywhere": True}


def test_a_token_from_authsvc_verifies_into_its_session(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: Callable[..., str]
) -> None:
    user_id = make_user(roles=["admin", "staff"])
    session = verifier.verify(log_in(authsvc))
    me = authsvc.get("/session", headers={"Authorization": f"Bearer {log_in(authsvc)}"}).json()
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
    make_user: Callable[..., str],
) -> None:
    make_user()
    token = log_in(authsvc)
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
    make_user: Callable[..., str],
) -> None:
    make_user()
    token = log_in(authsvc)
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
    make_user: Callable[..., str],
) -> None:
    make_user()
    http = DroppableKeys(AppHttp(authsvc))
    verifier = TokenVerifier(settings.issuer, versions=versions, clock=clock, http=http)
    token = log_in(authsvc)
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
    authsvc: SyncClient, verifier: TokenVerifier, clock: FakeClock, make_user: Callable[..., str]
) -> None:
    from tests.verify.test_rules import foreign_token

    make_user()
    verifier.verify(log_in(authsvc))
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
    authsvc: SyncClient, verifier: TokenVerifier, make_user: Callable[..., str]
) -> None:
    make_user()
    verifier.verify(log_in(authsvc))
    http = verifier.jwks._http
    assert isinstance(http, AppHttp)
    assert http.requests == [
        "http://authsvc.test/.well-known/openid-configuration",
        "http://authsvc.test/.well-known/jwks.json",
    ]


def test_discovery_refuses_metadata_that_names_another_issuer(
    authsvc: SyncClient, versions: DatabaseSource, clock: FakeClock, make_user: Callable[..., str]
) -> None:
    make_user()
    token = log_in(authsvc)
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
    make_user: Callable[..., str],
) -> None:
    from sqlalchemy import text

    from authsvc.storage.engine import make_engine

    user_id = make_user()
    token = log_in(authsvc)
    verifier.verify(token)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE users SET disabled = true WHERE id = :id"), {"id": user_id})
    engine.dispose()
    with pytest.raises(TokenRevoked):
        verifier.verify(token)


# --- FastAPI ---------------------------------------------------------------------------


def downstream_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    verifier.install(app)

    @app.get("/me")
    def me(session: VerifiedSession = Depends(verifier.session)) -> dict[str, Any]:  # noqa: B008
        return {"user": session.user_id, "roles": list(session.roles), "sid": session.session_id}

    @app.get("/admin")
    def admin(
        session: VerifiedSession = Depends(verifier.require_roles("admin")),  # noqa: B008
    ) -> dict[str, str]:
        return {"admin": session.user_id}

    return app


def test_fastapi_dependency_answers_401_403_or_the_session(
    authsvc: SyncClient, verifier: TokenVerifier, make_user: Callable[..., str]
) -> None:
    alice = make_user("alice", roles=["admin"])
    make_user("bob")
    alice_token, bob_token = log_in(authsvc, "alice"), log_in(authsvc, "bob")
    with sync_asgi_client(downstream_app(verifier), "http://service.test") as service:
        anonymous = service.get("/me")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "not_authenticated"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        by_cookie = service.get("/me", headers={"Cookie": f"authsvc_at={alice_token}"})
        assert by_cookie.json()["user"] == alice
        by_host_cookie = service.get("/me", headers={"Cookie": f"__Host-authsvc_at={alice_token}"})
        assert by_host_cookie.json()["user"] == alice
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
    authsvc: SyncClient, clock: FakeClock, make_user: Callable[..., str]
) -> None:
    from tests.helpers.support import free_port

    make_user()
    token = log_in(authsvc)
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

    def get(self, url: str) -> Any:
        from dataclasses import replace

        response = self.inner.get(url)
        if self.drop_keys and url.endswith("/jwks.json"):
            return replace(response, body=b'{"keys": []}')
        return response

    def post_form(self, url: str, data: Any, *, basic_auth: Any = None) -> Any:
        return self.inner.post_form(url, data, basic_auth=basic_auth)


class RewriteHost(AppHttp):
    """Sends any host's requests to the in-process authsvc."""

    def get(self, url: str) -> Any:
        return super().get(url.replace("http://other.test", "http://authsvc.test"))


def test_the_introspection_source_asks_authsvc_and_honours_revocation(
    make_settings: Callable[..., Settings],
    clock: FakeClock,
    fast_hasher: Any,
    make_user: Callable[..., str],
) -> None:
    from authsvc.services.introspection import new_client_secret
    from authsvc.verify import IntrospectionSource

    secret, digest = new_client_secret()
    settings = make_settings(introspection_clients=f"svc:{digest}")
    make_user()
    with authsvc_test_client(settings, clock=clock, hasher=fast_hasher) as authsvc:
        source = IntrospectionSource(
            "http://authsvc.test/introspect", "svc", secret, http=AppHttp(authsvc)
        )
        verifier = verifier_for_app(authsvc, versions=source, clock=clock)
        token = log_in(authsvc)
        assert verifier.verify(token).token_version == 0
        logout_everywhere(authsvc, token)
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
        assert source.reads == 2
        wrong = IntrospectionSource(
            "http://authsvc.test/introspect", "svc", "nope", http=AppHttp(authsvc)
        )
        with pytest.raises(VerifierUnavailable):
            verifier_for_app(authsvc, versions=wrong, clock=clock).verify(log_in(authsvc))


def test_hs256_mode_verifies_with_the_shared_secrets_given_to_the_service(
    make_settings: Callable[..., Settings],
    database_url: str,
    clock: FakeClock,
    fast_hasher: Any,
    make_user: Callable[..., str],
) -> None:
    from authsvc.keys.ring import KeyRing
    from authsvc.verify import StaticKeys

    secret = "a-shared-secret-for-hs256-mode-0123456789abcdef"
    settings = make_settings(jwt_secrets=secret, key_encryption_secret=None)
    make_user()
    with authsvc_test_client(settings, clock=clock, hasher=fast_hasher) as authsvc:
        token = log_in(authsvc)
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
