"""The recipients behind a dashboard number: keyset pages (newest first) and the full per-recipient export.

A number is a set of counter keys (`Metric.matches`). Its rows are read per status through the index
(campaign, status, id), only for the statuses the counters say hold matching rows, and merged by id: each
page costs a few index range scans however many deliveries the campaign has. Replied, clicked and opted-out
rows have partial indexes of their own.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import Q

from deliveries.analytics.counters import (
    IN_FLIGHT_STATUSES,
    REACHED_DELIVERED,
    REACHED_READ,
    REACHED_SENT,
    CounterKey,
    counter_rows,
)
from deliveries.analytics.models import NO_ERROR_CODE
from deliveries.models import Delivery, DeliveryStatus

PAGE_SIZE = 50
EXPORT_CHUNK = 2000


class UnknownMetric(ValueError):
    """The dashboard has no number of that name, or its value is not valid for it."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One dashboard number: which counter keys it sums, and the same condition on Delivery rows."""

    label: str
    matches: Callable[[CounterKey, str], bool]
    rows: Callable[[str], Q]
    flag_column: str = ""  # a metric with a partial index of its own is read in one query


def _error_code(value: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise UnknownMetric(f"not an error code: {value!r}") from err


def _failed_rows(value: str) -> Q:
    if not value:
        return Q()
    code = _error_code(value)
    return Q(error_code__isnull=True) if code == NO_ERROR_CODE else Q(error_code=code)


_SENT = Q(sent_at__isnull=False) | Q(delivered_at__isnull=False) | Q(read_at__isnull=False)
_DELIVERED = Q(delivered_at__isnull=False) | Q(read_at__isnull=False)

METRICS: dict[str, Metric] = {
    "targeted": Metric("Targeted", lambda key, value: True, lambda value: Q()),
    "in_flight": Metric(
        "In flight (queued, sending, accepted, held, ambiguous)",
        lambda key, value: key.status in IN_FLIGHT_STATUSES,
        lambda value: Q(),
    ),
    "sent": Metric("Sent", lambda key, value: key.reached >= REACHED_SENT, lambda value: _SENT),
    "delivered": Metric("Delivered", lambda key, value: key.reached >= REACHED_DELIVERED, lambda value: _DELIVERED),
    "read": Metric("Read", lambda key, value: key.reached >= REACHED_READ, lambda value: Q(read_at__isnull=False)),
    "failed": Metric(
        "Failed",
        lambda key, value: key.status == DeliveryStatus.FAILED and (not value or key.error_code == _error_code(value)),
        _failed_rows,
    ),
    "skipped": Metric(
        "Skipped",
        lambda key, value: key.status == DeliveryStatus.SKIPPED and (not value or key.skip_reason == value),
        lambda value: Q(skip_reason=value) if value else Q(),
    ),
    "cancelled": Metric("Cancelled", lambda key, value: key.status == DeliveryStatus.CANCELLED, lambda value: Q()),
    "replied": Metric("Replied", lambda key, value: key.replied, lambda value: Q(), flag_column="replied_at"),
    "clicked": Metric("Clicked", lambda key, value: key.clicked, lambda value: Q(), flag_column="clicked_at"),
    "opted_out": Metric("Opted out", lambda key, value: key.opted_out, lambda value: Q(), flag_column="opted_out_at"),
}


def metric_get(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError as err:
        raise UnknownMetric(f"no dashboard number named {name!r}") from err


def _statuses_holding(campaign_id: int, metric: Metric, value: str) -> list[str]:
    keys = counter_rows(campaign_ids=[campaign_id]).get(campaign_id, [])
    return sorted({key.status for key, count in keys if count > 0 and metric.matches(key, value)})


def _id_querysets(campaign_id: int, metric_name: str, value: str) -> list:
    """One queryset per index range that together hold the metric's rows (unordered, unsliced)."""
    metric = metric_get(metric_name)
    if metric.flag_column:
        return [Delivery.objects.filter(campaign_id=campaign_id, **{f"{metric.flag_column}__isnull": False})]
    condition = metric.rows(value)
    return [
        Delivery.objects.filter(campaign_id=campaign_id, status=status).filter(condition)
        for status in _statuses_holding(campaign_id, metric, value)
    ]


@dataclass(frozen=True, slots=True)
class RecipientsPage:
    rows: list[Delivery]
    next_before: int | None  # pass as `before` for the next (older) page


def recipients_page(
    *, campaign_id: int, metric: str, value: str = "", before: int | None = None, size: int = PAGE_SIZE
) -> RecipientsPage:
    """A page of the metric's deliveries, newest first, strictly older than `before`."""
    ids: list[int] = []
    for queryset in _id_querysets(campaign_id, metric, value):
        if before is not None:
            queryset = queryset.filter(id__lt=before)
        ids.extend(queryset.order_by("-id").values_list("id", flat=True)[: size + 1])
    ids = sorted(ids, reverse=True)[: size + 1]
    page_ids = ids[:size]
    rows = sorted(
        Delivery.objects.filter(id__in=page_ids).select_related("contact"), key=lambda row: row.id, reverse=True
    )
    return RecipientsPage(rows=rows, next_before=page_ids[-1] if len(ids) > size else None)


EXPORT_FIELDS = (
    "id",
    "contact_id",
    "contact__phone",
    "contact__name",
    "recipient",
    "template_name",
    "language",
    "status",
    "skip_reason",
    "error_code",
    "error_title",
    "error_details",
    "created_at",
    "accepted_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "replied_at",
    "clicked_at",
    "click_count",
    "opted_out_at",
)


def _keyset_iter(queryset) -> Iterator[tuple]:
    last_id = 0
    while True:
        chunk = list(queryset.filter(id__gt=last_id).order_by("id").values_list(*EXPORT_FIELDS)[:EXPORT_CHUNK])
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        last_id = chunk[-1][0]


def export_rows(*, campaign_id: int) -> Iterator[tuple]:
    """Every delivery of the campaign as a tuple of EXPORT_FIELDS, by id, read in bounded keyset chunks."""
    return heapq.merge(*(_keyset_iter(queryset) for queryset in _id_querysets(campaign_id, "targeted", "")))
