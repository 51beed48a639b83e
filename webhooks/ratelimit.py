"""Client IP, per-provider IP allowlists and the per-IP rate limit for webhooks and public endpoints.

Reusable by any public endpoint (``/api/capture/`` too): ``client_ip(request)`` and
``rate_limit_exceeded(request, group=…)``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=32)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for cidr in cidrs:
        cidr = cidr.strip()
        if not cidr:
            continue
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            logger.error("Ignoring an invalid CIDR in the settings", extra={"cidr": cidr})
    return tuple(networks)


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse a settings list of CIDRs (or single addresses) once; invalid entries are logged and skipped."""
    return _networks(tuple(cidrs))


def _ip(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _in(ip: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(request: HttpRequest) -> str:
    """Return the caller's IP: ``REMOTE_ADDR``, or behind a trusted proxy the right-most untrusted hop.

    ``X-Forwarded-For`` is only believed when the peer is one of ``TRUSTED_PROXIES``; walking it
    from the right skips our own proxies, so a client cannot pick its IP by sending the header.
    """
    peer = request.META.get("REMOTE_ADDR", "")
    trusted = parse_networks(settings.TRUSTED_PROXIES)
    peer_ip = _ip(peer)
    if peer_ip is None or not trusted or not _in(peer_ip, trusted):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in (h.strip() for h in forwarded.split(",")) if hop]
    last_trusted = peer
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            # Garbage our own proxy would never write: stop at the last hop we can vouch for.
            return last_trusted
        if not _in(hop_ip, trusted):
            return str(hop_ip)
        last_trusted = str(hop_ip)
    return last_trusted


def ip_allowed(ip: str, cidrs: Iterable[str]) -> bool:
    """True when no allowlist is configured or ``ip`` lies in one of its networks."""
    networks = parse_networks(cidrs)
    if not networks:
        return True
    parsed = _ip(ip)
    return parsed is not None and _in(parsed, networks)


def rate_limit_exceeded(
    request: HttpRequest, *, group: str, rate: str | None = None, ip: str | None = None
) -> int | None:
    """Count this request against ``rate`` (default ``WEBHOOK_RATE_LIMIT``) per client IP.

    Returns ``None`` when the request may pass, else the seconds until the window resets
    (the ``Retry-After`` value). Fails open when the cache (Redis) is down: refusing Meta's
    deliveries because our limiter is unavailable would lose leads.
    """
    ip = ip if ip is not None else client_ip(request)
    try:
        usage = get_usage(
            request,
            group=group,
            key=lambda _group, _request: ip,
            rate=rate or settings.WEBHOOK_RATE_LIMIT,
            increment=True,
        )
    except Exception as exc:
        logger.warning("Rate limiter unavailable, letting the request pass", extra={"error": type(exc).__name__})
        return None
    # time_left < 0: the counter could not be read (a key that expired between add and incr).
    if usage is None or not usage["should_limit"] or usage["time_left"] < 0:
        return None
    return max(1, int(usage["time_left"]))
