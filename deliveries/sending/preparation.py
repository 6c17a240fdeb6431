"""What happens to a claimed row before it is sent: consent re-check, marketing hygiene, template and parameters.

Parameters are rendered here, from the contact's data at this moment (the opt-out link included), and
recorded on the row exactly as sent. Every decision is collected per batch and written in bulk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from phonenumbers import timezone as phonenumber_timezones

from contacts.models import ConsentSource, MarketingConsent
from contacts.opt_out import contact_opt_out_url
from contacts.suppression import phones_suppressed
from deliveries.analytics.clicks import delivery_click_url
from deliveries.models import Delivery, DeliveryStatus, SkipReason
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from templates_app.rendering import MissingVariable, template_components_render
from templates_app.selectors import STOPPED_BY_META, template_for_recipient
from wacampaigns.models import Campaign, VariableSource

REACHED = (
    DeliveryStatus.ACCEPTED,
    DeliveryStatus.HELD,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
)
# A recipient whose own language version was paused or disabled by Meta waits this long, then is looked at again.
STOPPED_VERSION_HOLD = timedelta(hours=1)


@dataclass
class Prepared:
    """A row ready to send: everything the HTTP call needs, recorded on the row before it is made."""

    id: int
    to: str
    template: MessageTemplate | None
    template_name: str
    language: str
    components: list
    attempts: int
    campaign_id: int | None


@dataclass
class Preparation:
    """The decisions for one claimed batch."""

    ready: list[Prepared] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (id, reason, details)
    waiting: list[tuple[int, datetime]] = field(default_factory=list)  # (id, not_before)
    paused_campaigns: dict[int, str] = field(default_factory=dict)  # campaign id → reason
    released: list[int] = field(default_factory=list)  # rows of those campaigns, handed back as they were


def _consent_skip(row: Delivery) -> tuple[str, str] | None:
    """Why this contact may not receive this row now (design.md decision 9), or None."""
    contact = row.contact
    if row.campaign_id is None:
        if contact is not None and contact.opted_out_of_all_at is not None:
            return SkipReason.OPTED_OUT, f"Opted out of all messages via {contact.opted_out_of_all_source}"
        marketing = row.template is not None and row.template.category == TemplateCategory.MARKETING
        if not marketing or contact.marketing_consent == MarketingConsent.OPTED_IN:
            return None
    if contact.marketing_consent == MarketingConsent.OPTED_IN:
        return None
    if contact.marketing_consent == MarketingConsent.UNKNOWN:
        return SkipReason.NO_OPT_IN, ""
    if contact.marketing_consent_source == ConsentSource.UNDELIVERABLE:
        return SkipReason.UNDELIVERABLE, ""
    return SkipReason.OPTED_OUT, f"Opted out via {contact.marketing_consent_source} since the launch"


def quiet_hours() -> tuple[dt.time, dt.time] | None:
    text = settings.QUIET_HOURS.strip()
    if not text:
        return None
    start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
    return start, end


@lru_cache(maxsize=4096)
def _zones_for_prefix(phone: str) -> tuple[ZoneInfo, ...]:
    try:
        number = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return ()
    zones = []
    for name in phonenumber_timezones.time_zones_for_number(number):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return tuple(zones)


def quiet_hours_end(phone: str, now: datetime, window: tuple[dt.time, dt.time]) -> datetime | None:
    """When the recipient's quiet hours end, if it is quiet hours for them now (in any of the number's zones)."""
    start, end = window
    latest = None
    for zone in _zones_for_prefix(phone):
        local = now.astimezone(zone)
        clock = local.time()
        inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
        if not inside:
            continue
        ends = datetime.combine(local.date(), end, tzinfo=zone)
        if ends <= local:
            ends += timedelta(days=1)
        latest = ends if latest is None or ends > latest else latest
    return latest


def _frequency_cap_ends(rows: list[Delivery], now: datetime) -> dict[int, datetime]:
    """Contact id → when a capped contact may receive the next marketing template."""
    contact_ids = {row.contact_id for row in rows if row.contact_id}
    if settings.FREQUENCY_CAP_MESSAGES <= 0 or not contact_ids:
        return {}
    window = timedelta(hours=settings.FREQUENCY_CAP_WINDOW_HOURS)
    recent = (
        Delivery.objects.filter(
            contact_id__in=contact_ids,
            accepted_at__gte=now - window,
            status__in=REACHED,
            template__category=TemplateCategory.MARKETING,
        )
        .values("contact_id")
        .annotate(n=Count("id"), oldest=Min("accepted_at"))
        .filter(n__gte=settings.FREQUENCY_CAP_MESSAGES)
    )
    return {row["contact_id"]: row["oldest"] + window for row in recent}


class TemplateChooser:
    """`template_for_recipient` with a per-batch memory (the same language gets the same version)."""

    def __init__(self, campaign: Campaign):
        self.campaign = campaign
        self._chosen: dict[str, MessageTemplate | None] = {}

    def for_language(self, language: str) -> MessageTemplate | None:
        if language not in self._chosen:
            self._chosen[language] = template_for_recipient(
                business_account=self.campaign.sender.business_account,
                name=self.campaign.template_name,
                contact_language=language,
                fallback_language=self.campaign.fallback_language,
            )
        return self._chosen[language]

    def fallback_problem(self) -> str | None:
        """Why the fallback version cannot be sent, or None when it can."""
        fallback = MessageTemplate.objects.filter(
            business_account=self.campaign.sender.business_account,
            name=self.campaign.template_name,
            language=self.campaign.fallback_language,
        ).first()
        if fallback is None:
            return f"Template {self.campaign.template_name} [{self.campaign.fallback_language}] no longer exists"
        if fallback.status != TemplateStatus.APPROVED:
            return f"Template {fallback.name} [{fallback.language}] is {fallback.get_status_display()}"
        return None


def _uses_source(variable_mapping: dict, source: VariableSource) -> bool:
    # A link is signed per recipient (an HMAC and a URL reverse each): made only when the mapping sends it.
    return any(entry.get("source") == source for entry in variable_mapping.values())


def batch_prepare(rows: list[Delivery], campaigns: dict[int, Campaign], *, now: datetime | None = None) -> Preparation:
    """Decides, for each claimed row, whether it is sent (and with what), skipped, or waits."""
    now = now or timezone.now()
    result = Preparation()
    suppressed = phones_suppressed([row.contact.phone for row in rows if row.contact and row.contact.phone])
    capped = _frequency_cap_ends([row for row in rows if row.campaign_id], now)
    quiet = quiet_hours()
    choosers: dict[int, TemplateChooser] = {}
    for row in rows:
        contact = row.contact
        if row.campaign_id is None and contact is None:
            # A pre-rendered send (API, staff test): everything was recorded when it was queued.
            if row.parameters is None or not row.recipient:
                result.skipped.append((row.id, SkipReason.NO_PHONE, "No recipient"))
            else:
                result.ready.append(
                    Prepared(
                        row.id,
                        row.recipient,
                        row.template,
                        row.template_name,
                        row.language,
                        row.parameters,
                        row.attempts,
                        None,
                    )
                )
            continue
        if contact is None:
            result.skipped.append((row.id, SkipReason.SUPPRESSED, "The contact was erased"))
            continue
        if contact.phone in suppressed:
            result.skipped.append((row.id, SkipReason.SUPPRESSED, ""))
            continue
        skip = _consent_skip(row)
        if skip is not None:
            result.skipped.append((row.id, *skip))
            continue
        if not contact.phone:
            result.skipped.append((row.id, SkipReason.NO_PHONE, ""))
            continue
        if row.campaign_id is None:
            result.ready.append(
                Prepared(
                    row.id,
                    contact.phone,
                    row.template,
                    row.template_name,
                    row.language,
                    row.parameters or [],
                    row.attempts,
                    None,
                )
            )
            continue
        campaign = campaigns[row.campaign_id]
        if campaign.pk in result.paused_campaigns:
            result.released.append(row.id)
            continue
        chooser = choosers.setdefault(campaign.pk, TemplateChooser(campaign))
        template = chooser.for_language(contact.language or "")
        if template is None:
            problem = chooser.fallback_problem()
            if problem is not None:
                result.paused_campaigns[campaign.pk] = problem
                result.released.append(row.id)
            elif (
                contact.language
                and MessageTemplate.objects.filter(
                    business_account=campaign.sender.business_account,
                    name=campaign.template_name,
                    language=contact.language,
                    status__in=STOPPED_BY_META,
                ).exists()
            ):
                result.waiting.append((row.id, now + STOPPED_VERSION_HOLD))
            else:
                result.skipped.append((row.id, SkipReason.NO_APPROVED_TEMPLATE, ""))
            continue
        if template.category == TemplateCategory.MARKETING:
            if contact.phone.startswith("+1"):
                result.skipped.append((row.id, SkipReason.US_MARKETING, ""))
                continue
            if contact.pk in capped:
                result.waiting.append((row.id, capped[contact.pk]))
                continue
            if quiet is not None:
                ends = quiet_hours_end(contact.phone, now, quiet)
                if ends is not None:
                    result.waiting.append((row.id, ends))
                    continue
        mapping = campaign.variable_mapping or {}
        try:
            components = template_components_render(
                template=template,
                variable_mapping=mapping,
                contact=contact,
                opt_out_url=contact_opt_out_url(contact) if _uses_source(mapping, VariableSource.OPT_OUT_LINK) else "",
                click_url=delivery_click_url(row) if _uses_source(mapping, VariableSource.TRACKED_LINK) else "",
            )
        except MissingVariable as err:
            result.skipped.append((row.id, SkipReason.MISSING_VARIABLE, str(err)[:255]))
            continue
        result.ready.append(
            Prepared(
                row.id, contact.phone, template, template.name, template.language, components, row.attempts, campaign.pk
            )
        )
    return result
