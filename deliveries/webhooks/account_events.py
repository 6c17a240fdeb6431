"""Template and account webhooks: what Meta changed about a template, a phone number or the business account.

- A template PAUSED or DISABLED pauses every running campaign sending it, with the reason; REINSTATED only
  updates the template row: staff resume campaigns themselves (they are told by a log line and an e-mail).
- `phone_number_quality_update` updates the number (flagged, throughput upgrade) and the account's
  messaging-limit tier; `business_capability_update` the tier too.
- `account_update` restrictions, bans and disabling stop sending on the account (administrators are mailed
  by `business_account_stop_sending`); violations without a restriction are mailed only.
"""

from __future__ import annotations

import logging
import re

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from templates_app.services.status_events import template_meta_event_apply
from wacampaigns.models import BusinessAccount, Campaign, CampaignStatus, PhoneNumber
from wacampaigns.models.accounts import (
    MESSAGING_LIMIT_BY_TIER,
    MessagingLimitTier,
    PhoneNumberStatus,
    QualityRating,
)
from wacampaigns.services import business_account_stop_sending, campaigns_pause_for_template
from wacampaigns.whatsapp.events import (
    AccountUpdateEvent,
    BusinessCapabilityEvent,
    PhoneNumberQualityEvent,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
)

logger = logging.getLogger(__name__)

TEMPLATE_STOPPING_EVENTS = ("PAUSED", "DISABLED")
TEMPLATE_RESTARTING_EVENTS = ("REINSTATED", "UNPAUSED")
# Meta raises a number to 1,000 messages/s on THROUGHPUT_UPGRADE (reference/cloud-api.md §4.1).
UPGRADED_THROUGHPUT_PER_SECOND = 1_000
ACCOUNT_STOPPING_EVENTS = ("ACCOUNT_RESTRICTION", "DISABLED_UPDATE", "ACCOUNT_DELETED", "PARTNER_REMOVED")


def _tell_administrators(subject: str, message: str) -> None:
    transaction.on_commit(lambda: mail_admins(subject, message, fail_silently=True))


def template_event_receive(
    *, business_account: BusinessAccount, event: TemplateStatusEvent | TemplateQualityEvent | TemplateCategoryEvent
) -> list[Campaign]:
    """Updates the template row; pauses the campaigns a stopped template affects (returned)."""
    template_meta_event_apply(business_account=business_account, event=event)
    if not isinstance(event, TemplateStatusEvent) or not event.template_name or not event.language:
        return []
    label = f"{event.template_name} [{event.language}]"
    if event.event in TEMPLATE_STOPPING_EVENTS:
        detail = event.other_info_description or event.other_info_title or event.reason or ""
        reason = f"Meta {event.event.lower()} template {label}" + (f": {detail}" if detail else "")
        paused = campaigns_pause_for_template(
            business_account=business_account,
            template_name=event.template_name,
            language=event.language,
            reason=reason[:1000],
        )
        logger.warning("%s; paused campaigns: %s", reason, [campaign.pk for campaign in paused])
        return paused
    if event.event in TEMPLATE_RESTARTING_EVENTS:
        waiting = list(
            Campaign.objects.filter(
                sender__business_account=business_account,
                template_name=event.template_name,
                fallback_language=event.language,
                status=CampaignStatus.PAUSED,
            ).values_list("name", flat=True)
        )
        message = f"Meta reinstated template {label} on {business_account}. Campaigns stay paused until resumed"
        logger.warning("%s: %s", message, waiting)
        _tell_administrators(
            f"WhatsApp template {label} reinstated",
            f"{message} in the admin.\n\nPaused campaigns using it: {', '.join(waiting) or 'none'}",
        )
    return []


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def _tier_for_limit(limit: int | None) -> MessagingLimitTier | None:
    """The highest tier whose limit does not exceed `limit` (never more than Meta granted)."""
    if limit is None:
        return None
    fitting = [tier for tier, size in MESSAGING_LIMIT_BY_TIER.items() if size is not None and size <= limit]
    return max(fitting, key=lambda tier: MESSAGING_LIMIT_BY_TIER[tier]) if fitting else MessagingLimitTier.TIER_250


def messaging_limit_tier_parse(value: str | int | None) -> MessagingLimitTier | None:
    """`TIER_10K`, `TIER_UNLIMITED`, `TIER_1K` (older tiers map down) or a number of conversations."""
    if value is None:
        return None
    if isinstance(value, int) or str(value).isdigit():
        return _tier_for_limit(int(value))
    text = str(value).upper()
    if text in MessagingLimitTier.values:
        return MessagingLimitTier(text)
    match = re.fullmatch(r"TIER_(\d+)(K?)", text)
    if match:
        return _tier_for_limit(int(match.group(1)) * (1000 if match.group(2) else 1))
    return None


def _account_tier_set(business_account: BusinessAccount, tier: MessagingLimitTier | None) -> None:
    if tier is not None and tier != business_account.messaging_limit_tier:
        BusinessAccount.objects.filter(pk=business_account.pk).update(
            messaging_limit_tier=tier, updated_at=timezone.now()
        )
        business_account.messaging_limit_tier = tier
        logger.warning("Messaging limit of %s is now %s", business_account, tier)


def phone_number_quality_receive(*, business_account: BusinessAccount, event: PhoneNumberQualityEvent) -> None:
    """Flags/unflags the number, records a throughput upgrade, and updates the account's messaging tier."""
    _account_tier_set(business_account, messaging_limit_tier_parse(event.current_limit))
    wanted = _digits(event.display_phone_number)
    numbers = [
        number
        for number in PhoneNumber.objects.filter(business_account=business_account)
        if wanted and _digits(number.display_phone_number) == wanted
    ]
    changes: dict = {}
    if event.event == "FLAGGED":
        changes = {"status": PhoneNumberStatus.FLAGGED, "quality_rating": QualityRating.RED}
    elif event.event == "UNFLAGGED":
        changes = {"status": PhoneNumberStatus.CONNECTED, "quality_rating": QualityRating.UNKNOWN}
    elif event.event == "THROUGHPUT_UPGRADE":
        changes = {"throughput_limit": UPGRADED_THROUGHPUT_PER_SECOND}
    if changes and numbers:
        PhoneNumber.objects.filter(pk__in=[n.pk for n in numbers]).update(**changes, updated_at=timezone.now())
    logger.warning(
        "Phone number %s of %s: %s (limit %s)",
        event.display_phone_number,
        business_account,
        event.event,
        event.current_limit,
    )


def business_capability_receive(*, business_account: BusinessAccount, event: BusinessCapabilityEvent) -> None:
    """The portfolio's daily limit of unique users changed."""
    _account_tier_set(business_account, messaging_limit_tier_parse(event.max_daily_conversations))


def account_update_receive(*, business_account: BusinessAccount, event: AccountUpdateEvent) -> bool:
    """Stops sending on restrictions, bans and removal; True when this event stopped the account."""
    raw = event.raw
    restrictions = [
        str(item.get("restriction_type"))
        for item in raw.get("restriction_info") or []
        if isinstance(item, dict) and item.get("restriction_type")
    ]
    ban = raw.get("ban_info") if isinstance(raw.get("ban_info"), dict) else {}
    violation = raw.get("violation_info") if isinstance(raw.get("violation_info"), dict) else {}
    parts = [f"Meta account_update {event.event or ''}".strip()]
    if restrictions:
        parts.append("restrictions: " + ", ".join(restrictions))
    if ban:
        parts.append(f"ban state: {ban.get('waba_ban_state')}")
    if violation:
        parts.append(f"violation: {violation.get('violation_type')}")
    reason = "; ".join(parts)
    stops = event.event in ACCOUNT_STOPPING_EVENTS and (
        event.event != "DISABLED_UPDATE" or ban.get("waba_ban_state") != "REINSTATE"
    )
    if stops:
        return business_account_stop_sending(business_account=business_account, reason=reason[:2000])
    logger.warning("Business account %s: %s", business_account, reason)
    if restrictions or ban or violation or "VIOLATION" in (event.event or ""):
        _tell_administrators(f"WhatsApp account update on {business_account.name}", f"{reason}\n\nRaw event: {raw}")
    return False
