"""Operator controls on a campaign's rows: cancel, retry failed, staff test sends; starting the workers."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from contacts.opt_out import contact_opt_out_url
from contacts.phone_numbers import phone_normalize
from deliveries.models import Delivery, DeliveryPriority, DeliveryStatus, ErrorClass, SenderLease
from deliveries.sending import claiming
from templates_app.rendering import MissingVariable, template_components_render
from wacampaigns.models import Campaign, PhoneNumber
from wacampaigns.selectors import campaign_eligible_contacts, campaign_template

SENDER_TASK = "deliveries.sending.tasks.sender_run"
MATERIALIZE_TASK = "deliveries.sending.tasks.campaign_materialize"
MARKETING_LIMIT_CODE = 131049
MARKETING_LIMIT_WAIT = timedelta(hours=24)


def senders_start(*, phone_number: PhoneNumber) -> int:
    """Enqueues a sender for every slot of the number without a live one (after the transaction commits)."""
    now = timezone.now()
    held = set(
        SenderLease.objects.filter(phone_number=phone_number, expires_at__gte=now).values_list("slot", flat=True)
    )
    slots = [slot for slot in range(claiming.slots_wanted(phone_number)) if slot not in held]
    for slot in slots:
        transaction.on_commit(
            lambda slot=slot: async_task(
                SENDER_TASK, phone_number.pk, slot, task_name=f"sender {phone_number.pk}/{slot}"
            )
        )
    return len(slots)


def materializer_start(*, campaign: Campaign) -> None:
    transaction.on_commit(lambda: async_task(MATERIALIZE_TASK, campaign.pk, task_name=f"materialize {campaign.pk}"))


def rows_cancel(*, campaign: Campaign) -> int:
    """Every row not yet attempted becomes `cancelled` (in-flight requests finish and are recorded)."""
    return (
        Delivery.objects.filter(campaign=campaign)
        .filter(Q(status=DeliveryStatus.QUEUED) | Q(status=DeliveryStatus.SENDING, attempted_at__isnull=True))
        .update(status=DeliveryStatus.CANCELLED, claim_token=None, claimed_at=None, finished_at=timezone.now())
    )


def rows_retry_failed(*, campaign: Campaign) -> int:
    """Failed rows whose error is retryable go back to the queue, on the same rows (131049 only after 24 h)."""
    now = timezone.now()
    retryable = Delivery.objects.filter(
        campaign=campaign, status=DeliveryStatus.FAILED, error_class=ErrorClass.RETRYABLE
    ).exclude(error_code=MARKETING_LIMIT_CODE, failed_at__gt=now - MARKETING_LIMIT_WAIT)
    return retryable.update(
        status=DeliveryStatus.QUEUED,
        attempts=0,
        not_before=now,
        failed_at=None,
        attempted_at=None,
        claim_token=None,
        claimed_at=None,
        wamid=None,
    )


class TestSendRefused(ValueError):
    """A test send cannot be made (no approved template, no sample contact, a missing variable)."""


def test_deliveries_create(*, campaign: Campaign, phones: list[str]) -> list[Delivery]:
    """Queues the campaign's message, rendered for a sample recipient, to each staff number (ahead of campaigns)."""
    template = campaign_template(campaign)
    if template is None or template.status != "APPROVED":
        raise TestSendRefused("the template in the fallback language is not approved")
    marketing = template.category == "MARKETING"
    sample = campaign_eligible_contacts(campaign, marketing=marketing).order_by("id").first()
    if sample is None:
        raise TestSendRefused("nobody in the audience can receive this campaign")
    try:
        components = template_components_render(
            template=template,
            variable_mapping=campaign.variable_mapping or {},
            contact=sample,
            opt_out_url=contact_opt_out_url(sample),
        )
    except MissingVariable as err:
        raise TestSendRefused(f"the sample contact misses a variable: {err}") from err
    now = timezone.now()
    rows = Delivery.objects.bulk_create(
        [
            Delivery(
                sender=campaign.sender,
                test_for_campaign=campaign,
                priority=DeliveryPriority.TRANSACTIONAL,
                template=template,
                template_name=template.name,
                language=template.language,
                recipient=phone_normalize(phone),
                parameters=components,
                not_before=now,
            )
            for phone in phones
        ]
    )
    senders_start(phone_number=campaign.sender)
    return rows
