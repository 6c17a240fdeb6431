"""Reads of campaigns: the audience and who is left out of it, the launch pre-flight, progress while sending.

Delivery rows are read through the campaign's and numbers' reverse relations, so this module imports
nothing of `deliveries` (which builds on the campaigns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from contacts.models import ConsentSource, Contact, MarketingConsent
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from wacampaigns.models import Campaign, CampaignStatus, PhoneNumber, SendingState

# Statuses of a Delivery (deliveries.models.DeliveryStatus) that the campaign page groups.
STATUS_ORDER = (
    "queued",
    "sending",
    "ambiguous",
    "accepted",
    "held",
    "sent",
    "delivered",
    "read",
    "failed",
    "skipped",
    "cancelled",
)
OPEN_STATUSES = ("queued", "sending", "ambiguous")
REACHED_STATUSES = ("accepted", "held", "sent", "delivered", "read")


def campaign_template(campaign: Campaign) -> MessageTemplate | None:
    """The campaign's template in its fallback language (any status), or None when it is not synced."""
    return MessageTemplate.objects.filter(
        business_account_id=campaign.sender.business_account_id,
        name=campaign.template_name,
        language=campaign.fallback_language,
    ).first()


def campaign_audience(campaign: Campaign) -> QuerySet[Contact]:
    """Contacts matching the campaign's tags and attribute filters, before any consent rule."""
    contacts = Contact.objects.all()
    for tag_id in campaign.include_tags.values_list("id", flat=True):
        contacts = contacts.filter(tags=tag_id)
    exclude = list(campaign.exclude_tags.values_list("id", flat=True))
    if exclude:
        contacts = contacts.exclude(tags__in=exclude)
    for entry in campaign.attribute_filters or []:
        if isinstance(entry, dict) and entry.get("attribute"):
            contacts = contacts.filter(**{f"attributes__{entry['attribute']}": entry.get("value")})
    return contacts.order_by()


def eligibility(*, marketing: bool) -> Q:
    """Who may receive a campaign: opted in to marketing, with a number, not +1 for a marketing template."""
    rule = Q(marketing_consent=MarketingConsent.OPTED_IN, phone__isnull=False)
    if marketing:
        # Meta does not deliver marketing templates to US (+1) numbers since 2025-04-01 (reference §4.5).
        rule &= ~Q(phone__startswith="+1")
    return rule


def campaign_eligible_contacts(campaign: Campaign, *, marketing: bool) -> QuerySet[Contact]:
    return campaign_audience(campaign).filter(eligibility(marketing=marketing))


def _exclusion_rules(campaign: Campaign, *, marketing: bool) -> list[tuple[str, str, Q]]:
    """(key, label, rule) in priority order; a contact counts under the first rule it matches."""
    opted_out = Q(marketing_consent=MarketingConsent.OPTED_OUT)
    rules = [
        ("invalid_number", "No valid phone number", Q(phone__isnull=True)),
        (
            "undeliverable",
            "Flagged undeliverable (131026)",
            opted_out & Q(marketing_consent_source=ConsentSource.UNDELIVERABLE),
        ),
        (
            "stopped_marketing",
            "Stopped marketing messages at Meta (131050)",
            opted_out & Q(marketing_consent_source=ConsentSource.META_PREFERENCE),
        ),
        ("opted_out", "Opted out", opted_out),
        ("no_opt_in", "No opt-in", ~Q(marketing_consent=MarketingConsent.OPTED_IN)),
    ]
    if marketing:
        rules.append(
            ("us_marketing", "+1 number: Meta does not deliver marketing templates", Q(phone__startswith="+1"))
        )
    rules.append(("already_in_campaign", "Already in this campaign", Q(deliveries__campaign=campaign)))
    return rules


@dataclass
class Preflight:
    """What staff see before they confirm a launch."""

    campaign: Campaign
    template: MessageTemplate | None
    audience_total: int = 0
    eligible: int = 0
    exclusions: list[tuple[str, int]] = field(default_factory=list)  # (label, count)
    frequency_capped: int = 0
    sample_contact: Contact | None = None
    sample_components: list | None = None
    sample_error: str = ""
    sample_preview: str = ""
    estimated_seconds: float = 0
    throughput_per_second: float = 0
    tier_limit: int | None = None
    unique_recipients_24h: int = 0
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def can_launch(self) -> bool:
        return not self.refusals


def campaign_preflight(campaign: Campaign) -> Preflight:
    """Audience size, exclusions by reason, a sample message, duration, tier check and reasons to refuse."""
    from contacts.opt_out import contact_opt_out_url
    from templates_app.preview import template_contact_values, template_preview_html
    from templates_app.rendering import MissingVariable, template_components_render

    template = campaign_template(campaign)
    preflight = Preflight(campaign=campaign, template=template)
    account = campaign.sender.business_account
    if template is None:
        preflight.refusals.append(
            f"The template {campaign.template_name} [{campaign.fallback_language}] is not synced from Meta."
        )
    elif template.status != TemplateStatus.APPROVED:
        preflight.refusals.append(
            f"The template {template.name} [{template.language}] is {template.get_status_display()}, not approved."
        )
    if account.sending_state != SendingState.ACTIVE:
        preflight.refusals.append(f"Sending is stopped on {account.name}: {account.stop_reason}")
    if campaign.status not in (
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.COMPLETED,
        CampaignStatus.CANCELLED,
    ):
        preflight.refusals.append(f"The campaign is {campaign.get_status_display().lower()}.")
    marketing = template is None or template.category == TemplateCategory.MARKETING

    audience = campaign_audience(campaign)
    rules = _exclusion_rules(campaign, marketing=marketing)
    aggregates, matched_before = {"total": Count("id", distinct=True)}, Q(pk__in=[])
    for key, _label, rule in rules:
        aggregates[key] = Count("id", distinct=True, filter=rule & ~matched_before)
        matched_before |= rule
    counts = audience.aggregate(**aggregates)
    preflight.audience_total = counts["total"]
    preflight.exclusions = [(label, counts[key]) for key, label, _ in rules if counts[key]]
    preflight.eligible = preflight.audience_total - sum(count for _, count in preflight.exclusions)
    eligible = audience.filter(eligibility(marketing=marketing)).exclude(deliveries__campaign=campaign)
    if marketing and settings.FREQUENCY_CAP_MESSAGES > 0:
        preflight.frequency_capped = frequency_capped_contacts(eligible).count()
        if preflight.frequency_capped:
            preflight.warnings.append(
                f"{preflight.frequency_capped} contacts reached the frequency cap: they will wait, not be dropped."
            )

    preflight.sample_contact = eligible.order_by("id").first()
    if template is not None and preflight.sample_contact is not None:
        try:
            opt_out_url = contact_opt_out_url(preflight.sample_contact)
            mapping = campaign.variable_mapping or {}
            preflight.sample_components = template_components_render(
                template=template, variable_mapping=mapping, contact=preflight.sample_contact, opt_out_url=opt_out_url
            )
            preflight.sample_preview = template_preview_html(
                template,
                values=template_contact_values(
                    template, variable_mapping=mapping, contact=preflight.sample_contact, opt_out_url=opt_out_url
                ),
            )
        except MissingVariable as err:
            preflight.sample_error = f"The sample contact would be skipped: {err}"

    preflight.throughput_per_second = campaign.sender.throughput_limit * settings.SENDER_RATE_SHARE
    preflight.estimated_seconds = preflight.eligible / preflight.throughput_per_second
    preflight.tier_limit = account.messaging_limit
    preflight.unique_recipients_24h = unique_recipients_24h(account_id=account.pk)
    if preflight.tier_limit is not None and preflight.unique_recipients_24h + preflight.eligible > preflight.tier_limit:
        preflight.warnings.append(
            f"{preflight.unique_recipients_24h} unique recipients reached in the last 24 h plus this audience of "
            f"{preflight.eligible} exceed the account's messaging limit of {preflight.tier_limit}: Meta will refuse "
            "the excess."
        )
    if preflight.eligible == 0:
        preflight.warnings.append("Nobody in the audience can receive this campaign.")
    return preflight


def unique_recipients_24h(*, account_id: int, now: datetime | None = None) -> int:
    """Unique recipients every number of the account reached in the moving 24 h (campaigns and API sends)."""
    since = (now or timezone.now()) - timedelta(hours=24)
    # The time in the WHERE: the (sender, accepted_at) index then reads only the window's rows.
    return PhoneNumber.objects.filter(business_account_id=account_id, deliveries__accepted_at__gte=since).aggregate(
        n=Count("deliveries__recipient", distinct=True)
    )["n"]


def frequency_capped_contacts(contacts: QuerySet[Contact], *, now: datetime | None = None) -> QuerySet[Contact]:
    """Contacts that already got FREQUENCY_CAP_MESSAGES marketing templates in the rolling window."""
    since = (now or timezone.now()) - timedelta(hours=settings.FREQUENCY_CAP_WINDOW_HOURS)
    return contacts.annotate(
        recent=Count(
            "deliveries",
            filter=Q(
                deliveries__accepted_at__gte=since,
                deliveries__template__category=TemplateCategory.MARKETING,
                deliveries__status__in=REACHED_STATUSES,
            ),
        )
    ).filter(recent__gte=settings.FREQUENCY_CAP_MESSAGES)


@dataclass
class Progress:
    """Counts per status, the current rate, an ETA and why the campaign waits when it does."""

    counts: dict[str, int]
    total: int
    open: int
    rate_per_second: float
    eta_seconds: float | None
    waiting_reasons: list[str]


def campaign_progress(campaign: Campaign, *, now: datetime | None = None) -> Progress:
    now = now or timezone.now()
    rows = campaign.deliveries.values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(STATUS_ORDER, 0) | {row["status"]: row["n"] for row in rows}
    total = sum(counts.values())
    open_rows = sum(counts[status] for status in OPEN_STATUSES)
    window = 60
    recent = campaign.deliveries.filter(accepted_at__gte=now - timedelta(seconds=window)).count()
    rate = recent / window
    eta = open_rows / rate if rate > 0 and open_rows else None
    reasons = campaign_waiting_reasons(campaign, now=now, counts=counts)
    return Progress(counts, total, open_rows, rate, eta, reasons)


def campaign_waiting_reasons(campaign: Campaign, *, now: datetime, counts: dict[str, int]) -> list[str]:
    """Plain-language reasons why rows are not going out right now."""
    reasons = []
    if campaign.status == CampaignStatus.PAUSED:
        reasons.append(f"Paused: {campaign.pause_reason or 'by staff'}")
    account = campaign.sender.business_account
    if account.sending_state != SendingState.ACTIVE:
        reasons.append(f"Sending is stopped on the account: {account.stop_reason}")
    if campaign.status == CampaignStatus.LAUNCHING:
        reasons.append("Building the audience.")
    waiting = campaign.deliveries.filter(status="queued", not_before__gt=now).aggregate(
        n=Count("id"), first=Min("not_before")
    )
    if waiting["n"]:
        reasons.append(
            f"{waiting['n']} rows wait for a retry, quiet hours or the frequency cap "
            f"(next at {waiting['first']:%H:%M:%S})."
        )
    rate_state = getattr(campaign.sender, "rate_state", None)
    if (
        rate_state is not None
        and rate_state.rate < campaign.sender.throughput_limit * settings.SENDER_RATE_SHARE * 0.95
    ):
        reasons.append(f"Slowed down after Meta's rate limit (130429): {rate_state.rate:.0f} msg/s now.")
    if counts.get("ambiguous"):
        last = campaign.sender.last_status_webhook_at
        oldest = campaign.deliveries.filter(status="ambiguous").aggregate(at=Max("attempted_at"))["at"]
        if last is None or (oldest is not None and last < oldest):
            reasons.append(
                f"{counts['ambiguous']} rows have an unknown result and status webhooks are not arriving: they wait "
                "(re-sent only once webhooks prove Meta never accepted them)."
            )
        else:
            reasons.append(f"{counts['ambiguous']} rows have an unknown result: they wait for the grace period.")
    return reasons
