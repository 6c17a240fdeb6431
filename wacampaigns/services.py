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


# --- The campaign lifecycle ----------------------------------------------------------------------------
# The rows of a campaign live in `deliveries`, which builds on the campaigns: the row-level work is imported
# at call time from `deliveries.sending.controls`, so that this module loads before it.

LAUNCHABLE_STATUSES = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.COMPLETED,
    CampaignStatus.CANCELLED,
)
LAUNCH_SCHEDULE_PREFIX = "campaign launch "


class CampaignActionRefused(ValueError):
    """The campaign is not in a state that allows this action, or Meta would refuse it."""


def _launch_refusals(campaign: Campaign) -> list[str]:
    from templates_app.models import TemplateStatus
    from wacampaigns.selectors import campaign_template

    refusals = []
    template = campaign_template(campaign)
    if template is None or template.status != TemplateStatus.APPROVED:
        refusals.append(f"the template {campaign.template_name} [{campaign.fallback_language}] is not approved")
    account = campaign.sender.business_account
    if account.sending_state != SendingState.ACTIVE:
        refusals.append(f"sending is stopped on {account.name}: {account.stop_reason}")
    return refusals


@transaction.atomic
def campaign_launch(*, campaign: Campaign, launched_by=None) -> Campaign:
    """Starts the campaign and returns at once: the audience is built in the background, in chunks, and the
    senders, enqueued beside the materializer, claim rows from the first committed chunk on. Launching a
    completed or cancelled campaign again reaches only the contacts that have no row in it yet."""
    from deliveries.sending.controls import materializer_start, senders_start

    locked = Campaign.objects.select_for_update().select_related("sender__business_account").get(pk=campaign.pk)
    if locked.status not in LAUNCHABLE_STATUSES:
        raise CampaignActionRefused(f"a {locked.get_status_display().lower()} campaign cannot be launched")
    refusals = _launch_refusals(locked)
    if refusals:
        raise CampaignActionRefused("; ".join(refusals))
    now = timezone.now()
    changes = {
        "status": CampaignStatus.LAUNCHING,
        "launched_at": now,
        "launched_by": launched_by,
        "pause_reason": "",
        "completed_at": None,
        "audience_cursor": 0,
        "audience_materialized_at": None,
        "audience_size": None,
        "materializer_lease_until": None,
        "updated_at": now,
    }
    Campaign.objects.filter(pk=locked.pk).update(**changes)
    _schedule_delete(locked)
    for name, value in changes.items():
        setattr(campaign, name, value)
    materializer_start(campaign=campaign)
    # Enqueued now rather than after the first chunk: the workers take all of them in one poll of the queue.
    senders_start(phone_number=locked.sender)
    return campaign


def _schedule_delete(campaign: Campaign) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=f"{LAUNCH_SCHEDULE_PREFIX}{campaign.pk}").delete()


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, at, scheduled_by=None) -> Campaign:
    """The campaign launches itself at `at` (a django-q2 schedule; the minute reaper is the backstop)."""
    from django_q.models import Schedule

    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignActionRefused("only a draft campaign can be scheduled")
    refusals = _launch_refusals(campaign)
    if refusals:
        raise CampaignActionRefused("; ".join(refusals))
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.SCHEDULED, scheduled_at=at, updated_at=timezone.now()
    )
    campaign.status, campaign.scheduled_at = CampaignStatus.SCHEDULED, at
    Schedule.objects.update_or_create(
        name=f"{LAUNCH_SCHEDULE_PREFIX}{campaign.pk}",
        defaults={
            "func": "wacampaigns.tasks.campaign_launch_scheduled",
            "args": repr((campaign.pk,)),
            "schedule_type": Schedule.ONCE,
            "next_run": at,
            "repeats": 1,
        },
    )
    return campaign


def campaigns_launch_due(*, now=None) -> list[Campaign]:
    """Launches every scheduled campaign whose time has come (a refused launch pauses it with the reason)."""
    now = now or timezone.now()
    launched = []
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now):
        try:
            launched.append(campaign_launch(campaign=campaign))
        except CampaignActionRefused as err:
            logger.error("Scheduled campaign %s not launched: %s", campaign.pk, err)
            Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SCHEDULED).update(
                status=CampaignStatus.DRAFT, pause_reason=f"Scheduled launch refused: {err}", updated_at=now
            )
    return launched


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    """A paused campaign sends again (or goes on building its audience)."""
    from deliveries.sending.controls import materializer_start, senders_start

    locked = Campaign.objects.select_for_update().select_related("sender__business_account").get(pk=campaign.pk)
    if locked.status != CampaignStatus.PAUSED:
        raise CampaignActionRefused("only a paused campaign can be resumed")
    account = locked.sender.business_account
    if account.sending_state != SendingState.ACTIVE:
        raise CampaignActionRefused(f"sending is stopped on {account.name}: {account.stop_reason}")
    status = CampaignStatus.RUNNING if locked.audience_materialized_at else CampaignStatus.LAUNCHING
    Campaign.objects.filter(pk=locked.pk).update(status=status, pause_reason="", updated_at=timezone.now())
    campaign.status, campaign.pause_reason = status, ""
    if status == CampaignStatus.LAUNCHING:
        materializer_start(campaign=locked)
    senders_start(phone_number=locked.sender)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> int:
    """Stops the campaign for good: every row not yet attempted becomes `cancelled`. Returns that count."""
    from deliveries.sending.controls import rows_cancel

    now = timezone.now()
    updated = Campaign.objects.filter(
        pk=campaign.pk, status__in=(*PAUSABLE_STATUSES, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)
    ).update(status=CampaignStatus.CANCELLED, completed_at=now, updated_at=now)
    if not updated:
        raise CampaignActionRefused("only a scheduled, launching, running or paused campaign can be cancelled")
    campaign.status = CampaignStatus.CANCELLED
    _schedule_delete(campaign)
    return rows_cancel(campaign=campaign)


@transaction.atomic
def campaign_retry_failed(*, campaign: Campaign) -> int:
    """Re-queues the failed rows whose error is retryable (131049 only 24 h after it failed); returns the count."""
    from deliveries.sending.controls import rows_retry_failed, senders_start

    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED):
        raise CampaignActionRefused(f"a {campaign.get_status_display().lower()} campaign has nothing to retry")
    count = rows_retry_failed(campaign=campaign)
    if count and campaign.status == CampaignStatus.COMPLETED:
        Campaign.objects.filter(pk=campaign.pk).update(
            status=CampaignStatus.RUNNING, completed_at=None, updated_at=timezone.now()
        )
        campaign.status = CampaignStatus.RUNNING
    if count:
        senders_start(phone_number=campaign.sender)
    return count


@transaction.atomic
def campaign_send_test(*, campaign: Campaign, phones: list[str]) -> int:
    """Sends the campaign's message (rendered for a sample recipient) to staff numbers, ahead of campaigns."""
    from deliveries.sending.controls import TestSendRefused, test_deliveries_create

    if not phones:
        raise CampaignActionRefused("no staff test numbers are configured (STAFF_TEST_PHONE_NUMBERS)")
    try:
        return len(test_deliveries_create(campaign=campaign, phones=phones))
    except TestSendRefused as err:
        raise CampaignActionRefused(str(err)) from err
