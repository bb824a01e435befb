"""The server's token-version cache (AUTHSVC_TOKEN_VERSION_CACHE), on by default where exact.

On a SQLite file it is remembered until the database's change counter moves, which any commit
of any process does: exact. With a push channel (PostgreSQL LISTEN/NOTIFY, Redis pub/sub) the
instance that bumps a version applies it to its own cache as the transaction commits, so its
next request is refused; other instances learn it within the push latency. While the channel is
down the cache is empty and ignored, so every check reads the database (fail closed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from authsvc.clock import Clock
from authsvc.config import Settings, TokenVersionCache, sqlite_file
from authsvc.revocation.channels.postgres import PostgresPushListener
from authsvc.revocation.channels.protocol import PushListener
from authsvc.revocation.channels.redis import RedisPushListener
from authsvc.revocation.siblings import SiblingCounter
from authsvc.revocation.sources import DatabaseSource, PushCachedSource, QuickVersionSource
from authsvc.revocation.sqlite_versions import SqliteVersionCache

# Names the listener's connection, so operators (and the fleet tests) can find it.
LISTENER_NAME = "authsvc-token-version-cache"


def start_version_cache(
    settings: Settings,
    engine: Engine,
    siblings: SiblingCounter | None = None,
    *,
    clock: Clock | None = None,
) -> QuickVersionSource | None:
    """The configured cache, subscribed to its channel if it has one; None when it is off.

    `siblings`, the counter of this server's workers, is handed to a push cache, which then
    owns it; SQLite's cache needs none, since every commit of any process moves its counter.
    """
    listener: PushListener
    name = f"{LISTENER_NAME}-{os.getpid()}"
    kind = settings.token_version_cache
    path = sqlite_file(settings.database_url)
    if kind is TokenVersionCache.auto:
        if path is not None:
            kind = TokenVersionCache.sqlite
        elif engine.dialect.name == "postgresql":
            kind = TokenVersionCache.postgres
        else:
            kind = TokenVersionCache.off
    if kind is TokenVersionCache.off:
        return None
    if kind is TokenVersionCache.sqlite:
        assert path is not None  # checked by Settings
        return SqliteVersionCache(path, max_users=settings.token_version_cache_max_users)
    if kind is TokenVersionCache.postgres:
        listener = PostgresPushListener(
            settings.listen_url,
            application_name=name,
            deaf_after_seconds=settings.channel_deaf_after_seconds,
        )
    else:
        assert settings.redis_url is not None  # checked by Settings
        listener = RedisPushListener(
            settings.redis_url,
            client_name=name,
            deaf_after_seconds=settings.channel_deaf_after_seconds,
        )
    # Misses read through the service's own pool: no second engine per instance.
    return PushCachedSource(
        DatabaseSource(engine=engine),
        listener,
        max_users=settings.token_version_cache_max_users,
        max_age=settings.token_version_cache_max_age_seconds,
        siblings=siblings,
        # An access token is valid until its `exp` plus the leeway, and instances' clocks may
        # differ by up to the leeway: an ended session is remembered that long.
        session_horizon=timedelta(
            seconds=settings.access_token_ttl_seconds + 2 * settings.clock_leeway_seconds
        ),
        clock_skew=timedelta(seconds=settings.clock_leeway_seconds),
        clock=clock,
    )


class CacheStatistics(Protocol):
    @property
    def trusted(self) -> bool: ...

    hits: int
    misses: int
    losses: int


class VersionCacheCollector(Collector):
    """The cache's trust and hit rate at scrape time."""

    def __init__(self, cache: CacheStatistics):
        self.cache = cache

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        trusted = GaugeMetricFamily(
            "authsvc_token_version_cache_trusted",
            "1 while the push channel is up and the token-version cache is used.",
        )
        trusted.add_metric([], 1 if self.cache.trusted else 0)
        yield trusted
        lookups = CounterMetricFamily(
            "authsvc_token_version_cache_lookups",
            "Token-version checks answered from memory (hit) or by the database (miss).",
            labels=["result"],
        )
        lookups.add_metric(["hit"], self.cache.hits)
        lookups.add_metric(["miss"], self.cache.misses)
        yield lookups
        losses = CounterMetricFamily(
            "authsvc_token_version_cache_channel_losses",
            "Times the push channel dropped or lost an announcement and the cache was emptied.",
        )
        losses.add_metric([], self.cache.losses)
        yield losses
