"""Where remediation may send HTTP requests: control URLs inside the allow-list an admin set.

A managed service registers its control URL, and remediation POSTs to it. Without a check,
any token could point the engine at an address of its choosing (an internal admin port, a
cloud metadata service). So a control URL is accepted only when every address its host
resolves to lies in ``CONTROL_URL_ALLOWED_NETWORKS`` (CIDRs, or exact host names), and never
in a link-local or metadata range, whatever the allow-list says. The same check runs when a
URL is registered and again before every call (DNS answers change).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Never a control URL: link-local (cloud metadata lives at 169.254.169.254), "this
#: network", multicast, and the metadata addresses some clouds put elsewhere.
ALWAYS_REFUSED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "169.254.0.0/16",
        "fe80::/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "ff00::/8",
        "100.100.100.200/32",
        "fd00:ec2::254/128",
    )
)
REFUSED_HOSTS = frozenset({"metadata.google.internal", "metadata"})


class ControlUrlRefused(ValueError):
    """The URL is not one remediation may call; the message says why."""


def _allowed() -> tuple[list[IPNetwork], set[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in settings.CONTROL_URL_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower())
    return networks, hosts


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise ControlUrlRefused(f"host {host!r} does not resolve ({exc})") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_control_url(url: str) -> str:
    """The URL unchanged when remediation may call it; :class:`ControlUrlRefused` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ControlUrlRefused("a control URL is http(s)://host[:port]/path")
    host = parts.hostname.lower()
    if host in REFUSED_HOSTS:
        raise ControlUrlRefused(f"{host} is a metadata service, never a control URL")
    networks, hosts = _allowed()
    addresses = _addresses(host)
    for address in addresses:
        if any(address in network for network in ALWAYS_REFUSED):
            raise ControlUrlRefused(f"{address} is link-local or a metadata address")
    if host in hosts:
        return url
    outside = [a for a in addresses if not any(a in network for network in networks)]
    if outside:
        allowed = ", ".join(settings.CONTROL_URL_ALLOWED_NETWORKS) or "nothing (empty)"
        raise ControlUrlRefused(
            f"{host} resolves to {outside[0]}, outside CONTROL_URL_ALLOWED_NETWORKS ({allowed})"
        )
    return url
