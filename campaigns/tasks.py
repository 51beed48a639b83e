"""Tasks of the campaigns app (SPEC §2 module shape); filled by the campaigns feature issue."""

from __future__ import annotations

from celery import shared_task

# --- Booking and status mirroring (H5) --------------------------------------------------------


@shared_task(name="campaigns.campaign_book_task", bind=True, ignore_result=True)
def campaign_book_task(self, campaign_id: int, actor_id: int | None = None) -> None:
    """Book a pending campaign in Meta; a throttled or unreachable Meta retries, the booking continues."""
    from accounts.models import User
    from campaigns.models import AdCampaign
    from campaigns.services.booking import MetaUpstreamError, campaign_book
    from integrations.meta.graph import GraphTransientError

    campaign = AdCampaign.objects.filter(pk=campaign_id, status=AdCampaign.Status.PENDING).first()
    if campaign is None:
        return  # booked, withdrawn or attached by hand meanwhile
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    try:
        campaign_book(campaign=campaign, actor=actor)
    except MetaUpstreamError as exc:
        if isinstance(exc.graph_error, GraphTransientError):
            raise self.retry(exc=exc.graph_error, countdown=exc.graph_error.retry_after or 60) from None
        # Permanent: stored on the campaign (booking_error) for the admin.


@shared_task(name="campaigns.campaign_status_sync_task", ignore_result=True)
def campaign_status_sync_task() -> dict[str, int]:
    """Beat (15 min): deferred pause/resume/complete calls and Meta's review state."""
    from campaigns.services.booking import campaign_status_sync

    return campaign_status_sync()


# --- Insights and the Conversions API (H7) ----------------------------------------------------


@shared_task(name="campaigns.campaign_insights_sync_task", ignore_result=True)
def campaign_insights_sync_task(campaign_id: int | None = None) -> dict:
    """Daily insights of the due campaigns (beat) or of one (on demand); a throttled run stops, the next continues."""
    from campaigns.services.insights import campaigns_insights_sync

    run = campaigns_insights_sync(campaign_ids=[campaign_id] if campaign_id else None)
    return {"campaigns": run.campaigns, "days": run.days, "failed": run.failed, "stopped": run.stopped}


@shared_task(name="campaigns.conversion_events_send_task", ignore_result=True)
def conversion_events_send_task() -> dict[str, int]:
    """Send the due Conversions API events in batches (beat, and queued after each new event)."""
    from campaigns.services.conversions import conversion_events_send

    return conversion_events_send()
