"""Admin of the integration API: keys (shown once, revocable), event subscriptions, the event delivery log."""

import secrets

from django.contrib import admin, messages
from django.utils import timezone

from deliveries.api.events.dispatch import subscription_cursor_to_head
from deliveries.api.keys import api_key_create, api_key_revoke
from deliveries.api.models import ApiEvent, ApiKey, EventDeliveryAttempt, EventSubscription
from wacampaigns.admin_base import SystemWrittenAdmin


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "business_account", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["business_account", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["business_account"]
    search_fields = ["name", "=prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "business_account", "rate_limit_per_minute"]
        return ["name", "business_account", "rate_limit_per_minute", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        # A key's account is fixed: a new scope needs a new key.
        return [*self.readonly_fields, "business_account"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, key = api_key_create(
            name=obj.name,
            business_account=obj.business_account,
            created_by=request.user,
            rate_limit_per_minute=obj.rate_limit_per_minute,
        )
        obj.pk = api_key.pk
        obj.prefix, obj.key_hash, obj.created_at = api_key.prefix, api_key.key_hash, api_key.created_at
        self.message_user(
            request,
            f"The API key is {key} — copy it now: it is stored only as a hash and cannot be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
        self.message_user(request, "Revoked: requests with those keys are now refused (401).")


@admin.register(EventSubscription)
class EventSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "business_account", "url", "is_active", "consecutive_failures", "next_attempt_at"]
    list_filter = ["is_active", "business_account"]
    list_select_related = ["business_account"]
    fields = [
        "name",
        "business_account",
        "url",
        "secret",
        "is_active",
        "message_status_events",
        "include_campaign_messages",
        "inbound_message_events",
        "consent_events",
        "failing_since",
        "consecutive_failures",
        "next_attempt_at",
    ]
    readonly_fields = ["failing_since", "consecutive_failures", "next_attempt_at"]
    actions = ["retry_now"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["secret"].required = False
        return form

    def save_model(self, request, obj, form, change):
        if not obj.secret:
            obj.secret = secrets.token_urlsafe(32)
        if not change:
            subscription_cursor_to_head(obj)
        super().save_model(request, obj, form, change)

    @admin.action(description="Retry now (skip the backoff wait)")
    def retry_now(self, request, queryset):
        updated = queryset.update(next_attempt_at=timezone.now())
        self.message_user(request, f"{updated} subscriptions will be retried at the next dispatch.")


@admin.register(ApiEvent)
class ApiEventAdmin(SystemWrittenAdmin):
    list_display = ["id", "kind", "status", "delivery_id", "campaign_id", "occurred_at", "created_at"]
    list_filter = ["kind", "status"]
    ordering = ["-id"]


@admin.register(EventDeliveryAttempt)
class EventDeliveryAttemptAdmin(SystemWrittenAdmin):
    list_display = ["attempted_at", "subscription", "event", "outcome", "response_status", "error", "duration_ms"]
    list_filter = ["outcome", "subscription"]
    list_select_related = ["subscription", "event"]
    ordering = ["-id"]
