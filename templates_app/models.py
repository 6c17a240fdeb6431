"""Message templates as Meta holds them, plus the local marks Meta doesn't have."""

from django.db import models
from django.db.models import Q

from wacampaigns.models.accounts import BusinessAccount, QualityRating


class TemplateCategory(models.TextChoices):
    MARKETING = "MARKETING", "Marketing"
    UTILITY = "UTILITY", "Utility"
    AUTHENTICATION = "AUTHENTICATION", "Authentication"


class TemplateStatus(models.TextChoices):
    APPROVED = "APPROVED", "Approved"
    PENDING = "PENDING", "Pending review"
    REJECTED = "REJECTED", "Rejected"
    PAUSED = "PAUSED", "Paused by Meta"
    DISABLED = "DISABLED", "Disabled by Meta"
    IN_APPEAL = "IN_APPEAL", "In appeal"
    FLAGGED = "FLAGGED", "Flagged"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
    LOCKED = "LOCKED", "Locked"
    PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
    ARCHIVED = "ARCHIVED", "Archived"
    # Ours: the template is no longer listed at Meta; kept while campaigns reference it.
    DELETED = "DELETED", "Deleted at Meta"


class ParameterFormat(models.TextChoices):
    POSITIONAL = "POSITIONAL", "Positional ({{1}})"
    NAMED = "NAMED", "Named ({{first_name}})"


class MessageTemplate(models.Model):
    """One language version of a template; `components` is exactly what Meta returns."""

    business_account = models.ForeignKey(BusinessAccount, on_delete=models.PROTECT, related_name="templates")
    meta_template_id = models.CharField("Meta template id", max_length=32, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(max_length=16, choices=TemplateCategory.choices)
    status = models.CharField(max_length=20, choices=TemplateStatus.choices, default=TemplateStatus.PENDING)
    parameter_format = models.CharField(
        max_length=12, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL
    )
    components = models.JSONField(default=list, blank=True)
    quality_score = models.CharField(max_length=8, choices=QualityRating.choices, default=QualityRating.UNKNOWN)
    rejection_reason = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Local: texts of quick-reply buttons that mean "opt me out" (e.g. "Stop promotions").
    opt_out_button_texts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_account", "name", "language"], name="template_unique_per_account_name_language"
            ),
            models.UniqueConstraint(
                fields=["meta_template_id"], condition=~Q(meta_template_id=""), name="template_meta_id_unique"
            ),
            models.CheckConstraint(condition=Q(name__regex=r"^[a-z0-9_]+$"), name="template_name_format"),
            models.CheckConstraint(condition=Q(category__in=TemplateCategory.values), name="template_category_valid"),
            models.CheckConstraint(condition=Q(status__in=TemplateStatus.values), name="template_status_valid"),
            models.CheckConstraint(
                condition=Q(parameter_format__in=ParameterFormat.values), name="template_parameter_format_valid"
            ),
            models.CheckConstraint(condition=Q(quality_score__in=QualityRating.values), name="template_quality_valid"),
        ]
        indexes = [models.Index(fields=["business_account", "status"], name="template_account_status_idx")]

    def __str__(self):
        return f"{self.name} [{self.language}]"
