"""Writes and rules for campaigns and Meta accounts that several parts of the product share.

The sending engine (launch, resume, cancel) builds on these; webhooks and send errors call them to stop
what Meta stopped.
"""

import logging

from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from wacampaigns.models import BusinessAccount, Campaign, CampaignStatus, SendingState

logger = logging.getLogger(__name__)

PAUSABLE_STATUSES = (CampaignStatus.LAUNCHING, CampaignStatus.RUNNING)


def campaign_pause(*, campaign: Campaign, reason: str) -> bool:
    """Stops claiming new rows (in-flight requests finish). False if the campaign was not sending."""
    paused = Campaign.objects.filter(pk=campaign.pk, status__in=PAUSABLE_STATUSES).update(
        status=CampaignStatus.PAUSED, pause_reason=reason, updated_at=timezone.now()
    )
    if paused:
        campaign.status, campaign.pause_reason = CampaignStatus.PAUSED, reason
    return bool(paused)


def campaigns_pause_for_template(
    *, business_account: BusinessAccount, template_name: str, language: str, reason: str
) -> list[Campaign]:
    """Pauses the sending campaigns whose fallback version is this template language.

    Campaigns that only send this language to some recipients keep going; the sender holds back the
    rows that would get the stopped version (templates_app.selectors.template_for_recipient).
    """
    campaigns = list(
        Campaign.objects.filter(
            sender__business_account=business_account,
            template_name=template_name,
            fallback_language=language,
            status__in=PAUSABLE_STATUSES,
        )
    )
    return [campaign for campaign in campaigns if campaign_pause(campaign=campaign, reason=reason)]


@transaction.atomic
def business_account_stop_sending(*, business_account: BusinessAccount, reason: str) -> bool:
    """Stops every campaign and API send on the account and tells administrators. False if already stopped."""
    stopped = BusinessAccount.objects.filter(pk=business_account.pk, sending_state=SendingState.ACTIVE).update(
        sending_state=SendingState.STOPPED, stop_reason=reason, stopped_at=timezone.now(), updated_at=timezone.now()
    )
    if not stopped:
        return False
    business_account.sending_state, business_account.stop_reason = SendingState.STOPPED, reason
    for campaign in Campaign.objects.filter(sender__business_account=business_account, status__in=PAUSABLE_STATUSES):
        campaign_pause(campaign=campaign, reason=f"Account stopped: {reason}")
    logger.error("Sending stopped on business account %s: %s", business_account.waba_id, reason)
    transaction.on_commit(
        lambda: mail_admins(
            f"WhatsApp sending stopped on {business_account.name}",
            f"Sending has stopped on business account {business_account.name} ({business_account.waba_id}).\n\n"
            f"Reason: {reason}\n\nFix the cause, then set the account back to Active in the admin.",
            fail_silently=True,
        )
    )
    return True
