"""The Cloud API client for template management calls of one business account."""

from django.conf import settings

from wacampaigns.models import BusinessAccount
from wacampaigns.whatsapp.client import CloudApiClient


def business_account_client(business_account: BusinessAccount) -> CloudApiClient:
    """A client for the account's WABA-level calls (template list and creation, resumable uploads)."""
    first_number = business_account.phone_numbers.order_by("pk").values_list("phone_number_id", flat=True).first()
    return CloudApiClient(
        base_url=business_account.graph_api_base_url,
        api_version=business_account.graph_api_version,
        access_token=business_account.access_token,
        # Template management is addressed to the WABA; a phone number id is only needed for sends.
        phone_number_id=first_number or "",
        waba_id=business_account.waba_id,
        app_id=business_account.meta_app.app_id,
        connect_timeout_seconds=settings.GRAPH_API_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds=settings.GRAPH_API_READ_TIMEOUT_SECONDS,
    )
