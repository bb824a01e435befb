"""Discovery and a JWKS cache that honours Cache-Control and refetches on an unknown kid.

PyJWT's PyJWKClient parses keys well but caches for a fixed lifespan (no Cache-Control), reads
the wall clock (untestable without sleeping) and takes a lock on every lookup; so we keep its
key parsing (PyJWKSet) and do the caching here, lock-free on the read path.

A key set whose refetch keeps failing is served for a bounded time past its max-age, then the
cache fails closed: a revoked key must not live on wherever an attacker can block the fetch.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt import PyJWK

from authsvc.clock import Clock, SystemClock
from authsvc.errors import DiscoveryError, HttpError
from authsvc.tokens.access import VerificationKey
from authsvc.verify.http import HttpClient, HttpResponse

logger = logging.getLogger("authsvc.verify")

# Asymmetric only: a shared secret has no business in a published key set.
SUPPORTED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
DEFAULT_ALGORITHMS = frozenset({"ES256", "EdDSA", "RS256"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


def discover_jwks_url(http: HttpClient, issuer: str) -> str:
    """RFC 8414-style discovery; the document must name the very issuer we asked about."""
    response = _get_json_ok(http, f"{issuer}/.well-known/openid-configuration")
    document = response.json()
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise DiscoveryError("the discovery document names another issuer")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
        raise DiscoveryError("the discovery document has no usable jwks_uri")
    return jwks_uri


def _get_json_ok(http: HttpClient, url: str) -> HttpResponse:
    try:
        response = http.get(url)
    except HttpError as exc:
        raise DiscoveryError(str(exc)) from exc
    if response.status != 200:
        raise DiscoveryError(f"{url} answered {response.status}")
    return response


def parse_jwks(document: Any, algorithms: frozenset[str]) -> dict[str, VerificationKey]:
    """The usable signature keys of a JWKS; a key we cannot use is skipped, never guessed."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise DiscoveryError("the JWKS has no key list")
    keys: dict[str, VerificationKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        # The algorithm must be stated by the key itself (RFC 8725 section 3.1).
        if not isinstance(kid, str) or alg not in algorithms or jwk.get("use", "sig") != "sig":
            continue
        try:
            parsed = PyJWK(jwk, algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            logger.warning("skipped an unreadable key in the JWKS (kid %s)", kid[:64])
            continue
        keys[kid] = VerificationKey(kid=kid, alg=alg, key=parsed.key)
    return keys


class KeyProvider(Protocol):
    """Where a verifier finds verification keys; JwksCache is the usual one."""

    def keys(self, now: float | None = None) -> Mapping[str, VerificationKey]: ...

    def keys_for(self, kid: str) -> Mapping[str, VerificationKey]:
        """The keys, refreshed first (if the provider can) when `kid` is not among them."""
        ...


class StaticKeys:
    """A fixed key set: HS256 secrets given to the service, or keys pinned by configuration."""

    def __init__(self, keys: Mapping[str, VerificationKey]):
        self._keys = dict(keys)

    def keys(self, now: float | None = None) -> Mapping[str, VerificationKey]:
        return self._keys

    def keys_for(self, kid: str) -> Mapping[str, VerificationKey]:
        return self._keys


@dataclass(frozen=True)
class _Snapshot:
    keys: Mapping[str, VerificationKey]
    fresh_until: float


class JwksCache:
    """The current key set; refetched when its max-age runs out, or early for an unknown kid."""

    def __init__(
        self,
        http: HttpClient,
        *,
        jwks_url: str | None = None,
        issuer: str | None = None,
        algorithms: frozenset[str] = DEFAULT_ALGORITHMS,
        clock: Clock | None = None,
        default_max_age: float = 300,
        min_max_age: float = 5,
        max_max_age: float = 86400,
        unknown_kid_interval: float = 10,
        retry_interval: float = 5,
        max_stale: float = 600,
    ):
        if jwks_url is None and issuer is None:
            raise ValueError("give the jwks_url or the issuer to discover it from")
        unsupported = algorithms - SUPPORTED_ALGORITHMS
        if unsupported:
            raise ValueError(f"unsupported algorithms: {sorted(unsupported)}")
        self._http = http
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._algorithms = algorithms
        self._clock = clock or SystemClock()
        self._default_max_age = default_max_age
        self._max_age_bounds = (min_max_age, max_max_age)
        self._unknown_kid_interval = unknown_kid_interval
        self._retry_interval = retry_interval
        self._max_stale = max_stale
        self._snapshot: _Snapshot | None = None
        self._last_fetch_attempt = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def keys(self, now: float | None = None) -> Mapping[str, VerificationKey]:
        """The key set, refetched first when it is stale (a failed refetch keeps the old one)."""
        snapshot = self._snapshot
        if snapshot is not None and (self._now() if now is None else now) < snapshot.fresh_until:
            return snapshot.keys
        return self._refresh(min_interval=self._retry_interval)

    def keys_for(self, kid: str) -> Mapping[str, VerificationKey]:
        """The key set, refetched early (rate-limited) when `kid` is not in it."""
        keys = self.keys()
        if kid in keys:
            return keys
        return self._refresh(min_interval=self._unknown_kid_interval)

    def _refresh(self, *, min_interval: float) -> Mapping[str, VerificationKey]:
        with self._lock:
            now = self._now()
            if self._snapshot is None or now - self._last_fetch_attempt >= min_interval:
                self._last_fetch_attempt = now
                try:
                    self._snapshot = self._fetch(now)
                except DiscoveryError as exc:
                    if self._snapshot is None:
                        raise
                    # Keep verifying with the keys we have for a while (rotation publishes keys
                    # early), but only for a while.
                    logger.warning("JWKS refetch failed, keeping the previous set: %s", exc)
            stale_for = now - self._snapshot.fresh_until
            if stale_for > self._max_stale:
                raise DiscoveryError(
                    f"the key set is {stale_for:.0f} s past its max-age and cannot be refetched"
                )
            return self._snapshot.keys

    def _fetch(self, now: float) -> _Snapshot:
        if self._jwks_url is None:
            self._jwks_url = discover_jwks_url(self._http, self._issuer or "")
        response = _get_json_ok(self._http, self._jwks_url)
        self.fetches += 1
        keys = parse_jwks(response.json(), self._algorithms)
        return _Snapshot(keys=keys, fresh_until=now + self._max_age(response))

    def _max_age(self, response: HttpResponse) -> float:
        control = response.headers.get("cache-control", "")
        low, high = self._max_age_bounds
        if _NO_STORE.search(control):
            return low
        match = _MAX_AGE.search(control)
        seconds = float(match.group(1)) if match else self._default_max_age
        return min(max(seconds, low), high)
