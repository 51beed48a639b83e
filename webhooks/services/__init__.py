"""Write operations of the webhooks app, one module per concern.

``ledger``: the webhook ledger every provider shares (store, claim, finish, defer, replay, sweep).
``backfill``: the counters and ledger step both backfills share. ``connections``: Meta page
connections and their health. ``facebook``: Lead Ads processing and backfill. ``instagram``: DM
threads, lead capture, intent and auto-replies. ``linkedin``: Lead Gen Form processing, erasure and
backfill; ``linkedin_connections``: OAuth connections and token refresh.
"""

from webhooks.services.connections import (
    meta_connection_mark_broken,
    meta_connection_mark_success,
    meta_page_connect,
    meta_page_save,
)
from webhooks.services.facebook import facebook_form_backfill, facebook_lead_ingest, facebook_leadgen_handle
from webhooks.services.instagram import instagram_message_handle, instagram_reply_send
from webhooks.services.ledger import (
    enqueue_events,
    webhook_delivery_store,
    webhook_event_process,
    webhook_event_replay,
    webhook_events_sweep,
    webhook_payloads_purge,
)
from webhooks.services.linkedin import linkedin_backfill, linkedin_lead_ingest, linkedin_response_erase
from webhooks.services.linkedin_connections import (
    linkedin_connection_connect,
    linkedin_connection_save,
    linkedin_oauth_complete,
    linkedin_token_refresh,
    linkedin_tokens_refresh_due,
)

__all__ = [
    "enqueue_events",
    "facebook_form_backfill",
    "facebook_lead_ingest",
    "facebook_leadgen_handle",
    "instagram_message_handle",
    "instagram_reply_send",
    "linkedin_backfill",
    "linkedin_connection_connect",
    "linkedin_connection_save",
    "linkedin_lead_ingest",
    "linkedin_oauth_complete",
    "linkedin_response_erase",
    "linkedin_token_refresh",
    "linkedin_tokens_refresh_due",
    "meta_connection_mark_broken",
    "meta_connection_mark_success",
    "meta_page_connect",
    "meta_page_save",
    "webhook_delivery_store",
    "webhook_event_process",
    "webhook_event_replay",
    "webhook_events_sweep",
    "webhook_payloads_purge",
]
