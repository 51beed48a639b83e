"""Fixtures of the follow-up tests: a real SMTP server on 127.0.0.1 that our emails go through.

``smtp_server`` starts ``aiosmtpd`` on a free port, points Django's SMTP backend at it and yields the
list of messages it received (``email.message.EmailMessage`` objects, parsed with the modern policy:
``msg["List-Unsubscribe"]``, ``msg.get_body(("plain",)).get_content()``). ``smtp_server.envelopes``
holds the raw envelopes (sender, recipients) in the same order.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller


class _Collector:
    """The aiosmtpd handler: parses and keeps every message it accepts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: ReceivedMessages = ReceivedMessages()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.messages.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class ReceivedMessages(list):
    """The messages a test's SMTP server received, oldest first, plus their envelopes."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []
        self.port = 0

    def clear(self) -> None:
        super().clear()
        self.envelopes.clear()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server for this test; Django's SMTP backend sends to it. Yields the received messages."""
    collector = _Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    collector.messages.port = port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield collector.messages
    finally:
        controller.stop()
