"""django-q2 entry points for webhooks: the drainer, periodic retry and pruning, the consent confirmation reply.

The schedules are created by the data migration `deliveries.0004_webhook_schedules` (they exist after
`migrate`): the retry every 5 minutes, the pruning daily. The drainer has no schedule: POSTs wake it
(`deliveries.webhooks.draining`), and the retry wakes it when pending rows wait.
"""

import logging
import uuid

from django.conf import settings
from django_q.tasks import async_task

from contacts.models import ConsentKind
from deliveries.models import InboundMessage
from deliveries.webhooks import draining
from deliveries.webhooks.reprocessing import webhook_events_prune, webhook_events_retry_due
from wacampaigns.whatsapp.client import CloudApiClient
from wacampaigns.whatsapp.errors import CloudApiError

logger = logging.getLogger(__name__)


def webhook_events_drain(token: str | None = None) -> dict:
    """One time-boxed drainer run; at its time box it hands the lease to a successor task."""

    def successor(lease_token: uuid.UUID) -> None:
        async_task(draining.DRAIN_TASK, str(lease_token), task_name="webhook drainer")

    report = draining.webhook_events_drain(
        token=uuid.UUID(token) if token else None,
        time_box=settings.WEBHOOK_DRAIN_TIME_BOX_SECONDS,
        idle_seconds=settings.WEBHOOK_DRAIN_IDLE_SECONDS,
        on_time_box=successor,
    )
    return {
        "batches": report.batches,
        "processed": report.processed,
        "unrouted": report.unrouted,
        "failed": report.failed,
        "stopped": report.stopped_because,
    }


def webhook_events_retry() -> str:
    result = webhook_events_retry_due()
    woke = draining.webhook_drainer_wake_if_pending()
    return f"tried {result.tried}: {result.processed} processed, {result.failed} failed, {result.unrouted} unrouted" + (
        "; woke the drainer" if woke else ""
    )


def webhook_events_prune_old() -> str:
    return f"deleted {webhook_events_prune()} raw webhook events"


def consent_confirmation_send(inbound_message_id: int, kind: str) -> str:
    """Answers an opt-out / opt-in keyword with free-form text (inside the 24 h window the message opened)."""
    message = InboundMessage.objects.select_related("phone_number__business_account").get(pk=inbound_message_id)
    number = message.phone_number
    account = number.business_account
    client = CloudApiClient(
        base_url=account.graph_api_base_url,
        api_version=account.graph_api_version,
        access_token=account.access_token,
        phone_number_id=number.phone_number_id,
        waba_id=account.waba_id,
        connect_timeout_seconds=settings.GRAPH_API_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds=settings.GRAPH_API_READ_TIMEOUT_SECONDS,
    )
    text = (
        settings.CONSENT_OPT_OUT_CONFIRMATION_TEXT
        if kind == ConsentKind.OPT_OUT
        else settings.CONSENT_OPT_IN_CONFIRMATION_TEXT
    )
    try:
        result = client.send_text(
            to=message.from_phone,
            text=text,
            biz_opaque_callback_data=f"consent-confirmation-{message.pk}",
            reply_to_wamid=message.wamid,
        )
    except CloudApiError as err:
        logger.warning("Consent confirmation to inbound message %s not sent: %s", message.pk, err)
        return f"not sent: {err}"
    return f"sent {result.wamid}"
