"""The signing keys as Prometheus gauges, read from the database at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from authsvc.clock import Clock
from authsvc.keys.material import PUBLISHED_STATES, KeyState
from authsvc.keys.refresh import KeyRingHolder
from authsvc.storage.models import SigningKey

logger = logging.getLogger("authsvc.metrics")


class KeyCollector(Collector):
    """Keys by state and the age of each published key; also whether the database answered."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock):
        self.session_factory = session_factory
        self.clock = clock

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Registration must not touch the database; the families are the same at every scrape.
        return []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("authsvc_database_up", "1 when the scrape could read the database.")
        try:
            with self.session_factory() as db:
                counts = dict(
                    db.execute(
                        select(SigningKey.state, func.count()).group_by(SigningKey.state)
                    ).all()
                )
                published = db.execute(
                    select(SigningKey.kid, SigningKey.state, SigningKey.created_at).where(
                        SigningKey.state.in_(PUBLISHED_STATES)
                    )
                ).all()
        except DBAPIError as exc:
            logger.warning("metrics: database unavailable: %s", type(exc.orig).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        states = GaugeMetricFamily(
            "authsvc_signing_keys", "Signing keys by lifecycle state.", labels=["state"]
        )
        for state in KeyState:
            states.add_metric([state.value], counts.get(state.value, 0))
        yield states
        age = GaugeMetricFamily(
            "authsvc_signing_key_age_seconds",
            "Age of each published signing key.",
            labels=["kid", "state"],
        )
        now = self.clock.now()
        for kid, key_state, created_at in published:
            age.add_metric([kid, key_state], (now - _aware(created_at)).total_seconds())
        yield age


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class KeyChannelCollector(Collector):
    """Whether this process hears of key changes as they commit, or falls back to reloading."""

    def __init__(self, holder: KeyRingHolder):
        self.holder = holder

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "authsvc_signing_key_channel_up",
            "1 while key changes are announced to this process; 0 while it reloads the keys "
            "before use instead (the channel is lost).",
        )
        up.add_metric([], 1 if self.holder.watched else 0)
        yield up
