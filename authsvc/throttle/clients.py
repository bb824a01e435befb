"""Who a throttle counts: a client address, with an IPv6 client counted by its /64."""

from __future__ import annotations

import ipaddress

# One subscriber usually holds a whole /64 (RFC 6177): counted per address, it would have
# 2**64 fresh counters to spend.
IPV6_PREFIX = 64


def client_key(ip: str | None) -> str:
    """The identity an address is counted under; every unreadable address shares one."""
    if ip is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
