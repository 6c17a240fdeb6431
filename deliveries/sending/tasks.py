"""django-q2 entry points of the sending engine: each takes ids and calls one service."""

from __future__ import annotations

import logging

from django.db import transaction
from django_q.tasks import async_task

from deliveries.sending import maintenance
from deliveries.sending.controls import SENDER_TASK, materializer_start
from deliveries.sending.materialization import campaign_materialize as materialize
from deliveries.sending.sender import Sender
from wacampaigns.models import Campaign
from wacampaigns.services import campaigns_launch_due

logger = logging.getLogger(__name__)


def sender_run(phone_number_id: int, slot: int = 0) -> dict:
    """One time-boxed sender run; re-enqueues itself while due work remains."""
    report = Sender(phone_number_id=phone_number_id, slot=slot).run()
    if report.work_remains:
        async_task(SENDER_TASK, phone_number_id, slot, task_name=f"sender {phone_number_id}/{slot}")
    else:
        maintenance.campaigns_complete()
    return {"claimed": report.claimed, "sent": report.sent, "stopped": report.stopped_because}


def campaign_materialize(campaign_id: int) -> int:
    """Builds the campaign's audience. Its senders were started with it (launch, resume, or the reaper, which
    restarts both) and claim rows from the first committed chunk on."""
    return materialize(campaign_id=campaign_id)


def sending_maintenance() -> dict:
    """The periodic reaper (every minute): see deliveries.sending.maintenance."""
    report = maintenance.MaintenanceReport()
    report.requeued, report.made_ambiguous = maintenance.stale_claims_recover()
    report.ambiguous_resent = maintenance.ambiguous_rows_resolve()
    report.scheduled_launched = [campaign.pk for campaign in campaigns_launch_due()]
    with transaction.atomic():
        for campaign_id in maintenance.materializers_to_restart():
            materializer_start(campaign=Campaign.objects.get(pk=campaign_id))
            report.materializers.append(campaign_id)
        report.senders = maintenance.sender_slots_to_start()
        for slot in report.senders:
            transaction.on_commit(
                lambda slot=slot: async_task(
                    SENDER_TASK, slot.phone_number_id, slot.slot, task_name=f"sender {slot.phone_number_id}/{slot.slot}"
                )
            )
    report.completed = maintenance.campaigns_complete()
    return {
        "requeued": report.requeued,
        "made_ambiguous": report.made_ambiguous,
        "ambiguous_resent": report.ambiguous_resent,
        "completed": report.completed,
        "materializers": report.materializers,
        "senders": len(report.senders),
        "scheduled_launched": report.scheduled_launched,
    }
