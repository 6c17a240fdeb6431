"""Admin for the delivery queue, raw webhook events and inbound messages: written by the system only."""

from django.contrib import admin

from deliveries.models import Delivery, InboundMessage, WebhookEvent
from wacampaigns.admin_base import SystemWrittenAdmin


@admin.register(Delivery)
class DeliveryAdmin(SystemWrittenAdmin):
    list_display = [
        "id",
        "campaign",
        "contact",
        "recipient",
        "template_name",
        "language",
        "status",
        "error_code",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "priority", "skip_reason", "error_class", "campaign"]
    list_select_related = ["campaign", "contact"]
    search_fields = ["=wamid", "=recipient", "=contact__phone"]
    ordering = ["-id"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(SystemWrittenAdmin):
    list_display = ["id", "received_at", "state", "signature_valid", "business_account", "attempts"]
    list_filter = ["state", "signature_valid"]
    list_select_related = ["business_account"]
    ordering = ["-id"]


@admin.register(InboundMessage)
class InboundMessageAdmin(SystemWrittenAdmin):
    list_display = ["sent_at", "contact", "from_phone", "message_type", "text", "in_reply_to_id", "phone_number"]
    list_filter = ["message_type", "phone_number"]
    list_select_related = ["contact", "phone_number"]
    search_fields = ["=from_phone", "=wamid", "=contact__phone"]
    ordering = ["-sent_at", "-id"]
