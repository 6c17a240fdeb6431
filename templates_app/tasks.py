"""django-q2 entry points for templates: the scheduled sync of every business account."""

import logging

from templates_app.services import business_account_templates_sync
from wacampaigns.models import BusinessAccount
from wacampaigns.whatsapp.errors import CloudApiError

logger = logging.getLogger(__name__)


def templates_sync_all() -> dict[str, str]:
    """Sync every business account; one account failing (token, network) doesn't stop the others."""
    outcomes = {}
    for business_account in BusinessAccount.objects.select_related("meta_app").order_by("pk"):
        try:
            outcomes[business_account.waba_id] = str(business_account_templates_sync(business_account=business_account))
        except CloudApiError as err:
            logger.warning("Template sync of %s failed: %s", business_account.waba_id, err)
            outcomes[business_account.waba_id] = f"failed: {err}"
    return outcomes
