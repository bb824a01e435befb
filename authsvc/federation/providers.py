"""Talking to an external provider: the authorization URL, the code exchange, who signed in.

HTTP is httpx; an OpenID Connect ID token is checked with joserfc against the provider's JWKS
(signature with the algorithms the discovery document lists, `iss`, `aud`, `exp`, `nonce`).
GitHub has no ID token: the user comes from its API, and an email only from `/user/emails`
where GitHub says it is the primary, verified address.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authsvc.config.federation import ProviderConfig, ProviderKind
from authsvc.errors import IdTokenInvalid, ProviderUnavailable

# What a provider's answer may weigh before we parse it.
_MAX_BODY = 256 * 1024
# Seconds a discovery document and key set are reused before being fetched again.
_METADATA_TTL = 3600
_TIMEOUT = httpx.Timeout(10.0)
# Asymmetric algorithms only: an HMAC ID token would be signed with the shared client secret.
_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class ExternalIdentity:
    """Who the provider says signed in, and what it vouches for."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    # What the provider reported about how the person authenticated (`amr`, `acr`).
    amr: tuple[str, ...] = ()
    acr: str | None = None


@dataclass(frozen=True)
class Exchange:
    """What the callback brings back for one sign-in, checked against what the start stored."""

    code: str
    redirect_uri: str
    code_verifier: str
    nonce: str


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _Metadata:
    document: dict[str, Any]
    keys: KeySet | None
    fetched_at: float


@dataclass
class ProviderClient:
    """One configured provider; its discovery document and key set cached in memory."""

    config: ProviderConfig
    http: Callable[[], httpx.Client] = field(default=lambda: httpx.Client(timeout=_TIMEOUT))
    _metadata: _Metadata | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.config.name

    def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        """Where the browser goes to sign in at the provider."""
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "code_challenge": s256(code_verifier),
            "code_challenge_method": "S256",
        }
        if self.config.kind is ProviderKind.github:
            endpoint = self.config.github_authorize_url
        else:
            endpoint = _endpoint(self._document(), "authorization_endpoint")
            params["nonce"] = nonce
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"

    def identify(self, exchange: Exchange, *, now: datetime) -> ExternalIdentity:
        """Exchange the code and say who signed in; the provider's word is checked first."""
        if self.config.kind is ProviderKind.github:
            return self._github_identity(exchange)
        return self._oidc_identity(exchange, now=now)

    def _oidc_identity(self, exchange: Exchange, *, now: datetime) -> ExternalIdentity:
        document = self._document()
        answer = self._token_request(_endpoint(document, "token_endpoint"), exchange)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > 16 * 1024:
            raise IdTokenInvalid("The provider sent no ID token.")
        claims = self._verified_claims(id_token, document, exchange.nonce, now=now)
        amr = claims.get("amr")
        acr = claims.get("acr")
        return ExternalIdentity(
            provider=self.name,
            subject=_subject(claims.get("sub")),
            email=_text(claims.get("email")),
            # Only a JSON true: some providers send the string "true", which proves nothing here.
            email_verified=claims.get("email_verified") is True,
            amr=tuple(v for v in amr if isinstance(v, str)) if isinstance(amr, list) else (),
            acr=acr if isinstance(acr, str) else None,
        )

    def _verified_claims(
        self, id_token: str, document: dict[str, Any], nonce: str, *, now: datetime
    ) -> dict[str, Any]:
        algorithms = [
            alg
            for alg in document.get("id_token_signing_alg_values_supported") or ["RS256"]
            if alg in _ALGORITHMS
        ]
        try:
            token = jwt.decode(id_token, self._keys(), algorithms=algorithms)
        except (JoseError, ValueError):
            # A key the provider rotated in since we fetched its set: fetch once more.
            try:
                token = jwt.decode(id_token, self._keys(refresh=True), algorithms=algorithms)
            except (JoseError, ValueError):
                raise IdTokenInvalid("The ID token's signature does not verify.") from None
        registry = jwt.JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=_LEEWAY_SECONDS,
            iss={"essential": True, "value": str(document["issuer"])},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise IdTokenInvalid(f"The ID token does not hold: {exc.error}.") from None
        claims = dict(token.claims)
        audience = claims.get("aud")
        # Several audiences: the authorized party must be us (OpenID Connect Core 3.1.3.7).
        if (
            isinstance(audience, list)
            and len(audience) > 1
            and claims.get("azp") != self.config.client_id
        ):
            raise IdTokenInvalid("The ID token was issued for another client.")
        return claims

    def _github_identity(self, exchange: Exchange) -> ExternalIdentity:
        answer = self._token_request(self.config.github_token_url, exchange)
        access_token = answer.get("access_token")
        if not isinstance(access_token, str):
            raise ProviderUnavailable("GitHub sent no access token.")
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/vnd.github+json",
        }
        api = self.config.github_api_url.rstrip("/")
        user = self._get_json(f"{api}/user", headers)
        emails = self._get_json(f"{api}/user/emails", headers)
        if not isinstance(user, dict) or not isinstance(emails, list):
            raise ProviderUnavailable("GitHub's API gave an answer of the wrong shape.")
        user_id = user.get("id")
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise ProviderUnavailable("GitHub's API gave no user id.")
        # Only the primary address GitHub has verified: any other could be someone else's.
        primary = next(
            (entry for entry in emails if isinstance(entry, dict) and entry.get("primary") is True),
            None,
        )
        email = _text(primary.get("email")) if primary is not None else None
        verified = primary is not None and primary.get("verified") is True
        return ExternalIdentity(
            provider=self.name, subject=str(user_id), email=email, email_verified=verified
        )

    def _token_request(self, url: str, exchange: Exchange) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": exchange.code,
            "redirect_uri": exchange.redirect_uri,
            "code_verifier": exchange.code_verifier,
        }
        auth = (self.config.client_id, self.config.client_secret.get_secret_value())
        try:
            with self.http() as client:
                response = client.post(
                    url, data=form, auth=auth, headers={"Accept": "application/json"}
                )
        except httpx.HTTPError:
            raise ProviderUnavailable() from None
        answer = _json(response)
        if response.status_code != 200 or not isinstance(answer, dict) or "error" in answer:
            # A code that was used, expired or never ours: the provider refused the exchange.
            raise IdTokenInvalid("The provider refused the authorization code.")
        return answer

    def _get_json(self, url: str, headers: dict[str, str]) -> Any:
        try:
            with self.http() as client:
                response = client.get(url, headers=headers)
        except httpx.HTTPError:
            raise ProviderUnavailable() from None
        if response.status_code != 200:
            raise ProviderUnavailable()
        return _json(response)

    def _document(self) -> dict[str, Any]:
        with self._lock:
            cached = self._metadata
            if cached is not None and time.monotonic() - cached.fetched_at < _METADATA_TTL:
                return cached.document
        assert self.config.discovery_url is not None  # the settings require it for OIDC
        document = self._get_json(self.config.discovery_url, {"Accept": "application/json"})
        if not isinstance(document, dict) or not isinstance(document.get("issuer"), str):
            raise ProviderUnavailable("The provider's discovery document is not usable.")
        with self._lock:
            self._metadata = _Metadata(document, None, time.monotonic())
        return document

    def _keys(self, *, refresh: bool = False) -> KeySet:
        document = self._document()
        with self._lock:
            cached = self._metadata
            if not refresh and cached is not None and cached.keys is not None:
                return cached.keys
        jwks = self._get_json(_endpoint(document, "jwks_uri"), {"Accept": "application/json"})
        try:
            keys = KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError):
            raise ProviderUnavailable("The provider's key set is not usable.") from None
        with self._lock:
            if self._metadata is not None:
                self._metadata.keys = keys
        return keys


def _endpoint(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ProviderUnavailable(f"The provider's discovery document has no {name}.")
    return value


def _json(response: httpx.Response) -> Any:
    if len(response.content) > _MAX_BODY:
        raise ProviderUnavailable("The provider's answer is too large.")
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable("The provider's answer is not JSON.") from None


def _subject(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise IdTokenInvalid("The ID token names no usable subject.")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 254 else None
