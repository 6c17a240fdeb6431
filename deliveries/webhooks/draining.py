"""The webhook drainer: applies pending raw rows in batches, off the request path (design.md decision 8).

A POST only verifies, stores the raw row and answers. One drainer at a time polls for pending rows (every
WEBHOOK_DRAIN_POLL_SECONDS while it lives) and hands them, WEBHOOK_DRAIN_BATCH_SIZE at a time, to
`webhook_events_process_batch`. It runs as a django-q2 task (`tasks.webhook_events_drain`) that the POSTs wake
when none is running, or in the foreground (`manage.py drain_webhooks`), which holds the lease for good.

The lease (`WebhookDrainerLease`, one row) is a promise: its holder looks for pending rows until `expires_at`
and releases only after a last empty look past that time. So a POST that sees a live lease (or remembers one,
per process, without a query) has nothing to do; one that sees none enqueues a drainer task, unless another
POST did in the last KICK_RETRY_SECONDS (a conditional UPDATE of `kicked_at`: one POST wins, never one task
per POST). A task that never runs (qcluster down, a Redis broker losing it) is asked for again after that, and
the periodic retry task wakes the drainer when pending rows wait.

Correctness does not rest on the lease: a batch claims its rows inside its transaction (SKIP LOCKED on
PostgreSQL; SQLite has a single writer), so two drainers would only waste work.

A task works for WEBHOOK_DRAIN_TIME_BOX_SECONDS (well under the django-q2 timeout) and then hands its lease to
a successor task; after WEBHOOK_DRAIN_IDLE_SECONDS without rows it stops renewing and ends with its lease.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from deliveries.models import WebhookDrainerLease, WebhookEvent, WebhookProcessingState
from deliveries.webhooks.processing import webhook_events_process_batch

logger = logging.getLogger(__name__)

DRAIN_TASK = "deliveries.webhooks.tasks.webhook_events_drain"
LEASE_ID = 1
LEASE_SECONDS = 5.0
RENEW_EVERY_SECONDS = 1.0
KICK_RETRY_SECONDS = 10.0
# Clock and commit-order slack between a POST reading the lease and the drainer's last look.
MARGIN = timedelta(milliseconds=250)
HELD_ELSEWHERE = "another drainer holds the lease"
ROW_FIELDS = ("id", "raw_body", "meta_app_id", "received_at", "state", "attempts")

# Until when this process knows a drainer will still look for rows (a lease it read): no query before then.
_covered_until: datetime | None = None


@dataclass(slots=True)
class DrainReport:
    """What one drainer run did, and why it stopped."""

    batches: int = 0
    processed: int = 0
    unrouted: int = 0
    failed: int = 0
    stopped_because: str = ""


def _lease_row_ensure() -> None:
    WebhookDrainerLease.objects.bulk_create([WebhookDrainerLease(id=LEASE_ID)], ignore_conflicts=True)


def webhook_drainer_wake() -> bool:
    """After a row is committed: makes sure a drainer will look at it. True when it enqueued a drainer task."""
    global _covered_until
    now = timezone.now()
    if _covered_until is not None and now < _covered_until - MARGIN:
        return False
    lease = WebhookDrainerLease.objects.filter(pk=LEASE_ID).values_list("holder", "expires_at", "kicked_at").first()
    if lease is None:
        _lease_row_ensure()
    else:
        holder, expires_at, kicked_at = lease
        if holder is not None and expires_at is not None and expires_at > now + MARGIN:
            _covered_until = expires_at
            return False
        if kicked_at is not None and kicked_at > now - timedelta(seconds=KICK_RETRY_SECONDS):
            return False  # a task is on its way; it will look at every row committed before it starts
    won = (
        WebhookDrainerLease.objects.filter(pk=LEASE_ID)
        .filter(Q(holder__isnull=True) | Q(expires_at__isnull=True) | Q(expires_at__lte=now + MARGIN))
        .filter(Q(kicked_at__isnull=True) | Q(kicked_at__lte=now - timedelta(seconds=KICK_RETRY_SECONDS)))
        .update(kicked_at=now)
    )
    if not won:
        return False
    try:
        async_task(DRAIN_TASK, task_name="webhook drainer")
    # Not hidden: the row is stored and stays pending; the next POST after KICK_RETRY_SECONDS or the periodic
    # retry asks again. A broker outage must not turn Meta's delivery into a 500 (Meta would resend it).
    except Exception:
        logger.exception("Could not enqueue the webhook drainer; pending rows wait for the next wake-up")
        return False
    return True


def webhook_drainer_wake_if_pending() -> bool:
    """The periodic retry's safety net: wakes a drainer when pending rows wait (a lost task, a restart)."""
    if not WebhookEvent.objects.filter(state=WebhookProcessingState.PENDING).exists():
        return False
    global _covered_until
    _covered_until = None
    return webhook_drainer_wake()


def _lease_acquire(token: uuid.UUID) -> datetime | None:
    """The new expiry, or None when another live drainer holds the lease."""
    _lease_row_ensure()
    now = timezone.now()
    expires_at = now + timedelta(seconds=LEASE_SECONDS)
    taken = (
        WebhookDrainerLease.objects.filter(pk=LEASE_ID)
        .filter(Q(holder__isnull=True) | Q(holder=token) | Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        .update(holder=token, expires_at=expires_at, kicked_at=None)
    )
    return expires_at if taken else None


def _lease_renew(token: uuid.UUID) -> datetime | None:
    expires_at = timezone.now() + timedelta(seconds=LEASE_SECONDS)
    renewed = WebhookDrainerLease.objects.filter(pk=LEASE_ID, holder=token).update(expires_at=expires_at)
    return expires_at if renewed else None


def _lease_release(token: uuid.UUID) -> None:
    WebhookDrainerLease.objects.filter(pk=LEASE_ID, holder=token).update(holder=None, expires_at=None, kicked_at=None)


def _pending_batch(limit: int) -> list[WebhookEvent]:
    return list(
        WebhookEvent.objects.filter(state=WebhookProcessingState.PENDING).order_by("id").only(*ROW_FIELDS)[:limit]
    )


def _drain_batch(report: DrainReport, batch_size: int) -> int:
    """Processes one batch of pending rows; the number of rows it found."""
    rows = _pending_batch(batch_size)
    if rows:
        result = webhook_events_process_batch(webhook_events=rows)
        report.batches += 1
        report.processed += result.processed
        report.unrouted += result.unrouted
        report.failed += result.failed
    return len(rows)


def webhook_events_drain_pending(*, batch_size: int | None = None) -> DrainReport:
    """Applies every pending row now, in this process, without the lease (operators, tests)."""
    size = batch_size or settings.WEBHOOK_DRAIN_BATCH_SIZE
    report = DrainReport(stopped_because="nothing pending")
    while _drain_batch(report, size):
        pass
    return report


def _lease_wait(token: uuid.UUID, deadline: float) -> datetime | None:
    """Takes the lease; None when a live drainer holds it and will look for rows longer than MARGIN still."""
    while True:
        expires_at = _lease_acquire(token)
        if expires_at is not None:
            return expires_at
        held_until = WebhookDrainerLease.objects.filter(pk=LEASE_ID).values_list("expires_at", flat=True).first()
        now = timezone.now()
        if held_until is None:
            continue
        if held_until > now + MARGIN or time.monotonic() >= deadline:
            return None
        # The holder is about to end: take over once its promise has run out.
        time.sleep((held_until - now).total_seconds() + 0.01)


def webhook_events_drain(
    *,
    token: uuid.UUID | None = None,
    time_box: float | None = None,
    idle_seconds: float | None = None,
    on_time_box=None,
) -> DrainReport:
    """Holds the lease and drains until idle (`idle_seconds`, None: never) or the time box (None: never).

    At the time box, `on_time_box(token)` is called with the lease still live for LEASE_SECONDS, so a
    successor given the token takes over without a gap.
    """
    token = token or uuid.uuid4()
    started = time.monotonic()
    deadline = started + time_box if time_box is not None else float("inf")
    report = DrainReport()
    lease_expires = _lease_wait(token, deadline)
    if lease_expires is None:
        report.stopped_because = HELD_ELSEWHERE
        return report
    batch_size = settings.WEBHOOK_DRAIN_BATCH_SIZE
    poll = settings.WEBHOOK_DRAIN_POLL_SECONDS
    last_work = last_renew = time.monotonic()
    while True:
        found = _drain_batch(report, batch_size)
        now = time.monotonic()
        if found:
            last_work = now
        idle = idle_seconds is not None and now - last_work >= idle_seconds
        if now >= deadline and not idle:
            if _lease_renew(token) is not None and on_time_box is not None:
                on_time_box(token)
            report.stopped_because = "time box"
            return report
        if not idle and now - last_renew >= RENEW_EVERY_SECONDS:
            lease_expires, last_renew = _lease_renew(token), now
            if lease_expires is None:
                report.stopped_because = "lease taken over"
                return report
        if idle and timezone.now() >= lease_expires:
            # The promise has run out: a last look, then release (later POSTs see no lease and wake a drainer).
            if _drain_batch(report, batch_size):
                last_work = time.monotonic()
                continue
            _lease_release(token)
            report.stopped_because = "idle"
            return report
        if found < batch_size:
            time.sleep(poll)
