"""django-q2 entry points of the event webhooks (scheduled by migration 0006)."""

from django.conf import settings

from deliveries.api.events.dispatch import api_events_dispatch as dispatch
from deliveries.api.events.dispatch import api_records_prune as events_prune
from deliveries.api.idempotency import idempotency_records_prune

# The scheduled run leaves after this long with nothing to send, freeing its worker for senders.
IDLE_EXIT_SECONDS = 5.0


def api_events_dispatch() -> dict:
    """Every minute: send pending events, time-boxed, leaving once the outbox stays empty."""
    result = dispatch(time_box=settings.API_EVENTS_DISPATCH_TIME_BOX_SECONDS, idle_exit=IDLE_EXIT_SECONDS)
    return {"delivered": result.delivered, "failed": result.failed, "abandoned": result.abandoned}


def api_records_prune() -> dict:
    """Hourly: old events and their log, expired idempotency records."""
    return {"events": events_prune(), "idempotency_records": idempotency_records_prune()}
