"""Reads behind the dashboards: a campaign's numbers and timeline, the 30-day overview, recipients by keyset."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from deliveries.analytics.counters import (
    CampaignNumbers,
    campaign_numbers,
    counter_rows,
    counter_rows_counted,
)
from deliveries.analytics.models import CampaignTimelineBucket
from deliveries.models import Delivery
from wacampaigns.models import BusinessAccount, Campaign, PhoneNumber

OVERVIEW_DAYS = 30
TimelinePoint = tuple[int, int, int, int]  # (minute since the epoch, sent, delivered, read)


def campaign_numbers_stored(*, campaign_id: int) -> CampaignNumbers:
    """The campaign's numbers from the trigger-maintained counters."""
    return campaign_numbers(counter_rows(campaign_ids=[campaign_id]).get(campaign_id, []))


def campaign_numbers_counted(*, campaign_id: int) -> CampaignNumbers:
    """The same numbers by a fresh GROUP BY over the deliveries (the baseline the counters replace)."""
    return campaign_numbers(counter_rows_counted(campaign_id=campaign_id))


def campaign_timeline(*, campaign_id: int) -> list[TimelinePoint]:
    """Sent, delivered and read per minute, oldest first, minutes without events left out."""
    buckets = (
        CampaignTimelineBucket.objects.filter(campaign_id=campaign_id)
        .values("minute")
        .annotate(sent_total=Sum("sent"), delivered_total=Sum("delivered"), read_total=Sum("read"))
        .order_by("minute")
    )
    return [
        (row["minute"], row["sent_total"], row["delivered_total"], row["read_total"])
        for row in buckets
        if row["sent_total"] or row["delivered_total"] or row["read_total"]
    ]


def campaign_timeline_counted(*, campaign_id: int) -> list[TimelinePoint]:
    """The timeline from the deliveries themselves (tests compare it with the buckets)."""
    minutes: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = Delivery.objects.filter(campaign_id=campaign_id).values_list("sent_at", "delivered_at", "read_at")
    for sent_at, delivered_at, read_at in rows.iterator(chunk_size=2000):
        for position, moment in enumerate((sent_at or delivered_at or read_at, delivered_at or read_at, read_at)):
            if moment is not None:
                minutes[int(moment.timestamp() // 60)][position] += 1
    return [(minute, *counts) for minute, counts in sorted(minutes.items())]


def timeline_by_hour(points: list[TimelinePoint]) -> list[TimelinePoint]:
    """Minute points summed per hour (the first minute of each hour keys it)."""
    hours: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for minute, sent, delivered, read in points:
        bucket = hours[minute - minute % 60]
        bucket[0] += sent
        bucket[1] += delivered
        bucket[2] += read
    return [(hour, *counts) for hour, counts in sorted(hours.items())]


@dataclass(frozen=True, slots=True)
class TemplatePerformance:
    """One template's numbers over the campaigns that used it in the period."""

    template_name: str
    campaigns: int
    numbers: CampaignNumbers


@dataclass(frozen=True, slots=True)
class Overview:
    """The last days across campaigns and accounts."""

    since: datetime
    campaigns: list[tuple[Campaign, CampaignNumbers]]
    templates: list[TemplatePerformance]
    totals: CampaignNumbers
    accounts: list[BusinessAccount]


def overview(*, days: int = OVERVIEW_DAYS) -> Overview:
    """Campaigns launched (or created, if never launched) in the last `days` days, their templates and accounts."""
    since = timezone.now() - timedelta(days=days)
    campaigns = list(
        Campaign.objects.annotate(started=Coalesce("launched_at", "created_at"))
        .filter(started__gte=since)
        .select_related("sender__business_account")
        .order_by("-started")
    )
    rows = counter_rows(campaign_ids=[campaign.pk for campaign in campaigns])
    per_campaign = [(campaign, campaign_numbers(rows.get(campaign.pk, []))) for campaign in campaigns]
    per_template: dict[str, list] = defaultdict(list)
    for campaign in campaigns:
        per_template[campaign.template_name].extend(rows.get(campaign.pk, []))
    used_by = Counter(campaign.template_name for campaign in campaigns)
    templates = sorted(
        (
            TemplatePerformance(template_name=name, campaigns=used_by[name], numbers=campaign_numbers(keys))
            for name, keys in per_template.items()
        ),
        key=lambda performance: -performance.numbers.targeted,
    )
    totals = campaign_numbers(key_count for keys in rows.values() for key_count in keys)
    accounts = list(
        BusinessAccount.objects.order_by("name").prefetch_related(
            Prefetch("phone_numbers", queryset=PhoneNumber.objects.order_by("display_phone_number"))
        )
    )
    return Overview(since=since, campaigns=per_campaign, templates=templates, totals=totals, accounts=accounts)
