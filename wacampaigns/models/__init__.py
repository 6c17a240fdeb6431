"""The campaigns app's models; the Meta account models live in their own module."""

from wacampaigns.models.accounts import (
    DEFAULT_THROUGHPUT_PER_SECOND,
    MESSAGING_LIMIT_BY_TIER,
    BusinessAccount,
    MessagingLimitTier,
    MetaApp,
    PhoneNumber,
    PhoneNumberStatus,
    QualityRating,
    SendingState,
)
from wacampaigns.models.campaigns import Campaign, CampaignStatus, VariableSource

__all__ = [
    "DEFAULT_THROUGHPUT_PER_SECOND",
    "MESSAGING_LIMIT_BY_TIER",
    "BusinessAccount",
    "Campaign",
    "CampaignStatus",
    "MessagingLimitTier",
    "MetaApp",
    "PhoneNumber",
    "PhoneNumberStatus",
    "QualityRating",
    "SendingState",
    "VariableSource",
]
