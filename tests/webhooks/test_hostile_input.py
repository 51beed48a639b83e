"""A signed delivery is never a 500 or an endless 503 because of what a visitor typed (issue 23).

NUL, lone surrogates and non-finite numbers cannot be stored by PostgreSQL; the receiver strips them
from the parsed items (the encrypted ledger keeps the raw body) instead of refusing: the provider
cannot fix a visitor's answer and would retry a refused delivery forever.
"""

from __future__ import annotations

import pytest

from tests.webhooks.conftest import fixture_bytes
from webhooks.models import WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db

SECRET = "Geheime Nachricht 4711"


@pytest.mark.parametrize("inject", ["\\u0000", "\\ud800", "\\u0000\\udfff"], ids=["nul", "surrogate", "both"])
def test_unstorable_characters_in_a_signed_delivery_are_stripped(
    post_webhook, django_capture_on_commit_callbacks, caplog, capsys, inject
):
    body = fixture_bytes("instagram/message_hello.json").replace(b'"Hello!"', f'"{SECRET}{inject}"'.encode())
    with django_capture_on_commit_callbacks():
        response = post_webhook("instagram", body)
    assert response.status_code == 200, response.content
    assert response.json()["received"] == 1
    event = WebhookEvent.objects.get()
    text = event.item["messaging"]["message"]["text"] if "messaging" in event.item else str(event.item)
    assert "\x00" not in str(event.item) and SECRET in text
    assert WebhookDelivery.objects.get().raw_body == body.decode()  # the ledger keeps the original
    logged = caplog.text + "".join(capsys.readouterr())
    assert SECRET not in logged


def test_a_signed_delivery_nested_too_deeply_is_400(post_webhook):
    body = b'{"object":"instagram","entry":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert post_webhook("instagram", body).status_code == 400
