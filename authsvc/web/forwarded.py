"""What the client really is behind our proxies: its address and the scheme it used.

Forwarded headers are believed only from the proxies named in AUTHSVC_TRUSTED_PROXIES (addresses
or networks); anyone else could write them. A header may arrive as several lines (HAProxy's
`option forwardfor` adds a line of its own): every line is read, in order, and every hop must be
an IP address, or the walk stops at the last proxy we trust.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from starlette.requests import Request

logger = logging.getLogger("authsvc")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_HEADERS = ("x-forwarded-for", "x-forwarded-proto")
_SCHEMES = frozenset({"http", "https"})


def parse_proxy(entry: str) -> Network:
    """An address or a network (`10.0.0.0/8`); ValueError for anything else."""
    return ipaddress.ip_network(entry.strip(), strict=False)


class TrustedProxies:
    """The load balancers whose forwarded headers are believed, and what those headers say."""

    def __init__(self, entries: Iterable[str]):
        self.networks = tuple(parse_proxy(entry) for entry in entries)
        self._warned = False

    def trusts(self, host: str | None) -> bool:
        if not self.networks:
            return False  # the usual case, decided without parsing an address per request
        address = parse_address(host) if host is not None else None
        return address is not None and any(address in network for network in self.networks)

    def peer_is_trusted(self, request: Request) -> bool:
        return request.client is not None and self.trusts(request.client.host)

    def is_secure(self, request: Request) -> bool:
        """The scheme the browser used; X-Forwarded-Proto counts only from a trusted proxy."""
        if self.peer_is_trusted(request):
            values = _values(request, "x-forwarded-proto")
            # The last value is the one the nearest proxy (ours) wrote; one that is no scheme
            # says nothing, and the request's own scheme stands.
            if values and values[-1].lower() in _SCHEMES:
                return values[-1].lower() == "https"
        # The scope's own scheme: building `request.url` for it costs more than the whole check.
        return request.scope.get("scheme") in ("https", "wss")

    def client_address(self, request: Request) -> str | None:
        """The peer, or the right-most hop of X-Forwarded-For that is not one of our proxies."""
        peer = request.client.host if request.client else None
        if not self.peer_is_trusted(request):
            self._warn_if_forwarded(request)
            return peer
        client = parse_address(peer)
        # Walk from the right: each hop was written by the proxy after it, which we trust until
        # we meet an address that is not ours; anything left of that the client may have forged.
        for hop in reversed(_values(request, "x-forwarded-for")):
            address = parse_address(hop)
            if address is None:
                break
            client = address
            if not any(address in network for network in self.networks):
                break
        return str(client) if client is not None else peer

    def _warn_if_forwarded(self, request: Request) -> None:
        if self._warned or self.networks:
            return
        present = [name for name in _FORWARDED_HEADERS if name in request.headers]
        if present:
            self._warned = True
            logger.warning(
                "requests arrive with %s but AUTHSVC_TRUSTED_PROXIES is empty: they are ignored, "
                "and every client behind that proxy shares its address for throttling; name "
                "the proxy's address there",
                " and ".join(header.title() for header in present),
            )


def parse_address(hop: str | None) -> Address | None:
    """An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`; None otherwise."""
    if hop is None:
        return None
    text = hop.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _values(request: Request, name: str) -> list[str]:
    """Every comma-separated value of every line of the header, in order."""
    return [
        value.strip()
        for line in request.headers.getlist(name)
        for value in line.split(",")
        if value.strip()
    ]


def request_is_secure(request: Request, trusted_proxies: TrustedProxies) -> bool:
    return trusted_proxies.is_secure(request)


def client_address(request: Request, trusted_proxies: TrustedProxies) -> str | None:
    return trusted_proxies.client_address(request)
