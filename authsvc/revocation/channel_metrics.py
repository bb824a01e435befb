"""How often each push channel was found deaf: subscribed, yet its own probe did not come back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class ProvenChannel(Protocol):
    @property
    def deaf(self) -> int: ...


class ChannelCollector(Collector):
    """`authsvc_push_channel_deaf_total` per listener, read at scrape time."""

    def __init__(self, listeners: Mapping[str, ProvenChannel]):
        self.listeners = listeners

    def describe(self) -> Iterable[CounterMetricFamily]:
        return []

    def collect(self) -> Iterable[CounterMetricFamily]:
        deaf = CounterMetricFamily(
            "authsvc_push_channel_deaf",
            "Times a push channel was subscribed but its own probe did not come back in time, "
            "so it was dropped and what it kept current was no longer trusted.",
            labels=["listener"],
        )
        for name, listener in self.listeners.items():
            deaf.add_metric([name], listener.deaf)
        yield deaf
