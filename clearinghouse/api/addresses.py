"""The client's address, as far as it can be known.

``REMOTE_ADDR`` is the socket's peer, which a client cannot choose. ``X-Forwarded-For`` is
believed only when that peer is one of ``settings.CH_TRUSTED_PROXIES`` (addresses or
networks; default none), and then only as far as the chain of trusted proxies goes: the
header is read from the right, each hop a trusted proxy vouches for, and the first
address that is not a trusted proxy is the client. Anything a client wrote to the left
of that is ignored, so a forged header gains nothing.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parsed(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[_Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request) -> str:
    """The client's address as text ("" when unknown)."""
    if request is None:
        return ""
    meta = getattr(request, "META", {})
    peer = _parsed(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    networks = _networks(tuple(settings.CH_TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _parsed(hop)
        if address is None:
            # A hop a trusted proxy passed on but that is no address: stop at the last good one.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
