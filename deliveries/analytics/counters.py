"""Campaign numbers from counters that database triggers keep exact, and the same numbers counted afresh.

Why triggers: several writers change Delivery rows (the sending engine's claims and results, the webhook
receiver's status merges, replies, clicks, erasure), mostly through raw set-based SQL. Counters that hang off
their code paths would drift the first time one path forgets; triggers on `deliveries_delivery` see every
INSERT, UPDATE and DELETE whoever issues it, inside the writer's transaction, so a committed counter always
equals a fresh count of the committed rows (no "eventually"; a periodic rollup would need a change marker on
every write path, the same coupling). Migration `deliveries.0007_campaign_analytics` holds the SQL.

- PostgreSQL: statement-level triggers over transition tables: one grouped upsert per statement, however
  many rows it changed (a 1,000-row claim or a 1M-row audience INSERT … SELECT costs one aggregation).
- No hot row: counter rows are sharded (32 shards per key). A writing transaction takes the first shard no
  other open transaction holds (`pg_try_advisory_xact_lock`), starting from its backend pid, so concurrent
  workers never wait on, or deadlock over, a counter row. Readers sum the shards.
- SQLite has one writer at a time: row-level triggers, one shard. A launch's queued rows are the exception:
  the materializer's chunk drops the insert triggers in its own transaction, creates them again and counts
  its rows in one upsert (`deliveries.analytics.triggers.queued_rows_insert`).
- Per-minute timeline buckets (sent / delivered / read, by each status's own timestamp) work the same way; a
  timestamp that moves (an out-of-order webhook brings an earlier one) moves its event between buckets.
- Opt-outs: a trigger on `contacts_consentevent` credits each opt-out to the contact's latest campaign message
  that reached Meta (sent, or accepted) before it: `Delivery.opted_out_at`, once per message.

A counter key is the combination of facts the dashboards count (`CounterKey`): a campaign has a few dozen
keys at most, so a dashboard reads ≤ (keys x shards) rows instead of scanning its deliveries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import BooleanField, Case, Count, ExpressionWrapper, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from deliveries.analytics.models import NO_ERROR_CODE, CampaignCounter
from deliveries.models import Delivery, DeliveryStatus

REACHED_NONE, REACHED_SENT, REACHED_DELIVERED, REACHED_READ = 0, 1, 2, 3
KEY_FIELDS = ("status", "skip_reason", "error_code", "reached", "replied", "clicked", "opted_out")
IN_FLIGHT_STATUSES = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.AMBIGUOUS,
    DeliveryStatus.ACCEPTED,
    DeliveryStatus.HELD,
)


@dataclass(frozen=True, slots=True)
class CounterKey:
    """What the dashboards count about one delivery (the counter table's key, without campaign and shard)."""

    status: str
    skip_reason: str
    error_code: int
    reached: int
    replied: bool
    clicked: bool
    opted_out: bool


@dataclass(slots=True)
class CampaignNumbers:
    """A campaign's numbers; a funnel step counts every message that reached at least that step."""

    targeted: int = 0
    in_flight: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    replied: int = 0
    clicked: int = 0
    opted_out: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    failed_by_code: dict[int, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, key: CounterKey, count: int) -> None:
        self.targeted += count
        self.by_status[key.status] = self.by_status.get(key.status, 0) + count
        if key.status in IN_FLIGHT_STATUSES:
            self.in_flight += count
        if key.reached >= REACHED_SENT:
            self.sent += count
        if key.reached >= REACHED_DELIVERED:
            self.delivered += count
        if key.reached >= REACHED_READ:
            self.read += count
        if key.status == DeliveryStatus.FAILED:
            self.failed += count
            self.failed_by_code[key.error_code] = self.failed_by_code.get(key.error_code, 0) + count
        if key.status == DeliveryStatus.SKIPPED:
            self.skipped += count
            self.skipped_by_reason[key.skip_reason] = self.skipped_by_reason.get(key.skip_reason, 0) + count
        if key.status == DeliveryStatus.CANCELLED:
            self.cancelled += count
        self.replied += count if key.replied else 0
        self.clicked += count if key.clicked else 0
        self.opted_out += count if key.opted_out else 0


def campaign_numbers(rows: Iterable[tuple[CounterKey, int]]) -> CampaignNumbers:
    numbers = CampaignNumbers()
    for key, count in rows:
        numbers.add(key, count)
    return numbers


def counter_rows(*, campaign_ids: Iterable[int]) -> dict[int, list[tuple[CounterKey, int]]]:
    """The counters of these campaigns, shards summed: {campaign id: [(key, count)]}."""
    rows: dict[int, list[tuple[CounterKey, int]]] = {}
    summed = (
        CampaignCounter.objects.filter(campaign_id__in=list(campaign_ids))
        .values("campaign_id", *KEY_FIELDS)
        .annotate(total=Sum("count"))
        .exclude(total=0)
        .order_by()
    )
    for row in summed:
        key = CounterKey(**{name: row[name] for name in KEY_FIELDS})
        rows.setdefault(row["campaign_id"], []).append((key, row["total"]))
    return rows


def _fresh_key_annotations() -> dict:
    return {
        "key_error_code": Case(
            When(status=DeliveryStatus.FAILED, then=Coalesce("error_code", Value(NO_ERROR_CODE))),
            default=Value(NO_ERROR_CODE),
            output_field=IntegerField(),
        ),
        "key_reached": Case(
            When(read_at__isnull=False, then=Value(REACHED_READ)),
            When(delivered_at__isnull=False, then=Value(REACHED_DELIVERED)),
            When(sent_at__isnull=False, then=Value(REACHED_SENT)),
            default=Value(REACHED_NONE),
            output_field=IntegerField(),
        ),
        "key_replied": ExpressionWrapper(Q(replied_at__isnull=False), output_field=BooleanField()),
        "key_clicked": ExpressionWrapper(Q(clicked_at__isnull=False), output_field=BooleanField()),
        "key_opted_out": ExpressionWrapper(Q(opted_out_at__isnull=False), output_field=BooleanField()),
    }


def counter_rows_counted(*, campaign_id: int) -> list[tuple[CounterKey, int]]:
    """The same rows as `counter_rows`, by a fresh GROUP BY over the campaign's deliveries (tests, baseline)."""
    grouped = (
        Delivery.objects.filter(campaign_id=campaign_id)
        .annotate(**_fresh_key_annotations())
        .values("status", "skip_reason", "key_error_code", "key_reached", "key_replied", "key_clicked", "key_opted_out")
        .annotate(total=Count("id"))
        .order_by()
    )
    return [
        (
            CounterKey(
                status=row["status"],
                skip_reason=row["skip_reason"],
                error_code=row["key_error_code"],
                reached=row["key_reached"],
                replied=bool(row["key_replied"]),
                clicked=bool(row["key_clicked"]),
                opted_out=bool(row["key_opted_out"]),
            ),
            row["total"],
        )
        for row in grouped
    ]


def counter_rows_normalized(rows: Iterable[tuple[CounterKey, int]]) -> dict[CounterKey, int]:
    """Rows as {key: count} without zero counts, for comparing two sources."""
    total: Counter[CounterKey] = Counter()
    for key, count in rows:
        total[key] += count
    return {key: count for key, count in total.items() if count}
