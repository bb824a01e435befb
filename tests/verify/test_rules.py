"""The verifier applies authsvc's RFC 8725 rules to whatever the JWKS holds (no server needed)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from authsvc.errors import InvalidToken, TokenExpired, TokenRevoked, VerifierUnavailable
from authsvc.keys.material import PrivateKey, public_jwk
from authsvc.verify import TokenVerifier
from authsvc.verify.jwks import JwksCache
from tests.helpers.clock import FakeClock
from tests.helpers.forged import access_claims
from tests.helpers.token_attacks import b64
from tests.helpers.verifiers import StaticHttp

ISSUER = "http://issuer.test"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"


class FixedVersions:
    """A token-version source with known answers."""

    def __init__(self, versions: dict[str, int | None]):
        self.versions = versions
        self.reads = 0

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        self.reads += 1
        return self.versions.get(user_id)

    def close(self) -> None:
        pass


def claims(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    """A valid token's claims for this module's issuer and user, then the overrides."""
    ours = {"iss": ISSUER, "sub": "user-1", "sid": "session-1", "tv": 3, "jti": "jti-1"}
    ours |= {"roles": ["staff"], "sess": {"theme": "dark"}}
    return access_claims(clock.now(), **{**ours, **overrides})


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return public_jwk(key, "ES256")


@pytest.fixture
def versions() -> FixedVersions:
    return FixedVersions({"user-1": 3})


@pytest.fixture
def verifier(jwk: dict[str, Any], versions: FixedVersions, clock: FakeClock) -> TokenVerifier:
    http = StaticHttp({JWKS_URL: {"keys": [jwk]}}, {"cache-control": "public, max-age=300"})
    return TokenVerifier(ISSUER, versions=versions, jwks_url=JWKS_URL, clock=clock, http=http)


def sign(key: PrivateKey, payload: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", **header}
    return jwt.encode(payload, key, algorithm=headers.pop("alg", "ES256"), headers=headers)


def test_a_good_token_passes(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], clock: FakeClock
) -> None:
    token = sign(key, claims(clock), kid=jwk["kid"])
    session = verifier.verify(token)
    assert (session.user_id, session.roles, session.state) == (
        "user-1",
        ("staff",),
        {"theme": "dark"},
    )
    with pytest.raises(TypeError):
        session.state["theme"] = "light"  # type: ignore[index]
    assert verifier.verify(token).state == {"theme": "dark"}


def refusal_code(verifier: TokenVerifier, token: str) -> str:
    """The code the verifier refuses the token with (TokenRevoked is an InvalidToken too, so
    the type alone would not tell a claim check from the token-version check)."""
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(token)
    return refused.value.code


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iss", "http://evil.test"),
        ("aud", "another-service"),
        ("nbf", 10**10),
        ("tv", "3"),
        ("tv", -1),
        ("tv", True),
        ("sub", ""),
        ("sub", 1),
        ("sid", ""),
        ("roles", "admin"),
        ("sess", ["state"]),
    ],
)
def test_wrong_claims_are_refused(
    verifier: TokenVerifier,
    key: ec.EllipticCurvePrivateKey,
    jwk: dict[str, Any],
    clock: FakeClock,
    claim: str,
    value: object,
) -> None:
    token = sign(key, claims(clock, **{claim: value}), kid=jwk["kid"])
    assert refusal_code(verifier, token) == "invalid_token"


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "sid", "tv", "exp", "jti"])
def test_required_claims_are_required(
    verifier: TokenVerifier,
    key: ec.EllipticCurvePrivateKey,
    jwk: dict[str, Any],
    clock: FakeClock,
    missing: str,
) -> None:
    payload = claims(clock)
    del payload[missing]
    code = refusal_code(verifier, sign(key, payload, kid=jwk["kid"]))
    assert code == "invalid_token"


def test_expiry_is_checked_with_the_leeway(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], clock: FakeClock
) -> None:
    token = sign(key, claims(clock), kid=jwk["kid"])
    clock.advance(900 + 29)
    verifier.verify(token)
    clock.advance(2)
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_only_access_tokens_are_accepted(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], clock: FakeClock
) -> None:
    for typ in ("JWT", "id_token+jwt"):
        with pytest.raises(InvalidToken):
            verifier.verify(sign(key, claims(clock), kid=jwk["kid"], typ=typ))


def test_the_algorithm_comes_from_the_key_not_the_token(
    verifier: TokenVerifier, jwk: dict[str, Any], clock: FakeClock
) -> None:
    # HS256 keyed with the public key: accepted by a naive verifier that trusts `alg`.
    header = {"alg": "HS256", "kid": jwk["kid"], "typ": "at+jwt"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(clock)).encode())}"
    secret = json.dumps(jwk, sort_keys=True).encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{b64(mac)}"
    with pytest.raises(InvalidToken):
        verifier.verify(confused)
    unsigned = jwt.encode(claims(clock), "", algorithm="none", headers={"kid": jwk["kid"]})
    with pytest.raises(InvalidToken):
        verifier.verify(unsigned)


def test_a_token_signed_by_a_key_of_the_wrong_type_is_refused(
    verifier: TokenVerifier, jwk: dict[str, Any], clock: FakeClock
) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    token = sign(other, claims(clock), kid=jwk["kid"], alg="EdDSA")
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_oversized_tokens_are_refused_before_parsing(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], clock: FakeClock
) -> None:
    token = sign(key, claims(clock, sess={"pad": "x" * 5000}), kid=jwk["kid"])
    with pytest.raises(InvalidToken, match="too large"):
        verifier.verify(token)


def test_jku_and_embedded_jwk_headers_are_ignored(
    verifier: TokenVerifier, jwk: dict[str, Any], clock: FakeClock
) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    attacker_jwk = public_jwk(attacker, "ES256")
    token = sign(
        attacker,
        claims(clock),
        kid=jwk["kid"],
        jku="http://evil.test/jwks.json",
        jwk=attacker_jwk,
    )
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_a_key_without_a_stated_or_allowed_algorithm_is_never_used(
    key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], versions: FixedVersions, clock: FakeClock
) -> None:
    unstated = {name: value for name, value in jwk.items() if name != "alg"}
    http = StaticHttp({JWKS_URL: {"keys": [unstated, {"kty": "oct", "kid": "s", "k": "AAAA"}]}})
    verifier = TokenVerifier(ISSUER, versions=versions, jwks_url=JWKS_URL, clock=clock, http=http)
    with pytest.raises(InvalidToken):
        verifier.verify(sign(key, claims(clock), kid=jwk["kid"]))


def test_the_version_check_refuses_old_versions_and_unknown_users(
    verifier: TokenVerifier,
    versions: FixedVersions,
    key: ec.EllipticCurvePrivateKey,
    jwk: dict[str, Any],
    clock: FakeClock,
) -> None:
    old = sign(key, claims(clock, tv=2), kid=jwk["kid"])
    stranger = sign(key, claims(clock, sub="user-2"), kid=jwk["kid"])
    for token in (old, stranger):
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
        with pytest.raises(TokenRevoked):
            verifier.verify(token)  # and again from the verified-token cache
    assert versions.reads == 4


def test_the_jwks_max_age_is_honoured_and_bounded(
    key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], versions: FixedVersions, clock: FakeClock
) -> None:
    http = StaticHttp({JWKS_URL: {"keys": [jwk]}}, {"cache-control": "max-age=60"})
    verifier = TokenVerifier(ISSUER, versions=versions, jwks_url=JWKS_URL, clock=clock, http=http)
    token = sign(key, claims(clock), kid=jwk["kid"])
    verifier.verify(token)
    clock.advance(59)
    verifier.verify(token)
    assert len(http.requests) == 1
    clock.advance(2)
    verifier.verify(token)
    assert len(http.requests) == 2
    http.headers = {"cache-control": "no-store"}
    clock.advance(61)
    verifier.verify(token)
    clock.advance(4)
    verifier.verify(token)
    assert len(http.requests) == 3  # no-store still caches for the 5-second floor
    clock.advance(2)
    verifier.verify(token)
    assert len(http.requests) == 4


def test_a_failed_refetch_keeps_the_previous_keys(
    verifier: TokenVerifier, key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], clock: FakeClock
) -> None:
    token = sign(key, claims(clock), kid=jwk["kid"])
    verifier.verify(token)
    assert isinstance(verifier.jwks, JwksCache)
    http = verifier.jwks._http
    assert isinstance(http, StaticHttp)
    http.documents.clear()  # the JWKS endpoint now answers 404
    clock.advance(301)
    assert verifier.verify(token).user_id == "user-1"


def test_stale_keys_serve_only_for_a_bounded_time_then_the_verifier_fails_closed(
    key: ec.EllipticCurvePrivateKey, jwk: dict[str, Any], versions: FixedVersions, clock: FakeClock
) -> None:
    """An attacker who can block the JWKS fetch must not keep a revoked key alive forever."""
    http = StaticHttp({JWKS_URL: {"keys": [jwk]}}, {"cache-control": "max-age=300"})
    verifier = TokenVerifier(
        ISSUER, versions=versions, jwks_url=JWKS_URL, clock=clock, http=http, jwks_max_stale=600
    )
    # A token that outlives the test, so that only the key set's staleness can refuse it.
    token = sign(key, claims(clock, exp=int(clock.now().timestamp()) + 86400), kid=jwk["kid"])
    assert verifier.verify(token).user_id == "user-1"
    documents = dict(http.documents)
    http.documents.clear()  # every refetch fails from now on
    clock.advance(300 + 599)  # fresh for 300 s, then stale for 599 s: still served
    assert verifier.verify(token).user_id == "user-1"
    clock.advance(2)
    with pytest.raises(VerifierUnavailable):
        verifier.verify(token)
    with pytest.raises(VerifierUnavailable):
        verifier.verify(token)  # the verified-token cache does not outlive the key set either
    # The key set comes back as soon as a fetch succeeds again.
    http.documents.update(documents)
    clock.advance(6)
    assert verifier.verify(token).user_id == "user-1"
