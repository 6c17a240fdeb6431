"""Meta's objects as Meta keys them: app → WhatsApp Business Account → sender phone number.

This module imports nothing of the campaigns, so templates and deliveries can build on it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from wacampaigns.encrypted_fields import EncryptedTextField


class MetaApp(models.Model):
    """A Meta app: its secret signs webhooks, its verify token answers the subscription handshake."""

    name = models.CharField(max_length=100, unique=True)
    app_id = models.CharField("app id", max_length=32, unique=True)
    app_secret = EncryptedTextField(help_text="App Dashboard → App settings → Basic → App secret.")
    webhook_verify_token = EncryptedTextField(help_text="The verify token you enter with the callback URL at Meta.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Meta app"
        constraints = [models.CheckConstraint(condition=Q(app_id__regex=r"^[0-9]+$"), name="meta_app_id_numeric")]

    def __str__(self):
        return self.name


class MessagingLimitTier(models.TextChoices):
    """Unique users a business portfolio may reach outside a service window in a moving 24 h."""

    TIER_250 = "TIER_250", "250"
    TIER_2K = "TIER_2K", "2,000"
    TIER_10K = "TIER_10K", "10,000"
    TIER_100K = "TIER_100K", "100,000"
    TIER_UNLIMITED = "TIER_UNLIMITED", "Unlimited"


MESSAGING_LIMIT_BY_TIER = {
    MessagingLimitTier.TIER_250: 250,
    MessagingLimitTier.TIER_2K: 2_000,
    MessagingLimitTier.TIER_10K: 10_000,
    MessagingLimitTier.TIER_100K: 100_000,
    MessagingLimitTier.TIER_UNLIMITED: None,
}


def default_graph_api_base_url() -> str:
    return settings.GRAPH_API_BASE_URL


def default_graph_api_version() -> str:
    return settings.GRAPH_API_VERSION


class SendingState(models.TextChoices):
    ACTIVE = "active", "Active"
    STOPPED = "stopped", "Stopped"


class BusinessAccount(models.Model):
    """A WhatsApp Business Account (WABA): owns templates, and its token sends for its numbers."""

    meta_app = models.ForeignKey(MetaApp, on_delete=models.PROTECT, related_name="business_accounts")
    name = models.CharField(max_length=100)
    waba_id = models.CharField("WABA id", max_length=32, unique=True)
    access_token = EncryptedTextField(help_text="A system user token with whatsapp_business_messaging and _management.")
    graph_api_base_url = models.URLField(
        "Graph API base URL",
        default=default_graph_api_base_url,
        help_text="https://graph.facebook.com, or the simulator's address.",
    )
    graph_api_version = models.CharField("Graph API version", max_length=10, default=default_graph_api_version)
    # Meta applies the messaging limit per business portfolio since 2025-10-07, shared by all its numbers.
    messaging_limit_tier = models.CharField(
        max_length=16, choices=MessagingLimitTier.choices, default=MessagingLimitTier.TIER_250
    )
    sending_state = models.CharField(max_length=8, choices=SendingState.choices, default=SendingState.ACTIVE)
    stop_reason = models.TextField(blank=True, help_text="Why Meta or staff stopped sending on this account.")
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "WhatsApp business account"
        constraints = [
            models.CheckConstraint(condition=Q(waba_id__regex=r"^[0-9]+$"), name="business_account_waba_id_numeric"),
            models.CheckConstraint(
                condition=Q(messaging_limit_tier__in=MessagingLimitTier.values),
                name="business_account_tier_valid",
            ),
            models.CheckConstraint(
                condition=Q(sending_state__in=SendingState.values), name="business_account_sending_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(sending_state=SendingState.ACTIVE) | ~Q(stop_reason=""),
                name="business_account_stop_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(graph_api_version__regex=r"^v[0-9]+\.[0-9]+$"),
                name="business_account_graph_version_format",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.waba_id})"

    @property
    def messaging_limit(self) -> int | None:
        return MESSAGING_LIMIT_BY_TIER[self.messaging_limit_tier]


class QualityRating(models.TextChoices):
    GREEN = "GREEN", "High (green)"
    YELLOW = "YELLOW", "Medium (yellow)"
    RED = "RED", "Low (red)"
    UNKNOWN = "UNKNOWN", "Unknown"


class PhoneNumberStatus(models.TextChoices):
    CONNECTED = "CONNECTED", "Connected"
    FLAGGED = "FLAGGED", "Flagged"
    RESTRICTED = "RESTRICTED", "Restricted"
    DISCONNECTED = "DISCONNECTED", "Disconnected"
    PENDING = "PENDING", "Pending"


DEFAULT_THROUGHPUT_PER_SECOND = 80


class PhoneNumber(models.Model):
    """A business phone number that sends; Meta limits its throughput in messages per second."""

    business_account = models.ForeignKey(BusinessAccount, on_delete=models.PROTECT, related_name="phone_numbers")
    phone_number_id = models.CharField("phone number id", max_length=32, unique=True)
    display_phone_number = models.CharField(max_length=32)
    verified_name = models.CharField(max_length=200, blank=True)
    throughput_limit = models.PositiveIntegerField(
        "throughput limit (messages/s)",
        default=DEFAULT_THROUGHPUT_PER_SECOND,
        help_text="Meta's limit for this number: 80 by default, 1,000 after an upgrade, 20 for coexistence.",
    )
    quality_rating = models.CharField(max_length=8, choices=QualityRating.choices, default=QualityRating.UNKNOWN)
    status = models.CharField(max_length=16, choices=PhoneNumberStatus.choices, default=PhoneNumberStatus.CONNECTED)
    # design.md decision 3: ambiguous sends are re-sent only while status webhooks are flowing.
    last_status_webhook_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When Meta last posted a message status for this number."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_phone_number"]
        constraints = [
            models.CheckConstraint(condition=Q(phone_number_id__regex=r"^[0-9]+$"), name="phone_number_id_numeric"),
            models.CheckConstraint(
                condition=Q(throughput_limit__gte=1, throughput_limit__lte=10_000), name="phone_number_throughput_range"
            ),
            models.CheckConstraint(
                condition=Q(quality_rating__in=QualityRating.values), name="phone_number_quality_valid"
            ),
            models.CheckConstraint(condition=Q(status__in=PhoneNumberStatus.values), name="phone_number_status_valid"),
        ]

    def __str__(self):
        return (
            f"{self.display_phone_number} ({self.verified_name})" if self.verified_name else self.display_phone_number
        )
