"""The downstream verifier: validate authsvc tokens in another service, without calling authsvc.

    from authsvc.verify import DatabaseSource, TokenVerifier
    verifier = TokenVerifier("https://auth.example.com", versions=DatabaseSource(database_url))

It imports nothing of the server (app, runtime, api): only the shared token rules
(`authsvc.tokens`), the error classes and the `users` table definition.
"""

from authsvc.revocation.push import (
    PG_CHANNEL,
    REDIS_CHANNEL,
    PostgresPushListener,
    PushHandler,
    PushListener,
    RedisPushListener,
    decode_payload,
    encode_payload,
)
from authsvc.revocation.sources import (
    DatabaseSource,
    IntrospectionSource,
    PushCachedSource,
    TokenVersionSource,
    VerifierUnavailable,
)
from authsvc.verify.http import HttpClient, HttpResponse, UrllibClient
from authsvc.verify.jwks import DiscoveryError, JwksCache, KeyProvider, StaticKeys
from authsvc.verify.middleware import VerifierMiddleware, session_of
from authsvc.verify.verifier import TokenVerifier, VerifiedSession, VerifiedTokenCache
from authsvc.verify.web import VerificationError

__all__ = [
    "PG_CHANNEL",
    "REDIS_CHANNEL",
    "DatabaseSource",
    "DiscoveryError",
    "HttpClient",
    "HttpResponse",
    "IntrospectionSource",
    "JwksCache",
    "KeyProvider",
    "PostgresPushListener",
    "PushCachedSource",
    "PushHandler",
    "PushListener",
    "RedisPushListener",
    "StaticKeys",
    "TokenVerifier",
    "TokenVersionSource",
    "UrllibClient",
    "VerificationError",
    "VerifiedSession",
    "VerifiedTokenCache",
    "VerifierMiddleware",
    "VerifierUnavailable",
    "decode_payload",
    "encode_payload",
    "session_of",
]
