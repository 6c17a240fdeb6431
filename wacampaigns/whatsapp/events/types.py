"""The normalized webhook event types: one frozen dataclass per kind of notification."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from wacampaigns.whatsapp.errors import GraphApiError


class WebhookPayloadError(ValueError):
    """A webhook body is not the JSON structure Meta documents (wrong types, missing required keys)."""


class DeliveryStatus(StrEnum):
    """A message status Meta reports; UNKNOWN keeps the ones this code does not know yet."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    PLAYED = "played"
    UNKNOWN = "unknown"


class MarketingPreference(StrEnum):
    """A user's choice about marketing messages from this business (`user_preferences`)."""

    STOP = "stop"
    RESUME = "resume"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Pricing:
    """`statuses[].pricing`: how Meta bills the message (present on sent and one of delivered/read)."""

    billable: bool | None
    pricing_model: str | None  # PMP; CBP before 2025-07-01
    category: str | None
    type: str | None  # regular, free_customer_service, free_entry_point


@dataclass(frozen=True, slots=True)
class Conversation:
    """`statuses[].conversation`: omitted from webhook v24.0 except in free entry point windows."""

    id: str | None
    origin_type: str | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class MessageStatusEvent:
    """One `statuses[]` item: a message the business sent moved to a new status."""

    waba_id: str
    phone_number_id: str | None
    display_phone_number: str | None
    wamid: str
    status: DeliveryStatus
    raw_status: str
    timestamp: datetime
    recipient_id: str | None  # the phone number; may be withheld for users with a username
    recipient_user_id: str | None  # business-scoped user id (BSUID), 2026+
    recipient_parent_user_id: str | None
    biz_opaque_callback_data: str | None
    errors: tuple[GraphApiError, ...]
    pricing: Pricing | None
    conversation: Conversation | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class InboundMessageEvent:
    """One `messages[]` item: a user wrote, tapped a button or replied to the business."""

    waba_id: str
    phone_number_id: str | None
    display_phone_number: str | None
    wamid: str
    type: str
    timestamp: datetime
    from_phone: str | None  # may be withheld for users with a username
    from_user_id: str | None  # business-scoped user id (BSUID)
    from_parent_user_id: str | None
    profile_name: str | None
    username: str | None
    text: str | None
    button_payload: str | None  # template quick reply (`type: button`)
    button_text: str | None
    interactive_type: str | None  # button_reply, list_reply, ...
    interactive_reply_id: str | None
    interactive_reply_title: str | None
    context_wamid: str | None  # the business message replied to or clicked
    context_from: str | None
    errors: tuple[GraphApiError, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UserPreferenceEvent:
    """One `user_preferences[]` item: a user stopped or resumed marketing messages."""

    waba_id: str
    phone_number_id: str | None
    display_phone_number: str | None
    wa_id: str | None
    user_id: str | None
    category: str | None
    preference: MarketingPreference
    raw_value: str
    detail: str | None
    timestamp: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WebhookErrorsEvent:
    """`value.errors[]`: system or app level errors not tied to one message."""

    waba_id: str
    phone_number_id: str | None
    errors: tuple[GraphApiError, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TemplateStatusEvent:
    """`message_template_status_update`: a template was approved, rejected, paused, disabled, ..."""

    waba_id: str
    occurred_at: datetime | None
    event: str
    template_id: str
    template_name: str | None
    language: str | None
    category: str | None
    reason: str | None
    other_info_title: str | None  # FIRST_PAUSE, SECOND_PAUSE, RATE_LIMITING_PAUSE, UNPAUSE, DISABLED
    other_info_description: str | None
    rejection_reason: str | None
    rejection_recommendation: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TemplateQualityEvent:
    """`message_template_quality_update`: a template's quality score changed."""

    waba_id: str
    occurred_at: datetime | None
    template_id: str
    template_name: str | None
    language: str | None
    previous_quality_score: str | None
    new_quality_score: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TemplateCategoryEvent:
    """`template_category_update`: Meta changed (or will change) a template's category."""

    waba_id: str
    occurred_at: datetime | None
    template_id: str
    template_name: str | None
    language: str | None
    previous_category: str | None
    new_category: str | None
    correct_category: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PhoneNumberQualityEvent:
    """`phone_number_quality_update`: quality, messaging limit or throughput of a number changed."""

    waba_id: str
    occurred_at: datetime | None
    display_phone_number: str | None
    event: str | None  # FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, THROUGHPUT_UPGRADE, ...
    current_limit: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class AccountUpdateEvent:
    """`account_update`: restrictions, violations, bans and other account-level changes (raw fields kept)."""

    waba_id: str
    occurred_at: datetime | None
    event: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class BusinessCapabilityEvent:
    """`business_capability_update`: the messaging limit or other capabilities changed (raw fields kept)."""

    waba_id: str
    occurred_at: datetime | None
    max_daily_conversations: int | str | None  # v24+ per business; older payloads per phone
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A change whose `field` (or `messages` value key) this code does not know; kept so nothing is lost."""

    waba_id: str
    field_name: str
    occurred_at: datetime | None
    raw: Any = field(repr=False, compare=False)


WebhookEvent = (
    MessageStatusEvent
    | InboundMessageEvent
    | UserPreferenceEvent
    | WebhookErrorsEvent
    | TemplateStatusEvent
    | TemplateQualityEvent
    | TemplateCategoryEvent
    | PhoneNumberQualityEvent
    | AccountUpdateEvent
    | BusinessCapabilityEvent
    | UnknownEvent
)
