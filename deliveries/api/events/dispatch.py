"""Event dispatch: each subscription reads the outbox from its cursor and POSTs events one by one, in order.

Order: events are read by (transaction id, event id). On PostgreSQL a sequence value is taken at INSERT, but
transactions commit in another order, so a cursor on ids alone could pass over an event that commits later
with a lower id. Only events of transactions older than the oldest running one (`pg_snapshot_xmin`) are read:
no event can appear before the cursor afterwards. SQLite has one writer at a time, so its ids are commit order
(`transaction_id` is 0 there).

Delivery is at least once: a crash between a POST and the cursor update re-sends that event; subscribers
de-duplicate on the event id.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from deliveries.api.events.payloads import event_payloads, event_public_id
from deliveries.api.events.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, event_signature
from deliveries.api.models import (
    ApiEvent,
    ApiEventKind,
    EventDeliveryAttempt,
    EventDeliveryOutcome,
    EventSubscription,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
USER_AGENT = "wacampaigns-events/1"
POLL_SECONDS = 0.5


@dataclass
class DispatchResult:
    delivered: int = 0
    failed: int = 0
    abandoned: int = 0

    def add(self, other: DispatchResult) -> None:
        self.delivered += other.delivered
        self.failed += other.failed
        self.abandoned += other.abandoned


def _committed_horizon() -> int | None:
    """Events of transactions below this id are all committed (PostgreSQL); None: every visible event is."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return cursor.fetchone()[0]


def subscription_events(subscription: EventSubscription, *, horizon: int | None) -> QuerySet[ApiEvent]:
    """The events this subscription has not handled yet, in dispatch order."""
    wanted = Q(pk__in=[])
    account = Q(business_account_id=subscription.business_account_id)
    if subscription.message_status_events:
        status = Q(kind=ApiEventKind.MESSAGE_STATUS) & account
        if not subscription.include_campaign_messages:
            status &= Q(campaign_id__isnull=True)
        wanted |= status
    if subscription.inbound_message_events:
        wanted |= Q(kind=ApiEventKind.MESSAGE_RECEIVED) & account
    if subscription.consent_events:
        wanted |= Q(kind=ApiEventKind.CONSENT)
    after = Q(transaction_id__gt=subscription.cursor_transaction) | Q(
        transaction_id=subscription.cursor_transaction, pk__gt=subscription.cursor_event
    )
    events = ApiEvent.objects.filter(after & wanted)
    if horizon is not None:
        events = events.filter(transaction_id__lt=horizon)
    return events.order_by("transaction_id", "id")


def subscription_cursor_to_head(subscription: EventSubscription) -> None:
    """Starts a new subscription at the newest event: it receives what happens from now on, not history."""
    last = ApiEvent.objects.order_by("-transaction_id", "-id").values_list("transaction_id", "id").first()
    if last is not None:
        subscription.cursor_transaction, subscription.cursor_event = last


def backoff_seconds(failures: int) -> float:
    """Exponential: base, 2 base, 4 base … capped (failures counts the failed attempts so far, from 1)."""
    base = settings.API_EVENTS_BACKOFF_BASE_SECONDS
    return min(settings.API_EVENTS_BACKOFF_MAX_SECONDS, base * 2 ** max(0, min(failures - 1, 30)))


def _post(session: requests.Session, subscription: EventSubscription, event: ApiEvent, payload: dict):
    """POSTs one event: (HTTP status or None, error text, duration in ms)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: event_signature(subscription.secret, body),
        EVENT_ID_HEADER: event_public_id(event),
    }
    started = time.monotonic()
    try:
        response = session.post(
            subscription.url,
            data=body,
            headers=headers,
            timeout=(settings.API_EVENTS_CONNECT_TIMEOUT_SECONDS, settings.API_EVENTS_READ_TIMEOUT_SECONDS),
            allow_redirects=False,
        )
    except requests.RequestException as err:
        return None, f"{type(err).__name__}: {err}"[:500], int((time.monotonic() - started) * 1000)
    duration = int((time.monotonic() - started) * 1000)
    response.close()
    if 200 <= response.status_code < 300:
        return response.status_code, "", duration
    return response.status_code, f"HTTP {response.status_code}", duration


def _lease(subscription_id: int, token: uuid.UUID) -> bool:
    now = timezone.now()
    seconds = settings.API_EVENTS_CONNECT_TIMEOUT_SECONDS + settings.API_EVENTS_READ_TIMEOUT_SECONDS + 30
    return bool(
        EventSubscription.objects.filter(pk=subscription_id, is_active=True)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_holder=token))
        .update(lease_holder=token, lease_expires_at=now + timedelta(seconds=seconds))
    )


def _lease_release(subscription_id: int, token: uuid.UUID) -> None:
    EventSubscription.objects.filter(pk=subscription_id, lease_holder=token).update(
        lease_holder=None, lease_expires_at=None
    )


def subscription_dispatch(
    subscription: EventSubscription, *, session: requests.Session, horizon: int | None, deadline: float
) -> DispatchResult:
    """Sends the subscription's next batch of events in order; stops at the first refusal (retried later)."""
    result = DispatchResult()
    now = timezone.now()
    if subscription.next_attempt_at is not None and subscription.next_attempt_at > now:
        return result
    events = list(subscription_events(subscription, horizon=horizon)[:BATCH_SIZE])
    if not events:
        return result
    payloads = event_payloads(events)
    attempts: list[EventDeliveryAttempt] = []
    for event in events:
        if time.monotonic() >= deadline:
            break
        attempted_at = timezone.now()
        status, error, duration = _post(session, subscription, event, payloads[event.pk])
        attempt = EventDeliveryAttempt(
            subscription=subscription,
            event=event,
            attempted_at=attempted_at,
            response_status=status,
            error=error,
            duration_ms=duration,
            outcome=EventDeliveryOutcome.DELIVERED,
        )
        attempts.append(attempt)
        if not error:
            result.delivered += 1
            subscription.cursor_transaction, subscription.cursor_event = event.transaction_id, event.pk
            subscription.failing_since, subscription.consecutive_failures, subscription.next_attempt_at = None, 0, None
            continue
        failing_since = subscription.failing_since or attempted_at
        if attempted_at - failing_since >= timedelta(hours=settings.API_EVENTS_RETRY_HOURS):
            attempt.outcome = EventDeliveryOutcome.ABANDONED
            result.abandoned += 1
            logger.warning("event %s abandoned for subscription %s: %s", event.pk, subscription.pk, error)
            subscription.cursor_transaction, subscription.cursor_event = event.transaction_id, event.pk
            subscription.failing_since, subscription.consecutive_failures, subscription.next_attempt_at = None, 0, None
            continue
        attempt.outcome = EventDeliveryOutcome.FAILED
        result.failed += 1
        subscription.failing_since = failing_since
        subscription.consecutive_failures += 1
        subscription.next_attempt_at = attempted_at + timedelta(
            seconds=backoff_seconds(subscription.consecutive_failures)
        )
        break
    EventDeliveryAttempt.objects.bulk_create(attempts)
    EventSubscription.objects.filter(pk=subscription.pk).update(
        cursor_transaction=subscription.cursor_transaction,
        cursor_event=subscription.cursor_event,
        failing_since=subscription.failing_since,
        consecutive_failures=subscription.consecutive_failures,
        next_attempt_at=subscription.next_attempt_at,
    )
    return result


def api_events_dispatch(*, time_box: float, idle_exit: float | None) -> DispatchResult:
    """Dispatches every active subscription's events until `time_box` seconds pass, or the outbox has been empty
    for `idle_exit` seconds (None: until the time box ends)."""
    token = uuid.uuid4()
    started = time.monotonic()
    deadline = started + time_box
    idle_since = started
    total = DispatchResult()
    with requests.Session() as session:
        while time.monotonic() < deadline:
            subscription_ids = list(EventSubscription.objects.filter(is_active=True).values_list("id", flat=True))
            if not subscription_ids and idle_exit is not None:
                break
            horizon = _committed_horizon()
            progressed = False
            for subscription_id in subscription_ids:
                if not _lease(subscription_id, token):
                    continue
                try:
                    subscription = EventSubscription.objects.get(pk=subscription_id)
                    result = subscription_dispatch(subscription, session=session, horizon=horizon, deadline=deadline)
                finally:
                    _lease_release(subscription_id, token)
                total.add(result)
                progressed = progressed or bool(result.delivered or result.abandoned)
            now = time.monotonic()
            if progressed:
                idle_since = now
                continue
            if idle_exit is not None and now - idle_since >= idle_exit:
                break
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))
    return total


def api_records_prune() -> int:
    """Deletes events (and their delivery log) older than API_EVENTS_RETENTION_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.API_EVENTS_RETENTION_DAYS)
    deleted, _ = ApiEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
