"""One keep-alive HTTP session per outside service and process, shared by its clients."""

from __future__ import annotations

import os

import requests

_sessions: dict[tuple[int, str], requests.Session] = {}


def http_session(user_agent: str) -> requests.Session:
    """The process's session for one client (``User-Agent`` names it); a forked worker makes its own,
    so two processes never share a pooled socket."""
    key = (os.getpid(), user_agent)
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = requests.Session()
        session.headers["User-Agent"] = user_agent
    return session
