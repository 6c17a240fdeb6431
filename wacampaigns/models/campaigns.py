"""A campaign: one template sent from one number to an audience, with per-recipient variables."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from contacts.models import Tag
from wacampaigns.models.accounts import PhoneNumber


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    LAUNCHING = "launching", "Launching (building the audience)"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class VariableSource(models.TextChoices):
    """Where a template parameter's value comes from, per recipient (Campaign.variable_mapping)."""

    CONTACT_FIELD = "contact_field", "Contact field"
    ATTRIBUTE = "attribute", "Custom attribute"
    CONSTANT = "constant", "Constant"
    OPT_OUT_LINK = "opt_out_link", "The contact's opt-out link"
    TRACKED_LINK = "tracked_link", "Tracked link to the campaign's target URL"


class Campaign(models.Model):
    """Audience: contacts with every `include_tags` tag (any contact if none), none of `exclude_tags`,
    matching every `attribute_filters` entry ({"attribute": "city", "value": "Madrid"}).

    `variable_mapping` maps each template parameter, keyed "body.1", "body.first_name", "header.1" or
    "button.0", to {"source": VariableSource, "value": field / attribute / constant, "default": str}.
    """

    name = models.CharField(max_length=200)
    sender = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="campaigns")
    template_name = models.CharField(max_length=512, help_text="The template's name at Meta.")
    fallback_language = models.CharField(
        max_length=15,
        default="en_US",
        help_text="Sent to contacts whose own language has no approved version of the template.",
    )
    include_tags = models.ManyToManyField(Tag, blank=True, related_name="+", help_text="Contacts with all these tags.")
    exclude_tags = models.ManyToManyField(
        Tag, blank=True, related_name="+", help_text="Never contacts with any of these."
    )
    attribute_filters = models.JSONField(default=list, blank=True)
    variable_mapping = models.JSONField(default=dict, blank=True)
    click_target_url = models.URLField(
        "click target URL",
        max_length=2000,
        blank=True,
        help_text="Where tracked links and URL buttons of this campaign lead (the only address they redirect to).",
    )
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="Launch automatically at this time.")
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    pause_reason = models.TextField(blank=True, help_text="Shown to staff: why sending stopped.")
    concurrency = models.PositiveSmallIntegerField(
        default=2, help_text="Sender tasks working on this campaign at once."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    launched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Audience materialization (deliveries.sending.materialization): contacts are inserted in committed chunks
    # in id order; the cursor is the last contact id done, so that a crashed launch resumes where it stopped.
    audience_cursor = models.BigIntegerField(default=0, editable=False)
    audience_materialized_at = models.DateTimeField(null=True, blank=True, editable=False)
    audience_size = models.PositiveIntegerField(null=True, blank=True, editable=False)
    materializer_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("launch_campaign", "Can launch, pause, resume and cancel campaigns"),
            ("view_dashboard", "Can view campaign dashboards"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=CampaignStatus.SCHEDULED) | Q(scheduled_at__isnull=False),
                name="campaign_scheduled_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[CampaignStatus.DRAFT, CampaignStatus.SCHEDULED]) | Q(launched_at__isnull=False),
                name="campaign_launched_has_time",
            ),
            models.CheckConstraint(
                condition=Q(concurrency__gte=1, concurrency__lte=32), name="campaign_concurrency_range"
            ),
            models.CheckConstraint(condition=~Q(template_name=""), name="campaign_template_name_not_empty"),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="campaign_status_schedule_idx"),
        ]

    def __str__(self):
        return self.name
