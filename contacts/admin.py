"""Admin for contacts, tags, consent history, imports (upload → preview → confirm) and the suppression list."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from contacts.exporting import contacts_export
from contacts.importing.services import (
    ImportNotAllowed,
    contact_import_confirm,
    contact_import_discard,
    contact_import_duplicates,
    contact_import_errors,
    contact_import_merge,
    contact_import_preview,
    contact_import_stage,
)
from contacts.models import ConsentEvent, Contact, ContactImport, ContactImportStatus, ErasedNumber, Tag
from contacts.personal_data import contact_erase, contact_personal_data_export
from contacts.services import contact_consent_record
from contacts.tasks import contact_import_merge_enqueue, contact_import_stage_enqueue
from wacampaigns.admin_base import LargeTableAdmin, SystemWrittenAdmin

# Smaller files are read and merged within the request; larger ones in the background (django-q2).
INLINE_MAX_BYTES = 256 * 1024
INLINE_MAX_PHONES = 5_000


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
    """GDPR actions run every app's registered personal-data holders (contacts.personal_data)."""

    change_list_template = "admin/contacts/contact/change_list.html"
    actions = ["export_csv", "export_xlsx", "gdpr_export", "gdpr_erase"]
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

    def _export(self, queryset, file_format, content_type):
        response = HttpResponse(contacts_export(queryset, file_format=file_format), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="contacts.{file_format}"'
        return response

    @admin.action(description="Export selected contacts (CSV)", permissions=["view"])
    def export_csv(self, request, queryset):
        return self._export(queryset, "csv", "text/csv; charset=utf-8")

    @admin.action(description="Export selected contacts (XLSX)", permissions=["view"])
    def export_xlsx(self, request, queryset):
        return self._export(queryset, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @admin.action(description="GDPR: export everything held about the selected contact (JSON)", permissions=["view"])
    def gdpr_export(self, request, queryset):
        documents = [contact_personal_data_export(contact=contact) for contact in queryset[:100]]
        body = json.dumps(documents[0] if len(documents) == 1 else documents, cls=DjangoJSONEncoder, indent=2)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="personal-data.json"'
        return response

    @admin.action(description="GDPR: erase the selected contacts everywhere (cannot be undone)", permissions=["erase"])
    def gdpr_erase(self, request, queryset):
        erased = 0
        for contact in queryset:
            contact_erase(contact=contact, erased_by=request.user)
            erased += 1
        self.message_user(request, f"Erased {erased} contact(s); their numbers are on the suppression list.")

    def has_erase_permission(self, request):
        return request.user.has_perm("contacts.erase_contact")


@admin.register(ContactImport)
class ContactImportAdmin(LargeTableAdmin):
    """Upload a file (the add form); its page shows progress, the preview and row errors, and the choice."""

    list_display = [
        "id",
        "original_name",
        "status",
        "rows_read",
        "rows_valid",
        "rows_invalid",
        "phones_merged",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    ordering = ["-id"]
    fields = ["file", "default_country", "consent_source", "tag_names"]
    change_form_template = "admin/contacts/contactimport/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [field.name for field in ContactImport._meta.fields]

    def get_fields(self, request, obj=None):
        if obj is None:
            return self.fields
        return [
            "original_name",
            "status",
            "failure",
            "default_country",
            "consent_source",
            "tag_names",
            "rows_read",
            "rows_valid",
            "rows_invalid",
            "phones_to_merge",
            "phones_merged",
            "contacts_created",
            "contacts_updated",
            "opt_ins_recorded",
            "opt_outs_recorded",
            "opt_ins_refused",
            "created_by",
            "created_at",
            "finished_at",
        ]

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.original_name = obj.file.name
        obj.created_by = request.user
        obj.default_country = obj.default_country.upper()
        super().save_model(request, obj, form, change)
        if obj.file.size <= INLINE_MAX_BYTES:
            contact_import_stage(contact_import=obj)
        else:
            contact_import_stage_enqueue(obj)

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:contacts_contactimport_change", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/confirm/", view(self.confirm_view), name="contacts_contactimport_confirm"),
            path("<int:pk>/discard/", view(self.discard_view), name="contacts_contactimport_discard"),
            *super().get_urls(),
        ]

    def _step(self, request, pk, step):
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport, pk=pk)
        try:
            step(contact_import)
        except ImportNotAllowed as err:
            self.message_user(request, str(err), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:contacts_contactimport_change", args=[pk]))

    def confirm_view(self, request, pk):
        def confirm(contact_import):
            contact_import = contact_import_confirm(contact_import=contact_import)
            if contact_import.phones_to_merge <= INLINE_MAX_PHONES:
                contact_import_merge(contact_import=contact_import)
                self.message_user(
                    request,
                    f"Imported: {contact_import.contacts_created} new, {contact_import.contacts_updated} updated.",
                )
            else:
                contact_import_merge_enqueue(contact_import)
                self.message_user(request, "Importing in the background; this page shows the progress.")

        return self._step(request, pk, confirm)

    def discard_view(self, request, pk):
        def discard(contact_import):
            contact_import_discard(contact_import=contact_import)
            self.message_user(request, "Discarded: nothing was imported.")

        return self._step(request, pk, discard)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        contact_import = get_object_or_404(ContactImport, pk=object_id)
        running = contact_import.status in (
            ContactImportStatus.UPLOADED,
            ContactImportStatus.STAGING,
            ContactImportStatus.MERGING,
        )
        extra_context = {
            **(extra_context or {}),
            "import": contact_import,
            "running": running,
            "row_errors": contact_import_errors(contact_import=contact_import),
            "preview_rows": contact_import_preview(contact_import=contact_import)
            if contact_import.status == ContactImportStatus.PREVIEW
            else [],
            "duplicates": contact_import_duplicates(contact_import=contact_import),
            "can_decide": contact_import.status == ContactImportStatus.PREVIEW and self.has_add_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)


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
