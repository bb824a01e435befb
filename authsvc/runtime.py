"""What a running service holds: built once per app in the lifespan, never at import time."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from authsvc.clock import Clock, SystemClock
from authsvc.config import Settings
from authsvc.config.values import Registration
from authsvc.errors import DatabaseNotReady, KeyDecryptionError, MissingSetting, StartupError
from authsvc.federation.providers import ProviderClient
from authsvc.federation.service import FederationService
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.lifecycle import RotationPolicy, ensure_active_key
from authsvc.keys.metrics import KeyChannelCollector, KeyCollector
from authsvc.keys.refresh import KeyMaintainer, KeyRingHolder
from authsvc.keys.ring import KeyRing
from authsvc.mail.outbox import OutboxCollector
from authsvc.mfa.notices import SecurityNotices
from authsvc.mfa.sealing import SecretSealer
from authsvc.mfa.service import MfaRules, MfaService
from authsvc.observability.audit import ClientInfo
from authsvc.observability.metrics import Metrics, PoolCollector
from authsvc.passwords.capacity import BoundedHasher, PasswordGate
from authsvc.passwords.cores import usable_cores
from authsvc.passwords.hashing import Argon2Hasher, PasswordHasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.revocation.cache import VersionCacheCollector, start_version_cache
from authsvc.revocation.channel_metrics import ChannelCollector, ProvenChannel
from authsvc.revocation.channels import key_change_listener
from authsvc.revocation.channels.protocol import KeyChangeListener
from authsvc.revocation.channels.thread import ListenerThread
from authsvc.revocation.publish import (
    RedisVersionPublisher,
    apply_own_bumps,
    attach_version_publisher,
)
from authsvc.revocation.siblings import SiblingCounter
from authsvc.revocation.sources import PushCachedSource, QuickVersionSource
from authsvc.revocation.sqlite_versions import SqliteVersionCache
from authsvc.revocation.user_rows import UserRowReader, user_row_reader
from authsvc.services.account import AccountService
from authsvc.services.account_mail import AccountMail
from authsvc.services.authentication import Authenticator, IdentityMemo
from authsvc.services.introspection import IntrospectionClients
from authsvc.services.issuing import SessionLifetimes, TokenIssuer
from authsvc.services.login import LoginService
from authsvc.services.purge import Retention
from authsvc.services.recovery import PasswordRecovery
from authsvc.services.users import PasswordRules
from authsvc.services.verification import EmailVerification
from authsvc.storage.engine import engine_from_settings, make_session_factory
from authsvc.throttle.policies import Throttles
from authsvc.tokens.access import TokenPolicy
from authsvc.tokens.verified import VerifiedTokens
from authsvc.web.cookies import CookiePolicy, insecure_cookie_warnings
from authsvc.web.csrf import CsrfTokens

logger = logging.getLogger("authsvc")

# Names the key-change listener's connection, so operators (and the tests) can find it.
KEY_LISTENER_NAME = "authsvc-key-changes"


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    # The database, and what announces its token-version bumps to other processes.
    engine: Engine
    session_factory: sessionmaker[Session]
    version_publisher: RedisVersionPublisher | None
    # Keys and tokens. `encryptor` is None in HS256 mode, where no key is stored.
    encryptor: KeyEncryptor | None
    keys: KeyRingHolder
    issuer: TokenIssuer
    authenticator: Authenticator
    # The token-version cache, unless AUTHSVC_TOKEN_VERSION_CACHE is off.
    token_versions: QuickVersionSource | None
    # The check's read of a user's row when memory cannot answer (None: in a session instead).
    user_rows: UserRowReader | None
    # Use cases with their collaborators, and the throttles of the endpoints that need one.
    throttles: Throttles
    passwords: PasswordRules
    # Every password operation goes through this bound; the requests that hash are admitted
    # through the gate before they take a thread or a database connection.
    hasher: BoundedHasher
    password_gate: PasswordGate
    login: LoginService
    # Second factors and the second step of a login (its hook is in `login`).
    mfa: MfaService
    accounts: AccountService
    # Signing in with external providers (none configured: every provider route answers 404).
    federation: FederationService
    # Account mail, when AUTHSVC_SMTP_URL is set: password reset and address confirmation.
    mail: AccountMail | None
    recovery: PasswordRecovery | None
    verification: EmailVerification | None
    introspection_clients: IntrospectionClients
    retention: Retention
    # HTTP: cookies and CSRF tokens.
    cookies: CookiePolicy
    csrf: CsrfTokens
    metrics: Metrics = field(default_factory=Metrics)

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
    ) -> Runtime:
        clock = clock or SystemClock()
        hasher = bounded_hasher(settings, hasher or Argon2Hasher())
        for warning in insecure_cookie_warnings(settings):
            logger.warning(warning)
        engine = engine_from_settings(settings)
        session_factory = make_session_factory(engine)
        metrics = Metrics()
        try:
            encryptor, keys, key_listener = _prepare_keys(
                settings, session_factory, clock, metrics.key_ring_reloaded
            )
        except DBAPIError as exc:
            engine.dispose()
            raise DatabaseNotReady(
                f"database {engine.url.render_as_string(hide_password=True)} is not usable "
                f"({type(exc.orig).__name__}); is it reachable, and did `authsvc db upgrade` run?"
            ) from exc
        except (KeyDecryptionError, MissingSetting) as exc:
            engine.dispose()
            raise StartupError(str(exc)) from exc
        issuer = TokenIssuer(
            keys,
            _token_policy(settings),
            _lifetimes(settings),
            VerifiedTokens(settings.verified_token_cache_size, settings.verified_token_cache_bytes),
        )
        # The workers of one `serve` share a revocation counter, so a revocation committed by one
        # is refused by every other on the client's next request, not after the push delay.
        siblings = SiblingCounter.from_environment() if settings.workers > 1 else None
        token_versions = start_version_cache(settings, engine, siblings, clock=clock)
        if isinstance(token_versions, PushCachedSource):
            apply_own_bumps(session_factory, token_versions, siblings)
        elif siblings is not None:
            siblings.close()
        identities = (
            IdentityMemo(settings.token_version_cache_max_users) if token_versions else None
        )
        password_policy = PasswordPolicy.with_common_list(settings.password_min_length)
        throttles = Throttles.from_settings(settings)
        passwords = PasswordRules(hasher, password_policy)
        mail = AccountMail.from_settings(settings, session_factory, clock)
        recovery = verification = None
        if mail is not None:
            recovery = PasswordRecovery(mail, throttles.password_reset, passwords)
            verification = EmailVerification(mail, throttles.email_verification)
        login = LoginService(
            hasher,
            issuer,
            throttles.login,
            settings.single_session,
            require_verified_email=settings.require_verified_email,
            send_confirmation=_confirmation_sender(verification),
        )
        mfa = MfaService(
            SecretSealer(*_csrf_secrets(settings)),
            login,
            throttles.mfa,
            MfaRules.from_settings(settings),
            SecurityNotices(mail),
        )
        runtime = cls(
            settings=settings,
            metrics=metrics,
            clock=clock,
            engine=engine,
            session_factory=session_factory,
            version_publisher=attach_version_publisher(settings.redis_url, session_factory),
            encryptor=encryptor,
            keys=keys,
            issuer=issuer,
            authenticator=Authenticator(issuer, token_versions, identities),
            token_versions=token_versions,
            user_rows=user_row_reader(settings.database_url),
            throttles=throttles,
            passwords=passwords,
            hasher=hasher,
            password_gate=PasswordGate(
                workers=hasher.workers,
                queue=hasher.queue,
                wait=hasher.wait,
                busy_pause=settings.password_hashing_busy_pause_seconds,
            ),
            login=replace(login, second_step=mfa.second_step),
            mfa=mfa,
            accounts=AccountService(hasher, password_policy, issuer, throttles),
            federation=FederationService(
                {p.name: ProviderClient(p) for p in settings.oauth_providers},
                replace(login, second_step=None),
                registration_open=settings.registration is Registration.open,
                state_lifetime=timedelta(seconds=settings.oauth_state_seconds),
                second_step=mfa.second_step,
            ),
            mail=mail,
            recovery=recovery,
            verification=verification,
            introspection_clients=IntrospectionClients.parse(settings.introspection_clients),
            retention=Retention.from_settings(settings),
            cookies=CookiePolicy.from_settings(settings),
            csrf=CsrfTokens(_csrf_secrets(settings)),
        )
        for throttle in throttles.all():
            runtime.metrics.expect_throttled(throttle.route)
        # Collectors that read live state at scrape time; `close` unregisters them.
        runtime.metrics.watch_process(PoolCollector(engine))
        runtime.metrics.watch_shared(KeyCollector(session_factory, clock))
        runtime.metrics.watch_process(KeyChannelCollector(keys))
        if isinstance(token_versions, PushCachedSource | SqliteVersionCache):
            runtime.metrics.watch_process(VersionCacheCollector(token_versions))
        runtime.metrics.watch_process(
            ChannelCollector(_proven_channels(token_versions, key_listener))
        )
        if mail is not None:
            runtime.metrics.watch_process(OutboxCollector(mail.outbox))
            mail.outbox.start()
        return runtime

    def close(self) -> None:
        self.hasher.close()
        self.metrics.close()
        if self.version_publisher is not None:
            owed = self.version_publisher.settle(self.settings.redis_publish_retry_seconds)
            if owed:
                # Committed but never announced: caches listening on Redis keep the old state
                # until AUTHSVC_TOKEN_VERSION_CACHE_MAX_AGE_SECONDS re-reads it.
                logger.error(
                    "stopping with announcements Redis never received: %s", ", ".join(owed)
                )
            self.version_publisher.close()
        self.throttles.close()
        if self.mail is not None:
            # Mail due now still goes out (briefly); what waits for a retry is given up, logged.
            self.mail.outbox.close(timeout=5.0)
        self.keys.close()
        if self.token_versions is not None:
            self.token_versions.close()
        if self.user_rows is not None:
            self.user_rows.close()
        self.engine.dispose()


def _proven_channels(
    token_versions: QuickVersionSource | None, key_listener: KeyChangeListener | None
) -> dict[str, ProvenChannel]:
    """The listeners that prove their channel delivers, by the name their metric carries."""
    channels: dict[str, ProvenChannel] = {}
    if isinstance(token_versions, PushCachedSource) and isinstance(
        token_versions.listener, ListenerThread
    ):
        channels["token_version"] = token_versions.listener
    if isinstance(key_listener, ListenerThread):
        channels["signing_keys"] = key_listener
    return channels


def _confirmation_sender(
    verification: EmailVerification | None,
) -> Callable[[str, ClientInfo, datetime], None] | None:
    if verification is None:
        return None

    def send(user_id: str, client: ClientInfo, now: datetime) -> None:
        verification.send_link(user_id, client, now=now)

    return send


def _token_policy(settings: Settings) -> TokenPolicy:
    return TokenPolicy(
        issuer=settings.issuer,
        audience=settings.audience,
        leeway=timedelta(seconds=settings.clock_leeway_seconds),
    )


def _lifetimes(settings: Settings) -> SessionLifetimes:
    return SessionLifetimes(
        access_token=timedelta(seconds=settings.access_token_ttl_seconds),
        idle=timedelta(seconds=settings.session_idle_timeout_seconds),
        absolute=timedelta(seconds=settings.session_absolute_timeout_seconds),
        remember_absolute=timedelta(seconds=settings.remember_absolute_timeout_seconds),
        remember_idle=timedelta(seconds=settings.remember_idle_timeout_seconds),
        refresh_grace=timedelta(seconds=settings.refresh_grace_seconds),
    )


def _prepare_keys(
    settings: Settings,
    session_factory: sessionmaker[Session],
    clock: Clock,
    report_reloads: Callable[[str, bool], None],
) -> tuple[KeyEncryptor | None, KeyRingHolder, KeyChangeListener | None]:
    """The key ring, and the listener that keeps it current if the database has a channel.

    Reloads are reported from the start: the listener's first subscription asks for one while
    the rest of the runtime is still being built."""
    interval = timedelta(seconds=settings.key_refresh_seconds)
    if settings.hs256_mode:
        secrets = [secret.get_secret_value() for secret in settings.jwt_secrets]
        return None, KeyRingHolder(KeyRing.from_secrets(secrets), clock=clock), None
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
    holder = KeyRingHolder(
        ring, clock=clock, refresh=maintainer, load=maintainer.load, interval=interval
    )
    holder.report_reloads(report_reloads)
    # Key changes made anywhere (another instance, the CLI) are announced when they commit.
    listener = key_change_listener(
        settings.database_url,
        name=f"{KEY_LISTENER_NAME}-{os.getpid()}",
        listen_url=settings.listen_database_url,
        deaf_after_seconds=settings.channel_deaf_after_seconds,
    )
    if listener is not None:
        holder.watch(listener)
    return encryptor, holder, listener


def _csrf_secrets(settings: Settings) -> list[str]:
    """The service's own secret material: the HS256 list in that mode, else the KEK (also what
    seals TOTP secrets, with a key of their own derived from it)."""
    if settings.hs256_mode:
        return [secret.get_secret_value() for secret in settings.jwt_secrets]
    return [settings.require_key_encryption_secret()]


def bounded_hasher(settings: Settings, hasher: PasswordHasher) -> BoundedHasher:
    """Every password operation of the service through one bound (a test's hasher too)."""
    workers = settings.password_hashing_workers
    if workers is None:
        # Each worker process has its own bound: together they take the cores, no more.
        cores, counted = usable_cores()
        workers = max(1, cores // settings.workers)
        logger.info(
            "password hashing: %d at once per worker process (%d cores, from %s, shared by "
            "%d worker processes)",
            workers,
            cores,
            counted,
            settings.workers,
        )
    return BoundedHasher(
        hasher,
        workers=workers,
        queue=settings.password_hashing_queue,
        wait=settings.password_hashing_wait_seconds,
        niceness=settings.password_hashing_niceness,
    )
