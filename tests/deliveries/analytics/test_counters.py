"""Trigger-maintained counters equal a fresh count after every kind of write: sends, webhooks in any order and
repeated, replies, clicks, opt-outs, erasure. Status changes go through the webhook receiver's real endpoint
(signed posts → `delivery_statuses_apply`), the sending engine's writes are mimicked by direct UPDATEs.
"""

import random
from datetime import UTC, datetime

import pytest
from django.db import connection

from contacts.models import ConsentEvent
from deliveries.analytics.clicks import delivery_click_record
from deliveries.analytics.counters import campaign_numbers, counter_rows, counter_rows_counted, counter_rows_normalized
from deliveries.analytics.models import CampaignCounter, CampaignTimelineBucket
from deliveries.analytics.selectors import campaign_timeline, campaign_timeline_counted
from deliveries.models import Delivery, DeliveryStatus, SkipReason
from tests import factories
from tests.deliveries.webhooks.conftest import inbound_payload, status, status_payload

pytestmark = pytest.mark.django_db

T0 = 1_767_225_600


def _failed(wamid, offset, code):
    return status(wamid, "failed", T0 + offset, errors=[{"code": code, "title": f"Error {code}"}])


def _assert_counters_exact(campaign):
    stored = counter_rows_normalized(counter_rows(campaign_ids=[campaign.pk]).get(campaign.pk, []))
    fresh = counter_rows_normalized(counter_rows_counted(campaign_id=campaign.pk))
    assert stored == fresh
    assert campaign_timeline(campaign_id=campaign.pk) == campaign_timeline_counted(campaign_id=campaign.pk)
    return campaign_numbers(stored.items())


def test_counters_equal_a_fresh_count_through_sends_webhooks_replies_clicks_and_opt_outs(post_webhook, sender):
    campaign = factories.campaign(sender=sender)
    other = factories.campaign(sender=sender)
    contacts = [factories.contact() for _ in range(12)]
    rows = [factories.delivery(campaign=campaign, contact=contact) for contact in contacts]
    factories.delivery(campaign=other, contact=contacts[0])
    factories.delivery(sender=sender)  # an API send: no campaign, never counted
    Delivery.objects.filter(pk=rows[10].pk).update(status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.OPTED_OUT)
    Delivery.objects.filter(pk=rows[11].pk).update(status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.NO_OPT_IN)
    assert _assert_counters_exact(campaign).targeted == 12

    # The sending engine: claim, then record results in bulk (accepted with a wamid).
    sending = rows[:10]
    Delivery.objects.filter(pk__in=[row.pk for row in sending]).update(
        status=DeliveryStatus.SENDING, claimed_at=datetime.now(UTC), claim_token="9d6f3f8e-2a3c-4a0c-9d3e-000000000001"
    )
    assert _assert_counters_exact(campaign).in_flight == 10
    for index, row in enumerate(sending):
        Delivery.objects.filter(pk=row.pk).update(
            status=DeliveryStatus.ACCEPTED, wamid=f"wamid.{index}", accepted_at=datetime.now(UTC)
        )
    _assert_counters_exact(campaign)

    statuses = [
        *(status(f"wamid.{i}", "sent", T0 + i) for i in range(9)),
        *(status(f"wamid.{i}", "delivered", T0 + 60 + i) for i in range(7)),
        *(status(f"wamid.{i}", "read", T0 + 180 + i) for i in range(4)),
        status("wamid.5", "read", T0 + 200),  # read without a delivered yet for wamid.7 below: implies delivered
        status("wamid.7", "read", T0 + 240),
        _failed("wamid.8", 30, 131026),
        _failed("wamid.9", 5, 131053),
    ]
    shuffled = statuses + statuses[:8]  # duplicates
    random.Random(8).shuffle(shuffled)
    for start in range(0, len(shuffled), 5):
        assert post_webhook(status_payload(*shuffled[start : start + 5])).status_code == 200
        _assert_counters_exact(campaign)
    # An out-of-order earlier `sent` moves wamid.0's sent event to an earlier minute bucket.
    assert post_webhook(status_payload(status("wamid.0", "sent", T0 - 600))).status_code == 200
    _assert_counters_exact(campaign)

    # Replies (with and without context), a STOP that opts out, clicks (two by one recipient).
    def inbound(index, text, *, context=True, offset=300):
        message = {
            "from": contacts[index].phone.lstrip("+"),
            "id": f"wamid.in.{index}.{offset}",
            "timestamp": str(T0 + offset),
            "type": "text",
            "text": {"body": text},
        }
        if context:
            message["context"] = {"from": "15550001111", "id": f"wamid.{index}"}
        return message

    assert (
        post_webhook(inbound_payload(inbound(1, "Thanks!"), inbound(2, "How much?", context=False))).status_code == 200
    )
    assert post_webhook(inbound_payload(inbound(3, "STOP", offset=400))).status_code == 200
    assert post_webhook(inbound_payload(inbound(3, "STOP", offset=400))).status_code == 200  # a retried webhook
    delivery_click_record(delivery_id=rows[0].pk)
    delivery_click_record(delivery_id=rows[0].pk)
    delivery_click_record(delivery_id=rows[4].pk)
    numbers = _assert_counters_exact(campaign)

    assert ConsentEvent.objects.filter(contact=contacts[3], kind="opt_out").exists()
    assert numbers.targeted == 12
    assert numbers.skipped_by_reason == {SkipReason.OPTED_OUT: 1, SkipReason.NO_OPT_IN: 1}
    assert numbers.sent == 9  # wamid.9 failed before it was sent; wamid.8 was sent, then failed
    assert numbers.delivered == 8  # 0-6 delivered, 7 read without delivered
    assert numbers.read == 6  # 0-3, 5, 7
    assert numbers.failed == 2
    assert numbers.failed_by_code == {131026: 1, 131053: 1}
    assert numbers.replied == 2  # 1 (context), 3 (its STOP has a context too); 2 is outside the 24 h window
    assert numbers.clicked == 2
    assert numbers.opted_out == 1
    assert Delivery.objects.get(pk=rows[0].pk).click_count == 2
    assert Delivery.objects.get(pk=rows[3].pk).opted_out_at is not None

    # Erasure deletes rows; deleting a campaign leaves no counter rows behind.
    Delivery.objects.filter(pk=rows[1].pk).delete()
    assert _assert_counters_exact(campaign).replied == 1
    Delivery.objects.filter(campaign=other).delete()
    other.delete()
    assert not CampaignCounter.objects.filter(campaign_id=other.pk).exists()
    assert not CampaignTimelineBucket.objects.filter(campaign_id=other.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="shards exist for concurrent writers (PostgreSQL)")
def test_a_transaction_writes_a_shard_no_other_open_transaction_holds(transactional_db):
    import threading

    from django.db import connections, transaction

    campaign = factories.campaign()
    rows = [factories.delivery(campaign=campaign) for _ in range(2)]
    first_wrote = threading.Event()
    second_done = threading.Event()

    def hold_a_shard():
        try:
            with transaction.atomic():
                Delivery.objects.filter(pk=rows[0].pk).update(status=DeliveryStatus.CANCELLED)
                first_wrote.set()
                second_done.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_a_shard)
    holder.start()
    assert first_wrote.wait(timeout=10)
    # Not blocked by the open transaction's counter rows: it takes another shard.
    Delivery.objects.filter(pk=rows[1].pk).update(status=DeliveryStatus.CANCELLED)
    second_done.set()
    holder.join(timeout=10)
    shards = set(CampaignCounter.objects.filter(campaign=campaign, status="cancelled").values_list("shard", flat=True))
    assert len(shards) == 2
    stored = counter_rows_normalized(counter_rows(campaign_ids=[campaign.pk])[campaign.pk])
    assert stored == counter_rows_normalized(counter_rows_counted(campaign_id=campaign.pk))


def test_missing_triggers_are_put_back_after_migrate_and_the_counters_recounted():
    from django.apps import apps

    from deliveries.analytics.triggers import (
        analytics_trigger_names,
        analytics_triggers_after_migrate,
        analytics_triggers_sql,
    )

    campaign = factories.campaign()
    factories.delivery(campaign=campaign)
    with connection.cursor() as cursor:  # what a SQLite table rebuild does to them
        for statement in analytics_triggers_sql(connection.vendor)[1]:
            cursor.execute(statement)
    factories.delivery(campaign=campaign, status=DeliveryStatus.CANCELLED)  # written while they are missing
    assert campaign_numbers(counter_rows(campaign_ids=[campaign.pk])[campaign.pk]).targeted == 1

    analytics_triggers_after_migrate(sender=None, app_config=apps.get_app_config("deliveries"))

    numbers = _assert_counters_exact(campaign)
    assert (numbers.targeted, numbers.cancelled) == (2, 1)
    factories.delivery(campaign=campaign)
    assert _assert_counters_exact(campaign).targeted == 3
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgname LIKE 'deliveries_analytics%%'")
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'deliveries_analytics%'"
            )
        assert cursor.fetchone()[0] == len(analytics_trigger_names(connection.vendor))
