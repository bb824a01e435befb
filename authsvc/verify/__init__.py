"""The downstream verifier: validate authsvc tokens in another service, without calling authsvc.

    from authsvc.verify import DatabaseSource, TokenVerifier
    verifier = TokenVerifier("https://auth.example.com", versions=DatabaseSource(database_url))

It imports nothing of the server (app, runtime, api, services): only what both share, the
token rules (`authsvc.tokens`), the error classes, the token-version sources and push channels
(`authsvc.revocation`) and the `users` table definition.
"""

from authsvc.errors import DiscoveryError, VerificationError, VerifierUnavailable
from authsvc.revocation.channels.postgres import PostgresKeyListener, PostgresPushListener
from authsvc.revocation.channels.protocol import (
    PG_CHANNEL,
    PG_KEY_CHANNEL,
    REDIS_CHANNEL,
    REDIS_KEY_CHANNEL,
    REDIS_SEQUENCE_KEY,
    Announcement,
    KeyChangeHandler,
    PushHandler,
    PushListener,
    decode_announcement,
    decode_key_change,
    decode_payload,
    encode_payload,
)
from authsvc.revocation.channels.redis import RedisPushListener
from authsvc.revocation.sources import DatabaseSource, PushCachedSource, TokenVersionSource
from authsvc.verify.http import HttpClient, HttpResponse, UrllibClient
from authsvc.verify.introspection import IntrospectionSource
from authsvc.verify.jwks import JwksCache, KeyProvider, StaticKeys
from authsvc.verify.middleware import VerifierMiddleware, session_of
from authsvc.verify.verifier import TokenVerifier, VerifiedSession, VerifiedTokenCache

__all__ = [
    "PG_CHANNEL",
    "PG_KEY_CHANNEL",
    "REDIS_CHANNEL",
    "REDIS_KEY_CHANNEL",
    "REDIS_SEQUENCE_KEY",
    "Announcement",
    "DatabaseSource",
    "DiscoveryError",
    "HttpClient",
    "HttpResponse",
    "IntrospectionSource",
    "JwksCache",
    "KeyChangeHandler",
    "KeyProvider",
    "PostgresKeyListener",
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
    "decode_announcement",
    "decode_key_change",
    "decode_payload",
    "encode_payload",
    "session_of",
]
