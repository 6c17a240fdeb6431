"""Admin for message templates."""

from django.contrib import admin

from templates_app.models import MessageTemplate


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "category", "status", "quality_score", "business_account", "last_synced_at"]
    list_filter = ["status", "category", "language", "business_account"]
    list_select_related = ["business_account"]
    search_fields = ["name", "meta_template_id"]
    ordering = ["name", "language"]
    readonly_fields = ["meta_template_id", "status", "quality_score", "rejection_reason", "last_synced_at"]
