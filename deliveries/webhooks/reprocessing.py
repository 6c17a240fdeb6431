"""Retrying webhooks whose processing failed (or never finished), and pruning old raw events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from itertools import takewhile

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from deliveries.models import WebhookEvent, WebhookProcessingState
from deliveries.webhooks.processing import webhook_event_process

# A row still pending this long was missed by the drainer (none running, a lost task): processed one by one.
ABANDONED_AFTER = timedelta(minutes=5)
REPROCESSABLE = (WebhookProcessingState.PENDING, WebhookProcessingState.FAILED, WebhookProcessingState.UNROUTED)


@dataclass(frozen=True, slots=True)
class ReprocessResult:
    """How many rows were tried, and in which state each ended."""

    tried: int
    processed: int
    failed: int
    unrouted: int


def webhook_events_reprocess(*, webhook_event_ids: Iterable[int]) -> ReprocessResult:
    """Processes the given rows again (pending, failed or unrouted ones; processed rows are left alone)."""
    states = [
        webhook_event_process(webhook_event=webhook_event)
        for webhook_event in WebhookEvent.objects.filter(pk__in=list(webhook_event_ids), state__in=REPROCESSABLE)
        .order_by("id")
        .iterator(chunk_size=100)
    ]
    return ReprocessResult(
        tried=len(states),
        processed=states.count(WebhookProcessingState.PROCESSED),
        failed=states.count(WebhookProcessingState.FAILED),
        unrouted=states.count(WebhookProcessingState.UNROUTED),
    )


def webhook_events_retry_due(*, limit: int = 500) -> ReprocessResult:
    """The periodic retry: failed rows under the attempt cap, and pending rows abandoned mid-processing."""
    due = (
        WebhookEvent.objects.filter(
            Q(state=WebhookProcessingState.FAILED)
            | Q(state=WebhookProcessingState.PENDING, received_at__lt=timezone.now() - ABANDONED_AFTER),
            attempts__lt=settings.WEBHOOK_PROCESSING_MAX_ATTEMPTS,
        )
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
    return webhook_events_reprocess(webhook_event_ids=list(due))


def webhook_events_prune(*, retention_days: int | None = None, batch_size: int = 5_000) -> int:
    """Deletes raw events older than the retention (setting WEBHOOK_EVENT_RETENTION_DAYS), oldest ids first.

    Ids grow with arrival, so expired rows are the lowest ids: each batch reads the lowest ids by primary key
    (`received_at` has no index) and pruning stops at the first row young enough to keep. A row stored a
    moment out of order behind it waits for the next day's run.
    """
    days = settings.WEBHOOK_EVENT_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        oldest = WebhookEvent.objects.order_by("id").values_list("pk", "received_at")[:batch_size]
        expired = [pk for pk, _ in takewhile(lambda row: row[1] < cutoff, oldest)]
        if expired:
            deleted += WebhookEvent.objects.filter(pk__in=expired).delete()[0]
        if len(expired) < batch_size:
            return deleted
