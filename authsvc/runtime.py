"""What a running service holds: built once per app in the lifespan, never at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from authsvc.clock import Clock, SystemClock
from authsvc.config import Settings
from authsvc.errors import KeyDecryptionError, MissingSetting, StartupError
from authsvc.keys.lifecycle import RotationPolicy, ensure_active_key
from authsvc.keys.refresh import KeyMaintainer, KeyRingHolder
from authsvc.keys.ring import KeyEncryptor, KeyRing
from authsvc.observability.metrics import Metrics
from authsvc.passwords.hashing import Argon2Hasher, PasswordHasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.revocation.cache import VersionCacheCollector, start_version_cache
from authsvc.revocation.publish import RedisVersionPublisher, attach_version_publisher
from authsvc.services.auth import IdentityMemo, SessionLifetimes
from authsvc.services.introspection import IntrospectionClients
from authsvc.storage.engine import engine_from_settings, make_session_factory
from authsvc.throttle.login import LoginThrottle
from authsvc.tokens.access import TokenPolicy
from authsvc.verify import PushCachedSource
from authsvc.web.cookies import CookiePolicy
from authsvc.web.csrf import CsrfTokens

logger = logging.getLogger("authsvc")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    hasher: PasswordHasher
    clock: Clock
    # None in HS256 mode, where no key is stored.
    encryptor: KeyEncryptor | None
    keys: KeyRingHolder
    cookies: CookiePolicy
    token_policy: TokenPolicy
    lifetimes: SessionLifetimes
    password_policy: PasswordPolicy
    # --- issue6: security hardening (before the defaulted fields) ---
    csrf: CsrfTokens
    throttle: LoginThrottle
    # --- issue7: observability ---
    metrics: Metrics = field(default_factory=Metrics)
    metrics_collector: Collector | None = None
    # --- issue4: downstream verification ---
    introspection_clients: IntrospectionClients = field(default_factory=IntrospectionClients)
    version_publisher: RedisVersionPublisher | None = None
    # --- issue7b: token-version cache (None when AUTHSVC_TOKEN_VERSION_CACHE=off) ---
    token_versions: PushCachedSource | None = None
    identities: IdentityMemo | None = None
    version_cache_collector: Collector | None = None

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
    ) -> Runtime:
        clock = clock or SystemClock()
        engine = engine_from_settings(settings)
        session_factory = make_session_factory(engine)
        try:
            encryptor, keys = _prepare_keys(settings, session_factory, clock)
        except DBAPIError as exc:
            engine.dispose()
            raise StartupError(
                f"database {engine.url.render_as_string(hide_password=True)} is not usable "
                f"({type(exc.orig).__name__}); is it reachable, and did `authsvc db upgrade` run?"
            ) from exc
        except (KeyDecryptionError, MissingSetting) as exc:
            engine.dispose()
            raise StartupError(str(exc)) from exc
        runtime = cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            hasher=hasher or Argon2Hasher(),
            clock=clock,
            encryptor=encryptor,
            keys=keys,
            cookies=CookiePolicy.from_settings(settings),
            token_policy=TokenPolicy(
                issuer=settings.issuer,
                audience=settings.audience,
                leeway=timedelta(seconds=settings.clock_leeway_seconds),
            ),
            lifetimes=SessionLifetimes(
                access_token=timedelta(seconds=settings.access_token_ttl_seconds),
                idle=timedelta(seconds=settings.session_idle_timeout_seconds),
                absolute=timedelta(seconds=settings.session_absolute_timeout_seconds),
                remember_absolute=timedelta(seconds=settings.remember_absolute_timeout_seconds),
                remember_idle=timedelta(seconds=settings.remember_idle_timeout_seconds),
                refresh_grace=timedelta(seconds=settings.refresh_grace_seconds),
            ),
            password_policy=PasswordPolicy.with_common_list(settings.password_min_length),
            introspection_clients=IntrospectionClients.parse(settings.introspection_clients),
            version_publisher=attach_version_publisher(settings.redis_url, session_factory),
            csrf=CsrfTokens(_csrf_secrets(settings)),
            throttle=LoginThrottle.from_settings(settings),
        )
        runtime.metrics_collector = runtime.metrics.watch(engine, session_factory, clock)
        runtime.token_versions = start_version_cache(settings, engine)
        if runtime.token_versions is not None:
            runtime.identities = IdentityMemo(settings.token_version_cache_max_users)
            runtime.version_cache_collector = VersionCacheCollector(runtime.token_versions)
            runtime.metrics.registry.register(runtime.version_cache_collector)
        return runtime

    def reload_keys(self) -> KeyRing:
        return self.keys.refresh_now()

    def close(self) -> None:
        if self.metrics_collector is not None:
            self.metrics.registry.unregister(self.metrics_collector)
            self.metrics_collector = None
        if self.version_publisher is not None:
            self.version_publisher.close()
        self.throttle.close()
        if self.token_versions is not None:
            if self.version_cache_collector is not None:
                self.metrics.registry.unregister(self.version_cache_collector)
            self.token_versions.close()
        self.engine.dispose()


def _prepare_keys(
    settings: Settings, session_factory: sessionmaker[Session], clock: Clock
) -> tuple[KeyEncryptor | None, KeyRingHolder]:
    interval = timedelta(seconds=settings.key_refresh_seconds)
    if settings.hs256_mode:
        secrets = [secret.get_secret_value() for secret in settings.jwt_secrets]
        return None, KeyRingHolder(KeyRing.from_secrets(secrets), clock=clock)
    encryptor = KeyEncryptor(settings.require_key_encryption_secret())
    maintainer = KeyMaintainer(
        session_factory, encryptor, RotationPolicy.from_settings(settings), clock
    )
    # Transitions that fell due while no instance ran happen before the first request.
    maintainer.advance(clock.now())
    with session_factory() as db:
        if settings.create_key_if_missing and ensure_active_key(
            db, encryptor, settings.signing_algorithm.value, clock.now()
        ):
            logger.info("created a %s signing key", settings.signing_algorithm.value)
        ring = KeyRing.load(db, encryptor)
    holder = KeyRingHolder(ring, clock=clock, refresh=maintainer, interval=interval)
    return encryptor, holder


def _csrf_secrets(settings: Settings) -> list[str]:
    """The service's own secret material: the HS256 list in that mode, else the KEK."""
    if settings.hs256_mode:
        return [secret.get_secret_value() for secret in settings.jwt_secrets]
    return [settings.require_key_encryption_secret()]
