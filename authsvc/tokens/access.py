"""Issue and verify access tokens (RFC 9068 profile, RFC 8725 rules).

Pure functions over keys and a time: no database, no HTTP, so the downstream verifier in
`authsvc.verify` applies exactly the same rules as the service.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import AllowedPrivateKeys, AllowedPublicKeys, get_default_algorithms

from authsvc.errors import InvalidToken, TokenExpired

ACCESS_TOKEN_TYPE = "at+jwt"
# RFC 9068 allows the media type spelled out; both mean the same.
ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# A real token is well under 2 KB; anything far larger is refused before any decoding.
MAX_TOKEN_BYTES = 4096
REQUIRED_CLAIMS = ("iss", "aud", "sub", "sid", "tv", "iat", "nbf", "exp", "jti")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# PyJWT's signature algorithms by name, looked up once; a key never names "none".
_ALGORITHMS = {name: alg for name, alg in get_default_algorithms().items() if name != "none"}


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    alg: str
    key: AllowedPublicKeys | bytes


@dataclass(frozen=True)
class SigningMaterial:
    kid: str
    alg: str
    key: AllowedPrivateKeys | bytes


@dataclass(frozen=True)
class AccessClaims:
    """The verified contents of an access token."""

    sub: str
    sid: str
    tv: int
    jti: str
    iat: int
    exp: int
    roles: tuple[str, ...] = ()
    sess: Mapping[str, Any] = field(default_factory=dict)
    kid: str = ""
    # authsvc issues tokens with nbf == iat; 0 when unknown.
    nbf: int = 0
    # How the user signed in (RFC 8176 values), the assurance level (1: one factor, 2: two)
    # and when; a token without them (issued before they existed) reads as level 1.
    amr: tuple[str, ...] = ()
    aal: int = 1
    auth_time: int | None = None


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    leeway: timedelta = timedelta(seconds=30)


@dataclass(frozen=True)
class Grant:
    """Who and what an access token speaks for: everything it carries but the times and ids."""

    subject: str
    session_id: str
    token_version: int
    roles: tuple[str, ...] = ()
    session_state: Mapping[str, Any] = field(default_factory=dict)
    auth: Authentication | None = None


@dataclass(frozen=True)
class Authentication:
    """How and when a session's login proved who it was; carried by every token it issues."""

    amr: tuple[str, ...]
    aal: int
    auth_time: int


def issue_access_token(
    signer: SigningMaterial,
    policy: TokenPolicy,
    grant: Grant,
    *,
    now: datetime,
    lifetime: timedelta,
) -> tuple[str, AccessClaims]:
    issued_at = int(now.timestamp())
    expires_at = issued_at + int(lifetime.total_seconds())
    jti = secrets.token_urlsafe(16)
    payload = {
        "iss": policy.issuer,
        "aud": policy.audience,
        "sub": grant.subject,
        "sid": grant.session_id,
        "tv": grant.token_version,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": expires_at,
        "jti": jti,
        "roles": list(grant.roles),
        "sess": dict(grant.session_state),
    }
    auth = grant.auth
    if auth is not None:
        payload.update(amr=list(auth.amr), aal=auth.aal, auth_time=auth.auth_time)
    token = jwt.encode(
        payload,
        signer.key,
        algorithm=signer.alg,
        headers={"kid": signer.kid, "typ": ACCESS_TOKEN_TYPE},
    )
    claims = AccessClaims(
        sub=grant.subject,
        sid=grant.session_id,
        tv=grant.token_version,
        jti=jti,
        iat=issued_at,
        exp=expires_at,
        roles=tuple(grant.roles),
        sess=dict(grant.session_state),
        kid=signer.kid,
        nbf=issued_at,
        amr=auth.amr if auth is not None else (),
        aal=auth.aal if auth is not None else 1,
        auth_time=auth.auth_time if auth is not None else None,
    )
    return token, claims


def claim_size(value: Any) -> int:
    """Bytes `value` takes in a token's payload: compact JSON with ASCII escapes, as PyJWT writes
    it (a non-ASCII character is a 6- or 12-byte escape there, not its 2 to 4 UTF-8 bytes)."""
    return len(json.dumps(value, separators=(",", ":")).encode("ascii"))


# Where a route leaves (in request.state) the access token it verified and that token's session
# id, so that the CSRF layer, which binds its token to that session, need not read it again.
VERIFIED_SESSION_STATE = "verified_session"


def unverified_session_id(token: str) -> str | None:
    """The `sid` a token names, read without any check: only to pick which session a CSRF token
    must belong to (the route verifies the token itself and refuses a forged one)."""
    if len(token) > MAX_TOKEN_BYTES or not _COMPACT_JWS.fullmatch(token):
        return None
    # Only the payload segment is decoded: PyJWT's unverified decode would check every
    # character of every segment in Python, which cost more than the signature check.
    try:
        payload = json.loads(_base64url(token.split(".")[1]))
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    sid = payload.get("sid")
    return sid if isinstance(sid, str) and sid else None


@dataclass(frozen=True)
class UnverifiedToken:
    """A compact JWS split and decoded once: the header passed our rules, nothing is verified."""

    header: Mapping[str, Any]
    kid: str
    alg: str
    signing_input: bytes
    payload: bytes
    signature: bytes


def read_token(token: str) -> UnverifiedToken:
    """Check size and shape, decode the segments, and refuse a header we never accept."""
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("The access token is too large.")
    if not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("The access token is not a compact JWS.")
    header_segment, payload_segment, signature_segment = token.split(".")
    try:
        header = json.loads(_base64url(header_segment))
        payload, signature = _base64url(payload_segment), _base64url(signature_segment)
    except (ValueError, RecursionError) as exc:
        raise InvalidToken("The access token header is unreadable.") from exc
    if not isinstance(header, dict):
        raise InvalidToken("The access token header is unreadable.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
        raise InvalidToken("The token is not an access token.")
    if "crit" in header:
        # We understand no critical extension, so RFC 7515 says refuse.
        raise InvalidToken("The access token has unsupported critical headers.")
    kid, alg = header.get("kid"), header.get("alg")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvalidToken("The access token names no valid key.")
    if not isinstance(alg, str):
        raise InvalidToken("The access token names no algorithm.")
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    return UnverifiedToken(header, kid, alg, signing_input, payload, signature)


def read_header(token: str | UnverifiedToken) -> Mapping[str, Any]:
    """The (unverified) header of a token of acceptable size, shape and header rules."""
    return (read_token(token) if isinstance(token, str) else token).header


def verify_access_token(
    token: str | UnverifiedToken,
    keys: Mapping[str, VerificationKey],
    policy: TokenPolicy,
    *,
    now: datetime,
) -> AccessClaims:
    """Verify signature and claims; the caller still checks the token version.

    The token is parsed once (pass what `read_token` returned to skip even that) and its
    signature checked with PyJWT's algorithm for our key: `jwt.decode` would parse it again.
    """
    parsed = read_token(token) if isinstance(token, str) else token
    key = keys.get(parsed.kid)
    if key is None:
        raise InvalidToken("The access token was signed by an unknown key.")
    # The algorithm comes from our key, never from the token (RFC 8725 section 3.1).
    if parsed.alg != key.alg:
        raise InvalidToken("The access token's algorithm does not match its key.")
    algorithm = _ALGORITHMS.get(key.alg)
    if algorithm is None:
        raise InvalidToken("The access token's algorithm is not supported.")
    try:
        valid = algorithm.verify(
            parsed.signing_input, algorithm.prepare_key(key.key), parsed.signature
        )
    except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
        raise InvalidToken() from exc
    if not valid:
        raise InvalidToken()
    try:
        payload = json.loads(parsed.payload)
    except (ValueError, RecursionError) as exc:
        raise InvalidToken("The access token's claims are unreadable.") from exc
    if not isinstance(payload, dict):
        raise InvalidToken("The access token's claims are unreadable.")
    _check_registered_claims(payload, policy)
    return _claims_from_payload(payload, parsed.kid, policy, now)


def _check_registered_claims(payload: Mapping[str, Any], policy: TokenPolicy) -> None:
    """Every required claim present, `iss` ours and `aud` naming us (RFC 7519 sections 4.1.1-3)."""
    for name in REQUIRED_CLAIMS:
        if name not in payload:
            raise InvalidToken(f"The access token has no {name} claim.")
    if payload["iss"] != policy.issuer:
        raise InvalidToken()
    audience = payload["aud"]
    audiences = [audience] if isinstance(audience, str) else audience
    if (
        not isinstance(audiences, list)
        or not all(isinstance(value, str) for value in audiences)
        or policy.audience not in audiences
    ):
        raise InvalidToken()


def _base64url(segment: str) -> bytes:
    # The shape check let only the URL-safe alphabet through; the padding was stripped.
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _claims_from_payload(
    payload: dict[str, Any], kid: str, policy: TokenPolicy, now: datetime
) -> AccessClaims:
    iat, nbf, exp = (_timestamp(payload, name) for name in ("iat", "nbf", "exp"))
    current = now.timestamp()
    leeway = policy.leeway.total_seconds()
    if exp <= current - leeway:
        raise TokenExpired()
    if nbf > current + leeway or iat > current + leeway:
        raise InvalidToken("The access token is not valid yet.")
    sub, sid, jti = payload["sub"], payload["sid"], payload["jti"]
    tv = payload["tv"]
    roles = payload.get("roles", [])
    sess = payload.get("sess", {})
    if not all(isinstance(value, str) and value for value in (sub, sid, jti)):
        raise InvalidToken("The access token has malformed claims.")
    if not isinstance(tv, int) or isinstance(tv, bool) or tv < 0:
        raise InvalidToken("The access token has a malformed token version.")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken("The access token has malformed roles.")
    if not isinstance(sess, dict):
        raise InvalidToken("The access token has malformed session state.")
    amr, aal, auth_time = _authentication_claims(payload)
    return AccessClaims(
        sub=sub,
        sid=sid,
        tv=tv,
        jti=jti,
        iat=int(iat),
        exp=int(exp),
        roles=tuple(roles),
        sess=sess,
        kid=kid,
        nbf=int(nbf),
        amr=amr,
        aal=aal,
        auth_time=auth_time,
    )


def _authentication_claims(payload: Mapping[str, Any]) -> tuple[tuple[str, ...], int, int | None]:
    """`amr`, `aal` and `auth_time`, each optional; a malformed one refuses the token."""
    amr = payload.get("amr", [])
    aal = payload.get("aal", 1)
    auth_time = payload.get("auth_time")
    if not isinstance(amr, list) or not all(isinstance(value, str) for value in amr):
        raise InvalidToken("The access token has a malformed amr claim.")
    if isinstance(aal, bool) or aal not in (1, 2, 3):
        raise InvalidToken("The access token has a malformed aal claim.")
    if auth_time is not None and (isinstance(auth_time, bool) or not isinstance(auth_time, int)):
        raise InvalidToken("The access token has a malformed auth_time claim.")
    return tuple(amr), aal, auth_time


def _timestamp(payload: Mapping[str, Any], name: str) -> float:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"The access token's {name} claim is not a number.")
    return float(value)
