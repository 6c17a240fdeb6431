"""Admin for message templates: list and sync, submit for review, opt-out marks, bubble preview."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from contacts.models import Contact
from contacts.opt_out import contact_opt_out_url
from templates_app.forms import MessageTemplateForm, TemplateSubmissionForm
from templates_app.models import MessageTemplate, TemplateStatus
from templates_app.preview import template_contact_values, template_preview_html
from templates_app.services import (
    TemplateDraftInvalid,
    business_account_templates_sync,
    template_opt_out_buttons_set,
    template_submit,
)
from wacampaigns.models import BusinessAccount, Campaign
from wacampaigns.whatsapp.errors import CloudApiError


@admin.action(description="Sync templates now (from Meta)", permissions=["change"])
def business_accounts_templates_sync(modeladmin, request, queryset):
    """Admin action for business accounts (registered on BusinessAccountAdmin)."""
    for business_account in queryset.select_related("meta_app"):
        try:
            result = business_account_templates_sync(business_account=business_account)
        except CloudApiError as err:
            modeladmin.message_user(request, f"{business_account}: sync failed: {err}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{business_account}: {result}.", messages.SUCCESS)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = [
        "name",
        "language",
        "category",
        "status",
        "quality_score",
        "rejection_reason",
        "business_account",
        "last_synced_at",
    ]
    list_filter = ["status", "category", "language", "business_account"]
    list_select_related = ["business_account"]
    search_fields = ["name", "meta_template_id"]
    ordering = ["name", "language"]
    actions = ["sync_accounts"]
    readonly_fields = [
        "business_account",
        "name",
        "language",
        "category",
        "parameter_format",
        "meta_template_id",
        "status",
        "quality_score",
        "rejection_reason",
        "last_synced_at",
        "preview",
        "components",
    ]
    fieldsets = [
        (None, {"fields": ["business_account", "name", "language", "category", "parameter_format"]}),
        ("At Meta", {"fields": ["meta_template_id", "status", "rejection_reason", "quality_score", "last_synced_at"]}),
        ("Preview", {"fields": ["preview"]}),
        ("Ours", {"fields": ["opt_out_button_texts"]}),
        ("Components as Meta returns them", {"classes": ["collapse"], "fields": ["components"]}),
    ]

    @admin.display(description="Preview")
    def preview(self, obj):
        link = reverse("admin:templates_app_messagetemplate_preview", args=[obj.pk])
        return format_html(
            '{}<p><a href="{}">Preview with a contact\'s values…</a></p>', template_preview_html(obj), link
        )

    @admin.action(description="Sync the accounts of the selected templates (from Meta)")
    def sync_accounts(self, request, queryset):
        accounts = BusinessAccount.objects.filter(pk__in=queryset.values("business_account"))
        business_accounts_templates_sync(self, request, accounts)

    def save_model(self, request, obj, form, change):
        template_opt_out_buttons_set(template=obj, texts=form.cleaned_data.get("opt_out_button_texts") or [])

    def get_urls(self):
        urls = [
            path("submit/", self.admin_site.admin_view(self.submit_view), name="templates_app_messagetemplate_submit"),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="templates_app_messagetemplate_preview",
            ),
        ]
        return urls + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:templates_app_messagetemplate_submit")

    def submit_view(self, request):
        """Create a template and submit it to Meta for review."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TemplateSubmissionForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                template = template_submit(business_account=form.cleaned_data["business_account"], draft=form.draft())
            except TemplateDraftInvalid as err:
                for violation in err.violations:
                    target = violation.field if violation.field in form.fields else None
                    form.add_error(target, violation.message)
            except CloudApiError as err:
                form.add_error(None, f"Meta refused the template: {err}")
            else:
                self.log_addition(request, template, "Submitted to Meta for review")
                self.message_user(
                    request,
                    f"{template} submitted: {template.get_status_display()}. Meta reviews it.",
                    messages.SUCCESS,
                )
                return redirect("admin:templates_app_messagetemplate_change", template.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Submit a template for review",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "templates_app/admin/submit.html", context)

    def preview_view(self, request, pk: int):
        """The bubble with sample values, or with a contact's values under a campaign's mapping."""
        template = get_object_or_404(MessageTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        campaigns = Campaign.objects.filter(
            template_name=template.name, sender__business_account=template.business_account
        ).order_by("-created_at")
        campaign = campaigns.filter(pk=request.GET.get("campaign") or 0).first()
        lookup = (request.GET.get("contact") or "").strip()
        contact = None
        if lookup:
            contact = Contact.objects.filter(phone=lookup).first() or (
                Contact.objects.filter(pk=int(lookup)).first() if lookup.isdigit() else None
            )
        values, note = None, "Sample values (Meta's examples)."
        if contact is not None and campaign is not None:
            values = template_contact_values(
                template,
                variable_mapping=campaign.variable_mapping,
                contact=contact,
                opt_out_url=contact_opt_out_url(contact),
            )
            note = f"Values for {contact.phone or contact.pk} under the mapping of campaign {campaign}."
        elif lookup and contact is None:
            note = "No contact with that phone number or id: showing sample values."
        elif contact is not None:
            note = "Choose a campaign: its variable mapping turns the contact's data into values."
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {template}",
            "opts": self.model._meta,
            "original": template,
            "template_obj": template,
            "bubble": template_preview_html(template, values=values),
            "campaigns": campaigns,
            "campaign": campaign,
            "contact_lookup": lookup,
            "note": note,
            "is_stopped": template.status != TemplateStatus.APPROVED,
        }
        return TemplateResponse(request, "templates_app/admin/preview.html", context)
