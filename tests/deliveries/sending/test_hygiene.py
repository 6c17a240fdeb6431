"""Marketing hygiene (frequency cap, quiet hours in the recipient's time zone) and consent of API rows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource
from contacts.services import contact_consent_record
from deliveries.models import Delivery, DeliveryStatus, SkipReason
from deliveries.sending import claiming
from deliveries.sending.materialization import campaign_materialize
from deliveries.sending.preparation import quiet_hours_end
from deliveries.sending.sender import Sender
from tests import factories
from wacampaigns.services import campaign_launch

pytestmark = pytest.mark.django_db

NIGHT = (datetime.strptime("21:00", "%H:%M").time(), datetime.strptime("09:00", "%H:%M").time())


def test_quiet_hours_follow_the_numbers_time_zone():
    # 23:30 UTC is 00:30 in Madrid and 23:30 in the Canaries (winter): a Spanish mobile may be in either, so it
    # waits until quiet hours end in both, 09:00 in the Canaries = 09:00 UTC.
    now = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    assert quiet_hours_end("+34612345678", now, NIGHT) == datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
    # A French number has one zone: 09:00 Paris = 08:00 UTC.
    assert quiet_hours_end("+33612345678", now, NIGHT) == datetime(2026, 1, 16, 8, 0, tzinfo=UTC)
    # Same moment, 15:30 in Los Angeles: not quiet.
    assert quiet_hours_end("+12135550123", now, NIGHT) is None


def test_rows_in_quiet_hours_or_over_the_frequency_cap_wait_instead_of_being_dropped(simulator, campaign_for, settings):
    settings.QUIET_HOURS = "00:00-23:59"  # quiet all day for everybody
    campaign = campaign_for(contacts=2)
    campaign_launch(campaign=campaign)
    campaign_materialize(campaign_id=campaign.pk)
    Sender(phone_number_id=campaign.sender_id).run()
    assert simulator.messages() == []
    assert campaign.deliveries.filter(status=DeliveryStatus.QUEUED, not_before__gt=timezone.now()).count() == 2

    settings.QUIET_HOURS = ""
    settings.FREQUENCY_CAP_MESSAGES = 1
    capped = campaign.deliveries.first().contact
    factories.delivery(
        sender=campaign.sender,
        contact=capped,
        status=DeliveryStatus.DELIVERED,
        wamid="wamid.old",
        template=campaign.sender.business_account.templates.get(),
        accepted_at=timezone.now() - timedelta(hours=1),
    )
    campaign.deliveries.update(not_before=timezone.now())
    Sender(phone_number_id=campaign.sender_id).run()
    waiting = Delivery.objects.get(campaign=campaign, contact=capped)
    assert waiting.status == DeliveryStatus.QUEUED
    assert waiting.not_before > timezone.now() + timedelta(days=6)
    assert len(simulator.messages()) == 1


def test_an_api_marketing_send_is_skipped_when_the_contact_opted_out_since(simulator, spring_sale, phone_number):
    contact = factories.contact()
    contact_consent_record(
        contact=contact, kind=ConsentKind.OPT_OUT, scope=ConsentScope.MARKETING, source=ConsentSource.KEYWORD
    )
    row = factories.delivery(
        sender=phone_number,
        contact=contact,
        priority=0,
        template=spring_sale,
        template_name="spring_sale",
        language="en_US",
        recipient=contact.phone,
        parameters=[{"type": "body", "parameters": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}],
    )
    Sender(phone_number_id=phone_number.pk).run()
    row.refresh_from_db()
    assert (row.status, row.skip_reason) == (DeliveryStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert simulator.messages() == []


def test_sender_slots_always_leave_a_worker_free(campaign_for, settings):
    campaign = campaign_for(contacts=1, concurrency=8)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}
    campaign_launch(campaign=campaign)
    assert claiming.slots_wanted(campaign.sender) == 1
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 4}
    assert claiming.slots_wanted(campaign.sender) == 3
