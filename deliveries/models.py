"""Outbound messages (the sending queue), raw webhook events and inbound messages."""

from django.db import models
from django.db.models import Q

from contacts.models import Contact
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending (claimed by a worker)"
    AMBIGUOUS = "ambiguous", "Attempted, result unknown"
    ACCEPTED = "accepted", "Accepted by Meta"
    HELD = "held", "Held by Meta (template pacing)"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


# design.md decision 7: statuses only move forward. Equal ranks do not replace each other.
DELIVERY_STATUS_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.AMBIGUOUS: 2,
    DeliveryStatus.ACCEPTED: 2,
    DeliveryStatus.HELD: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
}
TERMINAL_DELIVERY_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.CANCELLED)


class SkipReason(models.TextChoices):
    NO_OPT_IN = "no_opt_in", "No marketing opt-in"
    OPTED_OUT = "opted_out", "Opted out"
    UNDELIVERABLE = "undeliverable", "Flagged undeliverable"
    NO_PHONE = "no_phone", "No phone number"
    MISSING_VARIABLE = "missing_variable", "A required variable has no value"
    NO_APPROVED_TEMPLATE = "no_approved_template", "No approved template version"
    US_MARKETING = "us_marketing", "+1 number: Meta does not deliver marketing templates"
    FREQUENCY_CAP = "frequency_cap", "Frequency cap reached"
    SUPPRESSED = "suppressed", "Number on the erasure suppression list"


class ErrorClass(models.TextChoices):
    """How the Cloud API boundary classified a failure (design.md decision 6)."""

    RETRYABLE = "retryable", "Retryable"
    RECIPIENT = "recipient", "Permanent for this recipient"
    TEMPLATE = "template", "Stops the template"
    ACCOUNT = "account", "Stops the business account"


class DeliveryPriority(models.IntegerChoices):
    """Lower is claimed first: an order confirmation must not wait behind a campaign."""

    TRANSACTIONAL = 0, "Transactional (API)"
    CAMPAIGN = 10, "Campaign"


def _one_of(field: str, values) -> Q:
    """`field` = one of `values`, as a chain of equalities: SQLite evaluates a CHECK's `IN (…)` list of more than
    a few values at a cost of ~3 µs per row written (~6 s of a 1M-row launch for two constraints), a chain of
    `=` that stops at the first match costs nothing measurable."""
    condition = Q()
    for value in values:
        condition |= Q(**{field: value})
    return condition


class Delivery(models.Model):
    """One outbound message, and the queue row a sender claims (design.md decisions 1 to 3)."""

    # No single-column indexes on campaign and contact: the (campaign, …) indexes and the (contact, campaign)
    # constraint below serve their lookups, and every index is one more write per row of a million-row launch.
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    # Null once the contact is erased (GDPR); the row stays so campaign counts stay right.
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries", db_index=False
    )
    # No single-column index either: every hot query by sender has a status or an accepted_at that one of the
    # (sender, …) partial indexes serves; by sender alone there is only deleting a number (a rare admin act).
    sender = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="deliveries", db_index=False)
    priority = models.PositiveSmallIntegerField(choices=DeliveryPriority.choices, default=DeliveryPriority.CAMPAIGN)
    template = models.ForeignKey(
        MessageTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        help_text="The template version resolved at send time.",
        db_index=False,
    )
    template_name = models.CharField(max_length=512, blank=True)
    language = models.CharField(max_length=15, blank=True)
    recipient = models.CharField(max_length=128, blank=True, help_text="The address sent to (`to`).")
    parameters = models.JSONField(null=True, blank=True, help_text="The `components` exactly as sent.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    # Unique among the rows that have one (delivery_wamid_unique): a queued row has none, and a unique column
    # would put every queued row's NULL in its index (two indexes on PostgreSQL, with the LIKE one).
    wamid = models.CharField("WhatsApp message id", max_length=128, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    not_before = models.DateTimeField(help_text="Not claimed before this time (retries, quiet hours).")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True, help_text="Set before the HTTP call.")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When it was skipped or cancelled.")
    replied_at = models.DateTimeField(null=True, blank=True)
    # Click tracking and opt-out crediting (deliveries.analytics): the dashboards count these per campaign.
    clicked_at = models.DateTimeField(null=True, blank=True, help_text="First click on a tracked link.")
    click_count = models.PositiveIntegerField(default=0, db_default=0, help_text="Clicks on tracked links.")
    opted_out_at = models.DateTimeField(
        null=True, blank=True, help_text="An opt-out credited to this message (see deliveries.analytics.counters)."
    )
    error_code = models.IntegerField(null=True, blank=True)
    error_subcode = models.IntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=12, choices=ErrorClass.choices, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)
    skip_reason = models.CharField(max_length=24, choices=SkipReason.choices, blank=True)
    skip_details = models.CharField(max_length=255, blank=True)
    pricing_category = models.CharField(max_length=40, blank=True)
    test_for_campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="test_deliveries",
        help_text="A staff test send of this campaign's message.",
        db_index=False,
    )

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-id"]
        constraints = [
            # Once per campaign; rows without a campaign (API and test sends) or without a contact (erased) never
            # conflict, NULLs being distinct in a unique index on SQLite and PostgreSQL. Contact first, it also
            # serves every lookup of a contact's deliveries (frequency cap, reply crediting, erasure): one index
            # a launch writes for both jobs.
            models.UniqueConstraint(fields=["contact", "campaign"], name="delivery_once_per_campaign"),
            models.UniqueConstraint(fields=["wamid"], condition=Q(wamid__isnull=False), name="delivery_wamid_unique"),
            models.CheckConstraint(condition=_one_of("status", DeliveryStatus.values), name="delivery_status_valid"),
            models.CheckConstraint(condition=Q(priority__in=DeliveryPriority.values), name="delivery_priority_valid"),
            models.CheckConstraint(
                condition=Q(skip_reason="") | Q(skip_reason__in=SkipReason.values), name="delivery_skip_reason_valid"
            ),
            # The common case first: the IN list is read only for skipped rows.
            models.CheckConstraint(
                condition=(~Q(status=DeliveryStatus.SKIPPED) & Q(skip_reason=""))
                | (Q(status=DeliveryStatus.SKIPPED) & Q(skip_reason__in=SkipReason.values)),
                name="delivery_skipped_iff_reason",
            ),
            models.CheckConstraint(
                condition=Q(error_class="") | Q(error_class__in=ErrorClass.values), name="delivery_error_class_valid"
            ),
            # A row Meta accepted or reported on carries its wamid (an ambiguous one may not).
            models.CheckConstraint(
                condition=~Q(status__in=[DeliveryStatus.ACCEPTED, DeliveryStatus.HELD]) | Q(wamid__isnull=False),
                name="delivery_accepted_has_wamid",
            ),
            models.CheckConstraint(
                condition=~Q(status=DeliveryStatus.SENDING) | Q(claim_token__isnull=False, claimed_at__isnull=False),
                name="delivery_sending_is_claimed",
            ),
        ]
        indexes = [
            # The claim query: due queued rows of one sender, transactional first, oldest first.
            models.Index(
                fields=["sender", "priority", "not_before", "id"],
                condition=Q(status="queued"),
                name="delivery_claim_idx",
            ),
            # A campaign's due rows, so that a paused campaign's rows never slow the claims of another.
            models.Index(
                fields=["campaign", "not_before", "id"],
                condition=Q(status="queued"),
                name="delivery_campaign_claim_idx",
            ),
            # Counts per status, and the dashboard drill-down and export: keyset pages of one campaign's rows in
            # one status, by id.
            models.Index(fields=["campaign", "status", "id"], name="delivery_campaign_keyset_idx"),
            models.Index(
                fields=["campaign", "id"], condition=Q(replied_at__isnull=False), name="delivery_campaign_replied_idx"
            ),
            models.Index(
                fields=["campaign", "id"], condition=Q(clicked_at__isnull=False), name="delivery_campaign_clicked_idx"
            ),
            models.Index(
                fields=["campaign", "id"], condition=Q(opted_out_at__isnull=False), name="delivery_campaign_opt_out_idx"
            ),
            # Ambiguous-row policy: has any later send of this number been reported by a webhook?
            models.Index(
                fields=["sender", "accepted_at"],
                condition=Q(accepted_at__isnull=False),
                name="delivery_sender_accepted_idx",
            ),
            models.Index(
                fields=["status", "claimed_at"], condition=Q(status="sending"), name="delivery_stale_claim_idx"
            ),
            models.Index(fields=["attempted_at"], condition=Q(status="ambiguous"), name="delivery_ambiguous_idx"),
            # Queued rows have no template yet and are almost never test sends: they stay out of these two.
            models.Index(fields=["template"], condition=Q(template__isnull=False), name="delivery_template_idx"),
            models.Index(
                fields=["test_for_campaign"],
                condition=Q(test_for_campaign__isnull=False),
                name="delivery_test_for_campaign_idx",
            ),
        ]

    def __str__(self):
        return f"{self.template_name or 'message'} → {self.recipient or self.contact_id} ({self.status})"


class SenderLease(models.Model):
    """One sender slot of a phone number: the task holding it renews `expires_at` while it works.

    At most one live task per slot; the reaper starts a task for every due slot whose lease expired.
    """

    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.CASCADE, related_name="sender_leases")
    slot = models.PositiveSmallIntegerField()
    holder = models.UUIDField(null=True, blank=True, help_text="The run token of the task holding the slot.")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["phone_number", "slot"], name="sender_lease_unique_slot")]

    def __str__(self):
        return f"sender {self.phone_number_id}/{self.slot}"


class SenderRateState(models.Model):
    """The token bucket of one phone number, shared by every worker (design.md decision 5).

    `rate` is the current refill rate in messages/s: cut on 130429, raised back gradually to the number's limit.
    Times are seconds since the epoch on the database's clock.
    """

    phone_number = models.OneToOneField(
        PhoneNumber, primary_key=True, on_delete=models.CASCADE, related_name="rate_state"
    )
    tokens = models.FloatField(default=0)
    refilled_at = models.FloatField(default=0)
    rate = models.FloatField(default=0)
    throttled_at = models.FloatField(default=0, help_text="When Meta last answered 130429.")
    throttled_count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"rate of {self.phone_number_id}: {self.rate:.1f}/s"


class WebhookProcessingState(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (will be retried)"
    UNROUTED = "unrouted", "Unrouted (unknown account)"
    REJECTED = "rejected", "Rejected (not valid JSON)"


class WebhookEvent(models.Model):
    """One POST from Meta, stored raw before it is processed (design.md decision 8)."""

    raw_body = models.TextField()
    signature_valid = models.BooleanField()
    # No index on either key: no hot query looks raw events up by them (migration 0010).
    meta_app = models.ForeignKey(
        MetaApp, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    business_account = models.ForeignKey(
        BusinessAccount,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
        db_index=False,
        help_text="The account it was routed to; empty while unrouted.",
    )
    received_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(
        max_length=12, choices=WebhookProcessingState.choices, default=WebhookProcessingState.PENDING
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=WebhookProcessingState.values), name="webhook_event_state_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=WebhookProcessingState.PROCESSED) | Q(processed_at__isnull=False),
                name="webhook_event_processed_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "id"], condition=Q(state__in=["pending", "failed"]), name="webhook_event_retry_idx"
            ),
        ]

    def __str__(self):
        return f"webhook {self.pk} ({self.state})"


class WebhookDrainerLease(models.Model):
    """The single row naming the webhook drainer at work: its holder, its lease, and the last wake-up asked.

    The holder promises to look for pending rows until `expires_at`, so a POST that saw a live lease need not
    wake anyone; `kicked_at` keeps the POSTs that found none from enqueuing more than one drainer task.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    holder = models.UUIDField(null=True, blank=True, help_text="The run token of the drainer holding the lease.")
    expires_at = models.DateTimeField(null=True, blank=True)
    kicked_at = models.DateTimeField(null=True, blank=True, help_text="When a drainer task was last enqueued.")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="webhook_drainer_lease_singleton")]

    def __str__(self):
        return f"webhook drainer lease ({self.holder or 'free'})"


class InboundMessage(models.Model):
    """A message a user sent to one of our numbers."""

    wamid = models.CharField("WhatsApp message id", max_length=128, unique=True)
    business_account = models.ForeignKey(
        BusinessAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    phone_number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    from_phone = models.CharField(max_length=32, blank=True, help_text="`from` / wa_id; absent for some usernames.")
    from_user_id = models.CharField(max_length=128, blank=True, help_text="Business-scoped user id.")
    profile_name = models.CharField(max_length=200, blank=True)
    message_type = models.CharField(max_length=32)
    text = models.TextField(blank=True, help_text="Text, button title or payload, as readable text.")
    payload = models.JSONField(default=dict, help_text="The message object as Meta sent it.")
    context_wamid = models.CharField(max_length=128, blank=True, help_text="The business message it answers.")
    in_reply_to = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    sent_at = models.DateTimeField(help_text="Meta's timestamp.")
    received_at = models.DateTimeField(auto_now_add=True)
    webhook_event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "sent_at"], name="inbound_contact_recent_idx"),
            models.Index(fields=["phone_number", "from_phone", "sent_at"], name="inbound_window_idx"),
        ]

    def __str__(self):
        return f"{self.message_type} from {self.from_phone or self.from_user_id}"


from deliveries.analytics.models import *  # noqa: E402, F403
from deliveries.api.models import *  # noqa: E402, F403
