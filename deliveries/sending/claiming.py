"""Claiming batches of due rows (design.md decision 2) and the sender slots (leases) of each phone number.

PostgreSQL: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING id`, so concurrent senders
on any number of machines take disjoint rows without waiting on each other. SQLite has one writer: the same
statement, without the locking clause, is atomic in its (immediate) transaction.

Transactional rows (API sends, priority 0) are claimed before campaign rows; campaign rows only while the
campaign is launching or running and its account may send.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from deliveries.models import Delivery, DeliveryPriority, DeliveryStatus, SenderLease
from deliveries.sending.sql import is_postgresql
from wacampaigns.models import Campaign, CampaignStatus, PhoneNumber, SendingState

CLAIMABLE_CAMPAIGN_STATUSES = (CampaignStatus.LAUNCHING, CampaignStatus.RUNNING)
TABLE = Delivery._meta.db_table


def claimable_campaign_ids(phone_number: PhoneNumber) -> list[int]:
    """Campaigns of this number whose rows may be claimed now, oldest launch first."""
    return list(
        Campaign.objects.filter(
            sender=phone_number,
            status__in=CLAIMABLE_CAMPAIGN_STATUSES,
            sender__business_account__sending_state=SendingState.ACTIVE,
        )
        .order_by("launched_at", "id")
        .values_list("id", flat=True)
    )


def _claim(where: str, params: list, *, limit: int, token: uuid.UUID, now: datetime) -> list[int]:
    lock = " FOR UPDATE SKIP LOCKED" if is_postgresql() else ""
    # Table names and clauses are this module's constants; every value is a parameter.
    sql = (
        f"UPDATE {TABLE} SET status = %s, claimed_at = %s, claim_token = %s "  # noqa: S608
        f"WHERE id IN (SELECT id FROM {TABLE} WHERE status = %s AND not_before <= %s AND {where} "
        f"ORDER BY not_before, id LIMIT %s{lock}) RETURNING id"
    )
    token_value = token if is_postgresql() else token.hex
    with connection.cursor() as cursor:
        cursor.execute(sql, [DeliveryStatus.SENDING, now, token_value, DeliveryStatus.QUEUED, now, *params, limit])
        return [row[0] for row in cursor.fetchall()]


def transactional_due(phone_number: PhoneNumber) -> bool:
    """Whether an API or test send of this number is due (one read of the claim index)."""
    return Delivery.objects.filter(
        sender=phone_number,
        priority=DeliveryPriority.TRANSACTIONAL,
        campaign__isnull=True,
        status=DeliveryStatus.QUEUED,
        not_before__lte=timezone.now(),
    ).exists()


def rows_claim(*, phone_number: PhoneNumber, token: uuid.UUID, limit: int, campaign_ids: list[int]) -> list[int]:
    """Claims up to `limit` due rows of this number: transactional first, then campaign rows in launch order."""
    now = timezone.now()
    with transaction.atomic():
        ids = _claim(
            "sender_id = %s AND priority = %s AND campaign_id IS NULL",
            [phone_number.pk, int(DeliveryPriority.TRANSACTIONAL)],
            limit=limit,
            token=token,
            now=now,
        )
        account_active = PhoneNumber.objects.filter(
            pk=phone_number.pk, business_account__sending_state=SendingState.ACTIVE
        ).exists()
        if not account_active:
            # The claim just made is handed back: nothing goes out on a stopped account.
            rows_release(ids=ids, token=token)
            return []
        for campaign_id in campaign_ids:
            if len(ids) >= limit:
                break
            # The campaign's status is read in the same statement, so a pause committed before it wins.
            ids += _claim(
                f"campaign_id = %s AND EXISTS (SELECT 1 FROM {Campaign._meta.db_table} c WHERE c.id = %s "  # noqa: S608
                "AND c.status IN (%s, %s))",
                [campaign_id, campaign_id, *CLAIMABLE_CAMPAIGN_STATUSES],
                limit=limit - len(ids),
                token=token,
                now=now,
            )
    return ids


def rows_release(*, ids: list[int], token: uuid.UUID, not_before: datetime | None = None) -> int:
    """Hands claimed, never-attempted rows back to the queue (pause, stopped account, hygiene wait)."""
    if not ids:
        return 0
    changes = {"status": DeliveryStatus.QUEUED, "claim_token": None, "claimed_at": None}
    if not_before is not None:
        changes["not_before"] = not_before
    return Delivery.objects.filter(
        id__in=ids, claim_token=token, status=DeliveryStatus.SENDING, attempted_at__isnull=True
    ).update(**changes)


# --- sender slots ------------------------------------------------------------------------------------


def lease_acquire(*, phone_number_id: int, slot: int, token: uuid.UUID) -> bool:
    """Takes the slot if nobody holds a live lease on it."""
    now = timezone.now()
    SenderLease.objects.get_or_create(phone_number_id=phone_number_id, slot=slot)
    return bool(
        SenderLease.objects.filter(phone_number_id=phone_number_id, slot=slot)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now) | Q(holder=token))
        .update(holder=token, expires_at=now + timedelta(seconds=settings.SENDER_LEASE_SECONDS))
    )


def lease_renew(*, phone_number_id: int, slot: int, token: uuid.UUID) -> bool:
    """Extends the lease; False when another task took the slot over (this one must stop)."""
    expires = timezone.now() + timedelta(seconds=settings.SENDER_LEASE_SECONDS)
    return bool(
        SenderLease.objects.filter(phone_number_id=phone_number_id, slot=slot, holder=token).update(expires_at=expires)
    )


def lease_release(*, phone_number_id: int, slot: int, token: uuid.UUID) -> None:
    SenderLease.objects.filter(phone_number_id=phone_number_id, slot=slot, holder=token).update(
        holder=None, expires_at=None
    )


def live_lease_holders(*, now: datetime | None = None) -> set[uuid.UUID]:
    now = now or timezone.now()
    return set(SenderLease.objects.filter(expires_at__gte=now, holder__isnull=False).values_list("holder", flat=True))


def slots_wanted(phone_number: PhoneNumber) -> int:
    """Sender tasks this number should have: the highest concurrency of its sending campaigns, at least one.

    Never every worker of a qcluster: the webhook drainer, launches and imports need one too.
    """
    concurrencies = Campaign.objects.filter(sender=phone_number, status__in=CLAIMABLE_CAMPAIGN_STATUSES).values_list(
        "concurrency", flat=True
    )
    workers = int(settings.Q_CLUSTER.get("workers", 2))
    return max(1, min(max([1, *concurrencies]), workers - 1))
