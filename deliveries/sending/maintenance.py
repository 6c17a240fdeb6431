"""The periodic reaper: stale claims, ambiguous rows, senders that died, launches that died, completion.

Runs every minute (django-q2 schedule `deliveries.sending maintenance`). Our rows, not the broker, are the
source of truth: a Redis broker loses tasks in flight and a SIGKILL loses everything in memory, so anything
with due rows and no live sender gets one (design.md decision 4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from deliveries.models import Delivery, DeliveryStatus, SenderLease, WebhookEvent, WebhookProcessingState
from deliveries.sending import claiming
from wacampaigns.models import Campaign, CampaignStatus, PhoneNumber, SendingState

logger = logging.getLogger(__name__)
REPORTED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED)
# A claim younger than this is never taken back, even without a live lease (the claim may be a moment old).
CLAIM_SETTLE_SECONDS = 5


def stale_claims_recover(*, now: datetime | None = None) -> tuple[int, int]:
    """Rows claimed by a sender that is gone: never attempted → queued; attempted → ambiguous.

    A sender is gone when no live lease carries its token, or when its claim is older than the task timeout.
    Returns (requeued, made ambiguous).
    """
    now = now or timezone.now()
    live = claiming.live_lease_holders(now=now)
    stale = Delivery.objects.filter(status=DeliveryStatus.SENDING).filter(
        Q(claimed_at__lt=now - timedelta(seconds=settings.Q_TASK_TIMEOUT_SECONDS))
        | (Q(claimed_at__lt=now - timedelta(seconds=CLAIM_SETTLE_SECONDS)) & ~Q(claim_token__in=live))
    )
    requeued = stale.filter(attempted_at__isnull=True).update(
        status=DeliveryStatus.QUEUED, claim_token=None, claimed_at=None
    )
    ambiguous = stale.filter(attempted_at__isnull=False).update(
        status=DeliveryStatus.AMBIGUOUS, claim_token=None, error_title="No answer (the sender stopped)"
    )
    if requeued or ambiguous:
        logger.warning("Recovered stale claims: %s back to the queue, %s ambiguous", requeued, ambiguous)
    return requeued, ambiguous


def ambiguous_rows_resolve(*, now: datetime | None = None) -> int:
    """Re-queues ambiguous rows Meta provably never accepted (design.md decision 3).

    Both must hold: the grace period (longer than Meta's pacing window) passed with no webhook naming the row
    (such a webhook would have moved it on), and a status webhook arrived for a message of the same number
    accepted after this row was attempted — proof the webhook pipeline is live, so silence means "not sent".
    Webhooks already received are processed first: while any is pending, or one received since the row was
    attempted failed to process (it may name the row), nothing is re-sent.
    """
    now = now or timezone.now()
    if WebhookEvent.objects.filter(state=WebhookProcessingState.PENDING, received_at__lte=now).exists():
        return 0
    unprocessed_since = WebhookEvent.objects.filter(
        state=WebhookProcessingState.FAILED, received_at__gte=OuterRef("attempted_at")
    )
    later_reported = Delivery.objects.filter(
        sender_id=OuterRef("sender_id"), accepted_at__gt=OuterRef("attempted_at"), status__in=REPORTED
    )
    rows = Delivery.objects.filter(
        status=DeliveryStatus.AMBIGUOUS,
        attempted_at__lt=now - timedelta(seconds=settings.AMBIGUOUS_GRACE_SECONDS),
        wamid__isnull=True,
    ).filter(Exists(later_reported), ~Exists(unprocessed_since))
    # A cancelled campaign sends nothing more: its never-accepted rows end cancelled, not queued.
    rows.filter(campaign__status=CampaignStatus.CANCELLED).update(
        status=DeliveryStatus.CANCELLED, claim_token=None, claimed_at=None, finished_at=now
    )
    count = rows.exclude(campaign__status=CampaignStatus.CANCELLED).update(
        status=DeliveryStatus.QUEUED,
        attempted_at=None,
        claim_token=None,
        claimed_at=None,
        not_before=now,
        error_title="Re-sent: Meta never accepted it",
    )
    if count:
        logger.warning("Re-queued %s ambiguous rows that Meta never accepted", count)
    return count


def campaigns_complete(*, now: datetime | None = None) -> list[int]:
    """Running campaigns whose audience is built and that have no queued, sending or ambiguous row."""
    now = now or timezone.now()
    open_rows = Delivery.objects.filter(
        campaign_id=OuterRef("pk"),
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.AMBIGUOUS),
    )
    done = list(
        Campaign.objects.filter(status=CampaignStatus.RUNNING, audience_materialized_at__isnull=False)
        .exclude(Exists(open_rows))
        .values_list("id", flat=True)
    )
    completed = []
    for campaign_id in done:
        # Re-checked in the UPDATE: a row re-queued in between keeps the campaign running.
        if (
            Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING)
            .exclude(Exists(open_rows))
            .update(status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now)
        ):
            completed.append(campaign_id)
    return completed


def materializers_to_restart(*, now: datetime | None = None) -> list[int]:
    """Campaigns whose audience is unfinished and whose materializer's lease ran out."""
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(
            status__in=(CampaignStatus.LAUNCHING, CampaignStatus.RUNNING, CampaignStatus.PAUSED),
            audience_materialized_at__isnull=True,
        )
        .filter(Q(materializer_lease_until__isnull=True) | Q(materializer_lease_until__lt=now))
        .values_list("id", flat=True)
    )


@dataclass
class SlotToStart:
    phone_number_id: int
    slot: int


def sender_slots_to_start(*, now: datetime | None = None) -> list[SlotToStart]:
    """Slots of numbers with due work that no live sender holds."""
    from deliveries.sending.sender import work_is_due

    now = now or timezone.now()
    numbers = (
        PhoneNumber.objects.filter(business_account__sending_state=SendingState.ACTIVE)
        .filter(
            Exists(Delivery.objects.filter(sender_id=OuterRef("pk"), status=DeliveryStatus.QUEUED, not_before__lte=now))
            | Exists(Campaign.objects.filter(sender_id=OuterRef("pk"), status=CampaignStatus.LAUNCHING))
        )
        .select_related("business_account")
    )
    slots = []
    for number in numbers:
        if not work_is_due(number):
            continue
        held = set(SenderLease.objects.filter(phone_number=number, expires_at__gte=now).values_list("slot", flat=True))
        slots += [SlotToStart(number.pk, slot) for slot in range(claiming.slots_wanted(number)) if slot not in held]
    return slots


@dataclass
class MaintenanceReport:
    requeued: int = 0
    made_ambiguous: int = 0
    ambiguous_resent: int = 0
    completed: list[int] = field(default_factory=list)
    materializers: list[int] = field(default_factory=list)
    senders: list[SlotToStart] = field(default_factory=list)
    scheduled_launched: list[int] = field(default_factory=list)
