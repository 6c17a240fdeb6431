"""Admin for the delivery queue, raw webhook events and inbound messages: written by the system only."""

from django.contrib import admin, messages

from deliveries.models import Delivery, InboundMessage, WebhookEvent
from deliveries.webhooks.reprocessing import webhook_events_reprocess
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
    list_display = ["id", "received_at", "state", "business_account", "attempts", "processed_at", "short_error"]
    list_filter = ["state", "signature_valid", "business_account"]
    list_select_related = ["business_account"]
    readonly_fields = [
        "received_at",
        "state",
        "meta_app",
        "business_account",
        "signature_valid",
        "attempts",
        "processed_at",
        "processing_error",
        "raw_body",
    ]
    fields = readonly_fields
    ordering = ["-id"]
    actions = ["reprocess"]

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.processing_error[:120]

    def has_reprocess_permission(self, request):
        # Reprocessing is idempotent: anyone who may look at the raw events may retry them.
        return request.user.has_perm("deliveries.view_webhookevent")

    @admin.action(description="Reprocess the selected events (failed, pending or unrouted)", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        result = webhook_events_reprocess(webhook_event_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            f"Reprocessed {result.tried}: {result.processed} processed, {result.failed} failed, "
            f"{result.unrouted} still unrouted (processed and rejected rows are left alone).",
            messages.WARNING if result.failed else messages.SUCCESS,
        )


@admin.register(InboundMessage)
class InboundMessageAdmin(SystemWrittenAdmin):
    list_display = ["sent_at", "contact", "from_phone", "message_type", "text", "in_reply_to_id", "phone_number"]
    list_filter = ["message_type", "phone_number"]
    list_select_related = ["contact", "phone_number"]
    search_fields = ["=from_phone", "=wamid", "=contact__phone"]
    ordering = ["-sent_at", "-id"]


from deliveries.api import admin as api_admin  # noqa: E402, F401
