"""Webhook parsing: one normalized, frozen event type per kind of Meta notification."""

from wacampaigns.whatsapp.events.parsing import parse_webhook, parse_webhook_body
from wacampaigns.whatsapp.events.types import (
    AccountUpdateEvent,
    BusinessCapabilityEvent,
    Conversation,
    DeliveryStatus,
    InboundMessageEvent,
    MarketingPreference,
    MessageStatusEvent,
    PhoneNumberQualityEvent,
    Pricing,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
    UnknownEvent,
    UserPreferenceEvent,
    WebhookErrorsEvent,
    WebhookEvent,
    WebhookPayloadError,
)

__all__ = [
    "AccountUpdateEvent",
    "BusinessCapabilityEvent",
    "Conversation",
    "DeliveryStatus",
    "InboundMessageEvent",
    "MarketingPreference",
    "MessageStatusEvent",
    "PhoneNumberQualityEvent",
    "Pricing",
    "TemplateCategoryEvent",
    "TemplateQualityEvent",
    "TemplateStatusEvent",
    "UnknownEvent",
    "UserPreferenceEvent",
    "WebhookErrorsEvent",
    "WebhookEvent",
    "WebhookPayloadError",
    "parse_webhook",
    "parse_webhook_body",
]
