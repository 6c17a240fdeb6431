"""The drainer: POSTs only store and wake one drainer task; batches apply together; a bad row fails alone."""

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deliveries.models import (
    Delivery,
    DeliveryStatus,
    InboundMessage,
    WebhookDrainerLease,
    WebhookEvent,
    WebhookProcessingState,
)
from deliveries.webhooks import draining, processing, tasks
from tests import factories
from tests.deliveries.webhooks.conftest import inbound_payload, status, status_payload

pytestmark = pytest.mark.django_db

T0 = 1_767_225_600


@pytest.fixture
def enqueued(monkeypatch, settings):
    """Drainer tasks the POSTs enqueue (recorded, not run), with a fresh per-process lease memo and short leases."""
    calls = []
    monkeypatch.setattr(draining, "async_task", lambda *args, **kwargs: calls.append(args))
    monkeypatch.setattr(draining, "_covered_until", None)
    monkeypatch.setattr(draining, "LEASE_SECONDS", 0.05)
    settings.WEBHOOK_DRAIN_IDLE_SECONDS = 0
    settings.WEBHOOK_DRAIN_POLL_SECONDS = 0.01
    return calls


def _states():
    return sorted(WebhookEvent.objects.values_list("state", flat=True))


def test_a_burst_of_posts_is_stored_pending_and_wakes_one_drainer_task_that_applies_it(post_webhook, sender, enqueued):
    deliveries = [
        factories.delivery(sender=sender, wamid=f"wamid.B{n}", status=DeliveryStatus.ACCEPTED) for n in range(3)
    ]
    for n in range(3):
        payload = status_payload(status(f"wamid.B{n}", "read", T0 + n), status(f"wamid.B{n}", "sent", T0))
        assert post_webhook(payload, drain=False).status_code == 200
    assert _states() == [WebhookProcessingState.PENDING] * 3
    assert [d.status for d in Delivery.objects.order_by("id")] == [DeliveryStatus.ACCEPTED] * 3
    assert enqueued == [(draining.DRAIN_TASK,)]
    assert WebhookDrainerLease.objects.get().kicked_at is not None

    report = tasks.webhook_events_drain()

    assert (report["processed"], report["stopped"]) == (3, "idle")
    assert _states() == [WebhookProcessingState.PROCESSED] * 3
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.sent_at is not None, delivery.delivered_at) == (
            DeliveryStatus.READ,
            True,
            delivery.read_at,
        )
    lease = WebhookDrainerLease.objects.get()
    assert (lease.holder, lease.expires_at, lease.kicked_at) == (None, None, None)


def test_with_a_live_drainer_a_post_is_one_insert_whatever_it_carries(post_webhook, sender, enqueued):
    WebhookDrainerLease.objects.create(holder=uuid.uuid4(), expires_at=timezone.now() + timedelta(hours=1))
    for n in range(40):
        factories.delivery(sender=sender, wamid=f"wamid.Q{n}", status=DeliveryStatus.ACCEPTED)

    def queries(count: int, offset: int) -> tuple[int, int]:
        payload = status_payload(
            *(status(f"wamid.Q{n}", "delivered", T0 + offset, biz_opaque_callback_data=str(n)) for n in range(count))
        )
        with CaptureQueriesContext(connection) as posting:
            assert post_webhook(payload, drain=False).status_code == 200
        with CaptureQueriesContext(connection) as draining_:
            assert draining.webhook_events_drain_pending().processed == 1
        return len(posting.captured_queries), len(draining_.captured_queries)

    queries(1, 0)  # warms the per-process caches: app secrets, routes, the lease seen live
    one, forty = queries(1, 1), queries(40, 2)
    assert one == forty
    assert one[0] == 1
    assert enqueued == []
    assert Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 40


def test_a_batch_claims_and_marks_its_rows_with_one_array_parameter_on_postgresql(post_webhook, sender):
    for n in range(30):
        factories.delivery(sender=sender, wamid=f"wamid.A{n}", status=DeliveryStatus.ACCEPTED)
        post_webhook(status_payload(status(f"wamid.A{n}", "sent", T0)), drain=False)

    with CaptureQueriesContext(connection) as batch:
        assert draining.webhook_events_drain_pending().processed == 30

    by_id = '"deliveries_webhookevent"."id" ' + ("= ANY(" if connection.vendor == "postgresql" else "IN (")
    claim_and_mark = [q["sql"] for q in batch.captured_queries if by_id in q["sql"]]
    assert [sql.split(" ", 1)[0] for sql in claim_and_mark] == ["SELECT", "UPDATE"], claim_and_mark
    assert _states() == [WebhookProcessingState.PROCESSED] * 30
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_one_bad_row_fails_alone_and_the_rest_of_its_batch_is_applied(post_webhook, sender, monkeypatch):
    good = factories.delivery(sender=sender, wamid="wamid.G", status=DeliveryStatus.ACCEPTED)
    real = processing.inbound_message_receive

    def breaks_on_boom(*, event, **kwargs):
        if event.text == "boom":
            raise RuntimeError("cannot store this reply")
        return real(event=event, **kwargs)

    monkeypatch.setattr(processing, "inbound_message_receive", breaks_on_boom)
    message = {"from": "34611111111", "id": "wamid.IN1", "timestamp": str(T0), "type": "text"}
    post_webhook(status_payload(status("wamid.G", "delivered", T0)), drain=False)
    post_webhook(inbound_payload({**message, "text": {"body": "boom"}}), drain=False)
    post_webhook(inbound_payload({**message, "id": "wamid.IN2", "text": {"body": "thanks"}}), drain=False)
    post_webhook(b"[1, 2, 3]", drain=False)  # JSON the parser does not expect

    draining.webhook_events_drain_pending()

    rows = list(WebhookEvent.objects.order_by("id").values_list("state", "attempts", "processing_error"))
    assert [row[:2] for row in rows] == [
        (WebhookProcessingState.PROCESSED, 1),
        (WebhookProcessingState.FAILED, 1),
        (WebhookProcessingState.PROCESSED, 1),
        (rows[3][0], 1),
    ]
    assert "cannot store this reply" in rows[1][2]
    assert rows[3][0] in (WebhookProcessingState.PROCESSED, WebhookProcessingState.FAILED)
    good.refresh_from_db()
    assert good.status == DeliveryStatus.DELIVERED
    assert list(InboundMessage.objects.values_list("wamid", flat=True)) == ["wamid.IN2"]


def test_at_its_time_box_a_drainer_hands_its_lease_to_a_successor_only(post_webhook, sender, enqueued, monkeypatch):
    monkeypatch.setattr(draining, "LEASE_SECONDS", 5.0)
    delivery = factories.delivery(sender=sender, wamid="wamid.T", status=DeliveryStatus.ACCEPTED)
    post_webhook(status_payload(status("wamid.T", "sent", T0)), drain=False)
    successors = []

    first = draining.webhook_events_drain(time_box=0, idle_seconds=None, on_time_box=successors.append)

    assert (first.processed, first.stopped_because) == (1, "time box")
    lease = WebhookDrainerLease.objects.get()
    assert successors == [lease.holder]
    assert lease.expires_at > timezone.now()
    intruder = draining.webhook_events_drain(time_box=1, idle_seconds=0)
    assert intruder.stopped_because == draining.HELD_ELSEWHERE
    post_webhook(status_payload(status("wamid.T", "read", T0 + 5)), drain=False)
    monkeypatch.setattr(draining, "LEASE_SECONDS", 0.05)

    successor = draining.webhook_events_drain(token=successors[0], time_box=5, idle_seconds=0)

    assert (successor.processed, successor.stopped_because) == (1, "idle")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.READ
    assert WebhookDrainerLease.objects.get().holder is None


def test_the_periodic_retry_wakes_the_drainer_for_pending_rows_and_the_command_drains_them(
    post_webhook, sender, enqueued
):
    delivery = factories.delivery(sender=sender, wamid="wamid.R", status=DeliveryStatus.ACCEPTED)
    post_webhook(status_payload(status("wamid.R", "sent", T0)), drain=False)
    WebhookDrainerLease.objects.update(kicked_at=timezone.now() - timedelta(minutes=1))  # that task was lost
    enqueued.clear()

    assert "woke the drainer" in tasks.webhook_events_retry()
    assert enqueued == [(draining.DRAIN_TASK,)]
    call_command("drain_webhooks", "--once")
    assert _states() == [WebhookProcessingState.PROCESSED]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
