"""Client IP, per-provider IP allowlists and the per-IP rate limit for webhooks and public endpoints.

Reusable by any public endpoint (``/api/capture/`` too): ``client_ip(request)`` and
``rate_limit_exceeded(request, group=…)``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from core.redis import redis_client, run_script

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


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: One round trip: count the hit, start the window on the first one, report the window's time left.
_HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
return {n, left}
"""

#: The same, then ``LPUSH`` of ARGV[2..] onto KEYS[2]: a webhook's hit and its processing enqueue
#: in one command (in chunks: Lua's unpack has a stack limit).
_HIT_AND_PUSH_SCRIPT = (
    _HIT_SCRIPT.rsplit("return", 1)[0]
    + """for i = 2, #ARGV, 1000 do
  redis.call('LPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return {n, left}
"""
)


@lru_cache(maxsize=32)
def parse_rate(rate: str) -> tuple[int, int]:
    """``"100/m"`` → (100, 60); ``"5/10s"`` → (5, 10). The django-ratelimit notation."""
    try:
        count, per = rate.split("/")
        multiplier, unit = (per[:-1] or "1"), per[-1]
        return int(count), int(multiplier) * _RATE_UNITS[unit]
    except (ValueError, KeyError):
        raise ValueError(f"Invalid rate {rate!r}: use <count>/<period>, e.g. 100/m or 5/10s") from None


def _redis(cache_config: dict[str, Any]) -> redis.Redis | None:
    """A long-lived client of the cache's Redis, or None when the cache is not Redis."""
    if cache_config.get("BACKEND") != "django.core.cache.backends.redis.RedisCache":
        return None
    options = cache_config.get("OPTIONS", {})
    return redis_client(
        _location(cache_config),
        connect_timeout=options.get("socket_connect_timeout", 2),
        timeout=options.get("socket_timeout", 2),
    )


def _cache_alias() -> str:
    return getattr(settings, "RATELIMIT_USE_CACHE", "default")


@lru_cache(maxsize=4096)
def _hit_key(alias: str, group: str, ip: str) -> str:
    digest = hashlib.blake2b(f"{group}:{ip}".encode(), digest_size=16).hexdigest()  # no IPs in Redis keys
    return caches[alias].make_key(f"rl:{digest}")


#: Windows this process has seen run full: key → monotonic time the window ends.
_full_until: dict[str, float] = {}


def rate_limit_forget() -> None:
    """Forget the windows this process saw run full (tests flush Redis between cases)."""
    _full_until.clear()


class RateLimitHit:
    """One request's hit on the fixed per-(group, IP) window ``rate``, counted in Redis.

    ``exceeded()`` counts now (one script call) and decides exactly: the public endpoints.
    The webhook receiver instead asks ``blocked()`` (no round trip: has this process seen the
    window run full?) and counts later: in the same Redis command as the processing enqueue
    (``count_and_push``), or with ``count()`` when nothing is enqueued. That saves one of its
    two Redis round trips (~7 % of its throughput). In one process the result is exact; with N
    processes a window can admit up to N - 1 extra requests before every process has seen it full.
    A refused request costs no round trip at all, which is what a flood should cost.
    """

    def __init__(self, request: HttpRequest, *, group: str, ip: str, rate: str | None = None):
        self.request, self.group, self.ip = request, group, ip
        self.rate = rate or settings.WEBHOOK_RATE_LIMIT
        self.limit, self.period = parse_rate(self.rate)  # a bad setting is an error, not an open door
        self.counted = False
        alias = _cache_alias()
        self.redis = _redis(settings.CACHES[alias])
        self.key = _hit_key(alias, group, ip)

    def blocked(self) -> int | None:
        """Seconds until the window ends if this process has seen it full, else None."""
        until = _full_until.get(self.key)
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            del _full_until[self.key]
            return None
        return max(1, math.ceil(left))

    def count(self) -> tuple[int, float] | None:
        """Count the hit now; returns (hits in the window, seconds left) or None when Redis is down."""
        if self.counted:
            return None
        self.counted = True
        try:
            if self.redis is None:
                # No Redis (the embedded default): django-ratelimit's add/incr on whatever cache there is.
                usage = get_usage(
                    self.request, group=self.group, key=lambda _g, _r: self.ip, rate=self.rate, increment=True
                )
                return self._seen(usage["count"], usage["time_left"] * 1000) if usage else None
            hits, left_ms = run_script(self.redis, _HIT_SCRIPT, [self.key], [self.period * 1000])
        except Exception as exc:
            _unavailable(exc)
            return None
        return self._seen(hits, left_ms)

    def exceeded(self) -> int | None:
        """Count now and decide: ``Retry-After`` seconds when this hit is over the limit, else None."""
        seen = self.count()
        if seen is None or seen[0] <= self.limit:
            return None
        return max(1, math.ceil(seen[1]))

    def can_push_with(self, redis_url: str) -> bool:
        """True when this hit counts on ``redis_url`` (same server and db) and is not counted yet."""
        return self.redis is not None and not self.counted and _location(settings.CACHES[_cache_alias()]) == redis_url

    def count_and_push(self, client, queue: str, messages: list[str]) -> None:
        """Count the hit and ``LPUSH`` ``messages`` onto ``queue`` in one script call on ``client``.

        Raises when the push failed (the caller's sweeper takes over); the hit then counts as unknown.
        """
        self.counted = True
        try:
            hits, left_ms = run_script(client, _HIT_AND_PUSH_SCRIPT, [self.key, queue], [self.period * 1000, *messages])
        except Exception as exc:
            _unavailable(exc)
            raise
        self._seen(hits, left_ms)

    def _seen(self, hits, left_ms) -> tuple[int, float]:
        hits, left = int(hits), float(left_ms) / 1000
        if hits >= self.limit:
            # The window is full: this process refuses the next hits until it ends.
            if len(_full_until) > 10_000:
                now = time.monotonic()
                for key in [k for k, until in _full_until.items() if until <= now]:
                    del _full_until[key]
            _full_until[self.key] = time.monotonic() + left
        return hits, left


def _unavailable(exc: BaseException) -> None:
    logger.warning("Rate limiter unavailable, letting the request pass", extra={"error": type(exc).__name__})


def _location(cache_config: dict[str, Any]) -> str:
    location = cache_config.get("LOCATION", "")
    return location[0] if isinstance(location, list | tuple) else location.split(",")[0]


def rate_limit_exceeded(
    request: HttpRequest, *, group: str, rate: str | None = None, ip: str | None = None
) -> int | None:
    """Count this request against ``rate`` (default ``WEBHOOK_RATE_LIMIT``) per client IP, exactly.

    Returns ``None`` when the request may pass, else the seconds until the window resets
    (the ``Retry-After`` value). A fixed window per (group, IP) counted in Redis with one script
    call: django-ratelimit's add + exists + incr took three round trips and ~0.6 ms, half a
    webhook's budget. Fails open when the cache (Redis) is down: refusing Meta's deliveries
    because our limiter is unavailable would lose leads.
    """
    ip = ip if ip is not None else client_ip(request)
    return RateLimitHit(request, group=group, ip=ip, rate=rate).exceeded()
