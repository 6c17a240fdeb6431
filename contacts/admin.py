"""Admin for contacts, tags, consent history and the suppression list."""

from django.contrib import admin

from contacts.models import ConsentEvent, Contact, ErasedNumber, Tag
from contacts.services import contact_consent_record
from wacampaigns.admin_base import LargeTableAdmin, SystemWrittenAdmin


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    ordering = ["name"]


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    fields = ["occurred_at", "kind", "scope", "source", "evidence", "recorded_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-occurred_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contact)
class ContactAdmin(LargeTableAdmin):
    list_display = ["phone", "name", "language", "marketing_consent", "opted_out_of_all_at", "created_at"]
    list_filter = ["marketing_consent", "language", "tags"]
    search_fields = ["=phone", "=wa_id", "=business_user_id", "name"]
    ordering = ["-id"]
    autocomplete_fields = ["tags"]
    inlines = [ConsentEventInline]
    readonly_fields = [
        "marketing_consent",
        "marketing_consent_source",
        "marketing_consent_at",
        "opted_out_of_all_at",
        "opted_out_of_all_source",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["phone", "name", "language", "tags", "attributes"]}),
        ("WhatsApp identity", {"fields": ["wa_id", "business_user_id", "username"]}),
        (
            "Consent (from the history below; record changes under Consent events)",
            {"fields": readonly_fields[:5]},
        ),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(ConsentEvent)
class ConsentEventAdmin(LargeTableAdmin):
    """Append-only: staff record new events; nobody edits or deletes the legal record."""

    list_display = ["contact", "kind", "scope", "source", "occurred_at", "recorded_by"]
    list_filter = ["kind", "scope", "source"]
    list_select_related = ["contact", "recorded_by"]
    search_fields = ["=contact__phone"]
    autocomplete_fields = ["contact"]
    fields = ["contact", "kind", "scope", "source", "occurred_at", "evidence"]
    ordering = ["-occurred_at", "-id"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        recorded = contact_consent_record(
            contact=obj.contact,
            kind=obj.kind,
            scope=obj.scope,
            source=obj.source,
            occurred_at=obj.occurred_at,
            evidence=obj.evidence,
            recorded_by=request.user,
        )
        obj.pk = recorded.pk


@admin.register(ErasedNumber)
class ErasedNumberAdmin(SystemWrittenAdmin):
    list_display = ["number_hash", "erased_at", "erased_by"]
    list_select_related = ["erased_by"]
    search_fields = ["=number_hash"]
    ordering = ["-erased_at"]
