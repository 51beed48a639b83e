"""Long-lived Redis clients and Lua script calls for the hot paths (rate limit, lean task publishing)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

import redis

_clients: dict[tuple[int, str, float, float], redis.Redis] = {}


def redis_client(url: str, *, connect_timeout: float = 2, timeout: float = 2) -> redis.Redis:
    """One client (and connection pool) per process and URL; a forked worker makes its own."""
    key = (os.getpid(), url, connect_timeout, timeout)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            url, socket_connect_timeout=connect_timeout, socket_timeout=timeout
        )
    return client


@lru_cache(maxsize=16)
def _sha(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1


def run_script(client: redis.Redis, script: str, keys: list[str], args: list[Any]) -> Any:
    """``EVALSHA`` in one round trip, ``EVAL`` after a Redis restart or flush forgot the script.

    redis-py's ``Script`` objects do the same but cost a ``SCRIPT EXISTS`` round trip in pipelines.
    """
    try:
        return client.execute_command("EVALSHA", _sha(script), len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        return client.execute_command("EVAL", script, len(keys), *keys, *args)
