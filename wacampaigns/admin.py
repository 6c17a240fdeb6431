"""Admin for Meta apps, business accounts, sender numbers and campaigns."""

from django.contrib import admin
from django.db import models
from django.urls import reverse

from templates_app.admin import business_accounts_templates_sync
from templates_app.forms import CampaignForm
from wacampaigns.admin_base import WriteOnlySecretsForm
from wacampaigns.admin_sending import CampaignSendingAdminMixin
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber


class MetaAppForm(WriteOnlySecretsForm):
    secret_fields = ("app_secret", "webhook_verify_token")

    class Meta:
        model = MetaApp
        fields = ["name", "app_id", "app_secret", "webhook_verify_token"]


@admin.register(MetaApp)
class MetaAppAdmin(admin.ModelAdmin):
    form = MetaAppForm
    list_display = ["name", "app_id", "created_at"]
    search_fields = ["name", "app_id"]
    ordering = ["name"]


def _https_by_default(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class BusinessAccountForm(WriteOnlySecretsForm):
    secret_fields = ("access_token",)

    class Meta:
        model = BusinessAccount
        formfield_callback = _https_by_default
        fields = [
            "meta_app",
            "name",
            "waba_id",
            "access_token",
            "graph_api_base_url",
            "graph_api_version",
            "messaging_limit_tier",
            "sending_state",
            "stop_reason",
        ]


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    extra = 0
    fields = [
        "phone_number_id",
        "display_phone_number",
        "verified_name",
        "throughput_limit",
        "quality_rating",
        "status",
    ]


@admin.register(BusinessAccount)
class BusinessAccountAdmin(admin.ModelAdmin):
    form = BusinessAccountForm
    actions = [business_accounts_templates_sync]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [PhoneNumberInline]
    list_display = ["name", "waba_id", "meta_app", "messaging_limit_tier", "sending_state", "graph_api_base_url"]
    list_filter = ["sending_state", "messaging_limit_tier", "meta_app"]
    list_select_related = ["meta_app"]
    search_fields = ["name", "waba_id"]
    ordering = ["name"]
    readonly_fields = ["stopped_at", "created_at", "updated_at"]


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = [
        "display_phone_number",
        "verified_name",
        "phone_number_id",
        "business_account",
        "throughput_limit",
        "quality_rating",
        "status",
    ]
    list_filter = ["quality_rating", "status", "business_account"]
    list_select_related = ["business_account"]
    search_fields = ["display_phone_number", "verified_name", "phone_number_id"]
    ordering = ["display_phone_number"]


@admin.register(Campaign)
class CampaignAdmin(CampaignSendingAdminMixin, admin.ModelAdmin):
    form = CampaignForm
    list_display = ["name", "status", "template_name", "fallback_language", "sender", "scheduled_at", "launched_at"]
    list_filter = ["status", "sender"]
    list_select_related = ["sender"]
    search_fields = ["name", "template_name"]
    ordering = ["-created_at"]
    autocomplete_fields = ["include_tags", "exclude_tags"]
    readonly_fields = [
        "status",
        "pause_reason",
        "created_by",
        "created_at",
        "launched_by",
        "launched_at",
        "completed_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "sender", "template_name", "fallback_language"]}),
        ("Audience", {"fields": ["include_tags", "exclude_tags", "attribute_filters"]}),
        ("Variables", {"fields": ["variable_mapping", "click_target_url"]}),
        ("Schedule and sending", {"fields": ["scheduled_at", "concurrency"]}),
        (
            "Status",
            {
                "fields": [
                    "status",
                    "pause_reason",
                    "created_by",
                    "created_at",
                    "launched_by",
                    "launched_at",
                    "completed_at",
                ]
            },
        ),
    ]

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def view_on_site(self, obj):
        # The page's "View on site" button opens the campaign's dashboard.
        return reverse("deliveries:campaign_dashboard", args=[obj.pk])

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
