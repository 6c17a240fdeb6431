"""Models of the integration API: keys and their request counts, idempotency records, event subscriptions, the
event outbox and its log."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from wacampaigns.encrypted_fields import EncryptedTextField
from wacampaigns.models import BusinessAccount

__all__ = [
    "ApiEvent",
    "ApiEventKind",
    "ApiKey",
    "ApiKeyRequestCount",
    "EventDeliveryAttempt",
    "EventDeliveryOutcome",
    "EventSubscription",
    "IdempotencyRecord",
]


class ApiKey(models.Model):
    """A key another system sends with `Authorization: Bearer …`: stored only as a SHA-256 hash.

    The key is `wac_<prefix>_<secret>`; `prefix` finds the row, the hash of the whole key proves it.
    """

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'Shop order confirmations'.")
    business_account = models.ForeignKey(BusinessAccount, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField("SHA-256 of the key", max_length=64, unique=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute; empty: API_RATE_LIMIT_PER_MINUTE."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-id"]

    def __str__(self):
        return f"{self.name} (wac_{self.prefix}_…)"


class ApiKeyRequestCount(models.Model):
    """A key's requests in one minute, for its rate limit (without Redis): one row per key and minute.

    Counted by one atomic upsert per request (`keys.api_key_rate_limit_take`), so concurrent requests never
    overwrite each other's counts; a key's rows older than the previous minute are deleted as it starts a minute.
    """

    # The unique (api_key, minute) index serves look-ups by key: a second index would be one more write per count.
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="request_counts", db_index=False)
    minute = models.PositiveIntegerField(help_text="Minutes since the Unix epoch.")
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "minute"], name="api_key_request_count_unique")]

    def __str__(self):
        return f"{self.api_key_id} @ {self.minute}: {self.count}"


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an `Idempotency-Key`, replayed for 24 hours.

    The unique (api key, idempotency key) constraint is what stops concurrent duplicates: the second
    INSERT waits for the first transaction and then fails.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_per_key")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires_idx")]

    def __str__(self):
        return f"{self.key} → {self.response_status}"


class EventSubscription(models.Model):
    """A URL that receives this installation's events as signed JSON POSTs, in order.

    The dispatcher keeps a cursor per subscription over the outbox: `(cursor_transaction, cursor_event)` is
    the last event handled (delivered, or abandoned after the retry period).
    """

    name = models.CharField(max_length=100)
    business_account = models.ForeignKey(
        BusinessAccount,
        on_delete=models.CASCADE,
        related_name="event_subscriptions",
        help_text="Message events of this account's numbers; consent events of every contact.",
    )
    url = models.URLField("URL", max_length=500)
    secret = EncryptedTextField(help_text="Signs every POST (HMAC-SHA256 of the body); generated when left empty.")
    is_active = models.BooleanField("active", default=True)
    message_status_events = models.BooleanField("message status changes", default=True)
    include_campaign_messages = models.BooleanField(
        default=False, help_text="Status changes of campaign messages too, not only of API sends."
    )
    inbound_message_events = models.BooleanField("inbound replies", default=True)
    consent_events = models.BooleanField("opt-outs and opt-ins", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cursor_transaction = models.BigIntegerField(default=0, editable=False)
    cursor_event = models.BigIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failed attempt at the event at the cursor."
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_holder = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ApiEventKind(models.TextChoices):
    MESSAGE_STATUS = "message.status", "Message status changed"
    MESSAGE_RECEIVED = "message.received", "Inbound message"
    CONSENT = "contact.consent", "Opt-out or opt-in"


class ApiEvent(models.Model):
    """The event outbox: rows written by database triggers in the transaction that made the change.

    See `deliveries.api.events` for why triggers. `transaction_id` is PostgreSQL's transaction id (0 on
    SQLite), so the dispatcher reads events in commit-safe order (see `events.dispatch`).
    """

    kind = models.CharField(max_length=20, choices=ApiEventKind.choices)
    transaction_id = models.BigIntegerField(default=0)
    business_account_id = models.BigIntegerField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    delivery_id = models.BigIntegerField(null=True, blank=True)
    inbound_message_id = models.BigIntegerField(null=True, blank=True)
    consent_event_id = models.BigIntegerField(null=True, blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, blank=True, help_text="The status reached, or the consent kind.")
    scope = models.CharField(max_length=16, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "API event"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["transaction_id", "id"], name="api_event_order_idx"),
            models.Index(fields=["created_at"], name="api_event_created_idx"),
        ]

    def __str__(self):
        return f"evt_{self.pk} {self.kind} {self.status}"


class EventDeliveryOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (will be retried)"
    ABANDONED = "abandoned", "Abandoned (retry period over)"


class EventDeliveryAttempt(models.Model):
    """One POST of an event to a subscriber: the delivery log (no body kept: it holds personal data)."""

    subscription = models.ForeignKey(EventSubscription, on_delete=models.CASCADE, related_name="attempts")
    event = models.ForeignKey(ApiEvent, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=EventDeliveryOutcome.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=EventDeliveryOutcome.values), name="event_attempt_outcome_valid"
            )
        ]
        indexes = [models.Index(fields=["subscription", "attempted_at"], name="event_attempt_recent_idx")]

    def __str__(self):
        return f"{self.event_id} → {self.subscription_id}: {self.outcome}"
