"""A campaign's numbers as the dashboard shows them: labelled counts with their rates, funnel and timeline series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from deliveries.analytics.counters import CampaignNumbers
from deliveries.analytics.error_codes import error_code_meaning
from deliveries.analytics.selectors import TimelinePoint, timeline_by_hour
from deliveries.models import SkipReason

# A timeline longer than this is drawn per hour instead of per minute.
MINUTE_TIMELINE_LIMIT = 6 * 60


@dataclass(frozen=True, slots=True)
class Figure:
    """One number of the dashboard: what it counts, its rate against a base, and its drill-down."""

    metric: str
    label: str
    count: int
    base_label: str = ""
    base: int = 0
    value: str = ""  # the drill-down's filter value (error code, skip reason)

    @property
    def rate(self) -> float | None:
        return round(100 * self.count / self.base, 1) if self.base else None

    @property
    def key(self) -> str:
        return f"{self.metric}:{self.value}" if self.value else self.metric


def _percent_of(label: str, base: int) -> dict:
    return {"base_label": label, "base": base}


def headline_figures(numbers: CampaignNumbers) -> list[Figure]:
    """The funnel and the outcomes, each rate against the step it follows."""
    return [
        Figure("targeted", "Targeted", numbers.targeted),
        Figure("skipped", "Skipped", numbers.skipped, **_percent_of("targeted", numbers.targeted)),
        Figure("in_flight", "In flight", numbers.in_flight, **_percent_of("targeted", numbers.targeted)),
        Figure("sent", "Sent", numbers.sent, **_percent_of("targeted", numbers.targeted)),
        Figure("delivered", "Delivered", numbers.delivered, **_percent_of("sent", numbers.sent)),
        Figure("read", "Read", numbers.read, **_percent_of("delivered", numbers.delivered)),
        Figure("failed", "Failed", numbers.failed, **_percent_of("targeted", numbers.targeted)),
        Figure("replied", "Replied", numbers.replied, **_percent_of("delivered", numbers.delivered)),
        Figure("clicked", "Clicked", numbers.clicked, **_percent_of("delivered", numbers.delivered)),
        Figure("opted_out", "Opted out", numbers.opted_out, **_percent_of("delivered", numbers.delivered)),
    ]


def skipped_figures(numbers: CampaignNumbers) -> list[Figure]:
    labels = dict(SkipReason.choices)
    return [
        Figure("skipped", labels.get(reason, reason or "No reason"), count, "skipped", numbers.skipped, value=reason)
        for reason, count in sorted(numbers.skipped_by_reason.items(), key=lambda item: -item[1])
    ]


def failed_figures(numbers: CampaignNumbers) -> list[Figure]:
    return [
        Figure("failed", error_code_meaning(code), count, "failed", numbers.failed, value=str(code))
        for code, count in sorted(numbers.failed_by_code.items(), key=lambda item: -item[1])
    ]


def timeline_series(points: list[TimelinePoint]) -> dict:
    """Chart series: ISO times (UTC) and sent / delivered / read per minute, or per hour for long campaigns."""
    unit = "minute"
    if points and points[-1][0] - points[0][0] > MINUTE_TIMELINE_LIMIT:
        points, unit = timeline_by_hour(points), "hour"
    return {
        "unit": unit,
        "labels": [datetime.fromtimestamp(minute * 60, tz=UTC).isoformat() for minute, *_ in points],
        "sent": [point[1] for point in points],
        "delivered": [point[2] for point in points],
        "read": [point[3] for point in points],
    }


def dashboard_payload(*, status: str, numbers: CampaignNumbers, points: list[TimelinePoint]) -> dict:
    """What the page's script polls: every figure by key, the funnel and the timeline."""
    figures = headline_figures(numbers) + skipped_figures(numbers) + failed_figures(numbers)
    return {
        "status": status,
        "figures": {figure.key: {"count": figure.count, "rate": figure.rate} for figure in figures},
        "funnel": {
            "labels": ["Targeted", "Sent", "Delivered", "Read", "Replied", "Clicked"],
            "counts": [
                numbers.targeted,
                numbers.sent,
                numbers.delivered,
                numbers.read,
                numbers.replied,
                numbers.clicked,
            ],
        },
        "timeline": timeline_series(points),
    }
