"""Where the service may send a notice: the callback URL rules and the address policy.

A callback makes the service open connections to a host someone else chose, so it must not
become a way into the service's own network (SSRF). Two checks, one policy:
``callback_url_check`` refuses a bad URL when it is registered (400 naming ``url``; in
production also a name that resolves to a refused address then), and
``delivery.notice_post`` applies ``address_refusal`` to the address each connection
actually reached, after DNS, so a name that resolves (or re-resolves) to a private address
is refused too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings

from clearinghouse.core.errors import Invalid

MAX_URL_LENGTH = 2048
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A top-level label is never all digits: "2130706433", "0x7f.1" and "127.1" are addresses
# in disguise that getaddrinfo would happily resolve.
_TOP_LABEL = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_refusal(address: Address, *, scheme: str) -> str | None:
    """Why a connection to ``address`` over ``scheme`` is refused, or None if it may go."""
    address = _plain(address)
    allow_listed = any(address in network for network in settings.CH_NOTICE_ALLOWED_NETWORKS)
    if address.is_loopback:
        if settings.CH_NOTICE_ALLOW_LOOPBACK or (allow_listed and scheme == "https"):
            return None
        return "loopback_address"
    if scheme != "https":
        return "https_required"
    if allow_listed:
        return None
    if address.is_multicast or address.is_unspecified:
        return "private_address"
    if not address.is_global and settings.CH_NOTICE_REFUSE_PRIVATE:
        return "private_address"
    return None


def _loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


_MESSAGES = {
    "loopback_address": "The callback must not point at this service's own machine.",
    "https_required": "The callback must use https.",
    "private_address": "The callback must point at a public address, not a private, link-local or reserved one.",
}


def callback_url_check(url: object) -> str:
    """The URL as it will be used, or Invalid (code ``invalid_callback``, field ``url``)."""

    def refuse(message: str):
        return Invalid(message, code="invalid_callback", details={"field": "url"})

    if not isinstance(url, str) or not url:
        raise refuse("Give the callback as a URL string, e.g. https://example.com/clearinghouse/notices.")
    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"The callback URL is longer than {MAX_URL_LENGTH} characters.")
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise refuse("The callback URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("The callback is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise refuse("The callback must use https.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("The callback URL must not contain a user name or password; authenticate the notice by its signature.")
    if parts.fragment or url.endswith("#"):
        raise refuse("The callback URL must not have a fragment (#…).")
    host = (parts.hostname or "").lower()
    if not host:
        raise refuse("The callback URL has no host.")
    if port == 0:
        raise refuse("The callback URL's port must be between 1 and 65535.")
    try:
        address: Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None:
        labels = host.rstrip(".").split(".")
        if not all(_LABEL.fullmatch(label) for label in labels) or not _TOP_LABEL.fullmatch(labels[-1]):
            raise refuse("The callback's host is not a valid host name (write international names in their xn-- form).")
        if _loopback_name(host):
            address = ipaddress.ip_address("127.0.0.1")
        elif scheme != "https":
            raise refuse("The callback must use https.")
    if address is not None:
        reason = address_refusal(address, scheme=scheme)
        if reason is not None:
            raise refuse(_MESSAGES[reason])
    elif settings.CH_NOTICE_REFUSE_PRIVATE:
        reason = _resolved_refusal(host, port or 443, scheme)
        if reason is not None:
            raise refuse(_MESSAGES[reason] + f" ({host} resolves to one.)")
    return url


def _resolved_refusal(host: str, port: int, scheme: str) -> str | None:
    """Early word for a name that resolves to a refused address now. Only a courtesy: names
    change, so every attempt checks the address it actually reached (delivery.py), and a
    name that does not resolve yet is accepted."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for _family, _type, _proto, _name, sockaddr in found:
        reason = address_refusal(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), scheme=scheme)
        if reason is not None:
            return reason
    return None
