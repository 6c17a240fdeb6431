"""The sender loop against the simulator: claim, render at claim, send, record exactly what was sent."""

import pytest
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource
from contacts.services import contact_consent_record
from deliveries.models import Delivery, DeliveryStatus, SkipReason
from deliveries.sending import claiming
from deliveries.sending import sender as sender_module
from deliveries.sending.materialization import campaign_materialize
from deliveries.sending.sender import Sender
from tests import factories
from tests.deliveries.sending.conftest import opted_in
from wacampaigns.models import CampaignStatus

pytestmark = pytest.mark.django_db


def launched(campaign):
    campaign.status, campaign.launched_at = CampaignStatus.LAUNCHING, timezone.now()
    campaign.save()
    campaign_materialize(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def test_a_campaign_is_sent_once_to_each_recipient_with_its_parameters_recorded(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=7))
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.audience_size == 7

    report = Sender(phone_number_id=campaign.sender_id).run()

    assert report.sent == 7
    log = simulator.messages()
    assert sorted(entry["to"] for entry in log) == sorted(d.contact.phone for d in campaign.deliveries.all())
    for delivery in campaign.deliveries.select_related("contact"):
        entry = next(e for e in log if e["biz_opaque_callback_data"] == str(delivery.pk))
        assert delivery.status == DeliveryStatus.ACCEPTED
        assert delivery.wamid == entry["wamid"]
        assert entry["parameters"] == [delivery.contact.name, "SPRING20"]
        assert delivery.parameters == entry["components"]
        assert delivery.attempted_at is not None
        assert delivery.attempts == 1
        assert (delivery.template_name, delivery.language) == ("spring_sale", "en_US")


def test_the_next_batch_is_claimed_while_the_last_chunk_of_a_batch_is_in_flight(
    simulator, campaign_for, settings, monkeypatch
):
    # 4 threads (sending_settings): within a batch, a chunk waits until fewer than 8 requests are in flight.
    settings.SENDER_BATCH_SIZE = 10
    simulator.configure(latency_ms=300)
    campaign = launched(campaign_for(contacts=30))
    accepted_at_each_claim = []
    claim = claiming.rows_claim

    def recording_claim(**arguments):
        accepted_at_each_claim.append(simulator.stats()["accepted"])
        return claim(**arguments)

    monkeypatch.setattr(claiming, "rows_claim", recording_claim)

    report = Sender(phone_number_id=campaign.sender_id).run()

    # The second batch was claimed with all ten requests of the first still unanswered, not once the pool had room.
    assert accepted_at_each_claim[:2] == [0, 0]
    assert report.sent == 30
    assert sorted(int(e["biz_opaque_callback_data"]) for e in simulator.messages()) == sorted(
        campaign.deliveries.values_list("id", flat=True)
    )
    assert set(campaign.deliveries.values_list("status", flat=True)) == {DeliveryStatus.ACCEPTED}


def test_consent_is_checked_again_at_send_time(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=3))
    leaver = campaign.deliveries.first().contact
    contact_consent_record(
        contact=leaver, kind=ConsentKind.OPT_OUT, scope=ConsentScope.MARKETING, source=ConsentSource.KEYWORD
    )

    Sender(phone_number_id=campaign.sender_id).run()

    row = Delivery.objects.get(campaign=campaign, contact=leaver)
    assert (row.status, row.skip_reason) == (DeliveryStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert leaver.phone not in {entry["to"] for entry in simulator.messages()}
    assert len(simulator.messages()) == 2


def test_a_missing_variable_skips_only_that_recipient(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=2))
    nameless = campaign.deliveries.first().contact
    nameless.name = ""
    nameless.save()

    Sender(phone_number_id=campaign.sender_id).run()

    row = Delivery.objects.get(campaign=campaign, contact=nameless)
    assert (row.status, row.skip_reason) == (DeliveryStatus.SKIPPED, SkipReason.MISSING_VARIABLE)
    assert len(simulator.messages()) == 1


def test_a_paused_campaign_is_not_claimed(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=3))
    campaign.status = CampaignStatus.PAUSED
    campaign.save()

    report = Sender(phone_number_id=campaign.sender_id).run()

    assert report.claimed == 0
    assert simulator.messages() == []
    assert campaign.deliveries.filter(status=DeliveryStatus.QUEUED).count() == 3


def test_an_api_send_goes_out_between_chunks_of_a_campaign_batch(simulator, campaign_for, settings, monkeypatch):
    settings.SENDER_BATCH_SIZE = 100
    campaign = launched(campaign_for(contacts=60))
    campaign.sender.throughput_limit = 100  # chunks of 9 rows, about 0.1 s apart: the batch takes 0.6 s
    campaign.sender.save()
    api_rows = []
    record = sender_module.attempts_record

    def queue_an_api_send_after_the_first_chunk(chunk, **kwargs):
        if not api_rows:
            contact = opted_in()
            api_rows.append(
                factories.delivery(
                    sender=campaign.sender,
                    contact=contact,
                    priority=0,
                    template=campaign.sender.business_account.templates.get(name="spring_sale"),
                    template_name="spring_sale",
                    language="en_US",
                    recipient=contact.phone,
                    parameters=[
                        {"type": "body", "parameters": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}
                    ],
                )
            )
        return record(chunk, **kwargs)

    monkeypatch.setattr(sender_module, "attempts_record", queue_an_api_send_after_the_first_chunk)
    report = Sender(phone_number_id=campaign.sender_id).run()

    assert report.sent == 61
    api_row = Delivery.objects.get(pk=api_rows[0].pk)
    assert api_row.status == DeliveryStatus.ACCEPTED
    campaign_rows = campaign.deliveries.all()
    assert all(row.status == DeliveryStatus.ACCEPTED for row in campaign_rows)
    # Sent before the batch it arrived in was done, not after it.
    assert sum(row.attempted_at > api_row.attempted_at for row in campaign_rows) >= 9
