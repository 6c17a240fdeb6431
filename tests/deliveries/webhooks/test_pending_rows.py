"""Group commit of the POSTs' raw rows: concurrent POSTs share one INSERT, each answers 200 only once its own
row is committed, and a failed INSERT answers 500 to every request of its group and stores none of them."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from deliveries.models import Delivery, DeliveryStatus, WebhookEvent, WebhookProcessingState
from deliveries.webhooks import pending_rows
from deliveries.webhooks.draining import webhook_events_drain_pending
from tests import factories
from tests.deliveries.webhooks.conftest import APP_SECRET, status, status_payload
from wacampaigns.whatsapp.signatures import SIGNATURE_HEADER, compute_signature

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 1_767_225_600
FOLLOWERS = 7


def _body(n: int) -> bytes:
    return json.dumps(status_payload(status(f"wamid.G{n}", "sent", T0 + n))).encode()


def _post(body: bytes) -> int:
    try:
        response = Client(raise_request_exception=False).post(
            reverse("deliveries:whatsapp_webhook"),
            data=body,
            content_type="application/json",
            headers={SIGNATURE_HEADER: compute_signature(body, APP_SECRET)},
        )
        return response.status_code
    finally:
        connection.close()  # this thread's connection


@pytest.fixture
def groups(monkeypatch, post_webhook, sender):
    """Row counts of every group INSERT; the first one waits until FOLLOWERS more rows queue behind it.

    A first POST (drained) caches the app secrets and the drainer lease, so the concurrent ones only insert.
    """
    for n in range(1 + FOLLOWERS):
        factories.delivery(sender=sender, wamid=f"wamid.G{n}", status=DeliveryStatus.ACCEPTED)
    assert post_webhook(status_payload(status("wamid.G0", "sent", T0))).status_code == 200
    WebhookEvent.objects.all().delete()
    sizes: list[int] = []
    original = pending_rows._rows_insert

    def recorded(rows):
        if not sizes:
            deadline = time.monotonic() + 10
            while len(pending_rows._queue) < FOLLOWERS and time.monotonic() < deadline:
                time.sleep(0.001)
        sizes.append(len(rows))
        original(rows)

    monkeypatch.setattr(pending_rows, "_rows_insert", recorded)
    return sizes


def _post_all(bodies: list[bytes]) -> list[int]:
    """The first body alone, then the others while its INSERT waits (they queue behind it)."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        first = pool.submit(_post, bodies[0])
        while not pending_rows._led:
            time.sleep(0.001)
        rest = [pool.submit(_post, body) for body in bodies[1:]]
        return [first.result(timeout=30), *(future.result(timeout=30) for future in rest)]


def test_concurrent_posts_share_one_insert_and_each_row_is_stored_once(groups):
    bodies = [_body(n) for n in range(1 + FOLLOWERS)]

    codes = _post_all(bodies)

    assert codes == [200] * len(bodies)
    assert groups == [1, FOLLOWERS]
    stored = list(WebhookEvent.objects.values_list("raw_body", "state"))
    assert sorted(stored) == sorted((body.decode(), WebhookProcessingState.PENDING) for body in bodies)
    webhook_events_drain_pending()
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert pending_rows._queue == []
    assert not pending_rows._led


def test_a_failed_group_insert_answers_500_to_each_of_its_requests_and_stores_none_of_them(groups, monkeypatch):
    bodies = [_body(n) for n in range(1 + FOLLOWERS)]
    failing = pending_rows._rows_insert

    def second_group_fails(rows):
        if groups:  # the lone first row went through: the group behind it names an app that does not exist
            rows[-1].params[2] = 999_999_999
        failing(rows)

    monkeypatch.setattr(pending_rows, "_rows_insert", second_group_fails)

    codes = _post_all(bodies)

    assert codes == [200] + [500] * FOLLOWERS
    assert list(WebhookEvent.objects.values_list("raw_body", flat=True)) == [bodies[0].decode()]
    assert pending_rows._queue == []
    assert not pending_rows._led

    monkeypatch.setattr(pending_rows, "_rows_insert", failing)
    assert [_post(body) for body in bodies[1:]] == [200] * FOLLOWERS  # Meta's redeliveries

    assert sorted(WebhookEvent.objects.values_list("raw_body", flat=True)) == sorted(b.decode() for b in bodies)


def test_a_request_interrupted_while_storing_its_group_releases_it_and_the_next_request_leads(sender, monkeypatch):
    interrupted = threading.Event()

    def interrupt(rows):
        interrupted.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(pending_rows, "_rows_insert", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pending_rows.pending_row_store(raw_body="{}", meta_app_id=sender.business_account.meta_app_id)
    monkeypatch.undo()

    pending_rows.pending_row_store(raw_body="{}", meta_app_id=sender.business_account.meta_app_id)

    assert interrupted.is_set()
    assert WebhookEvent.objects.count() == 1
    assert (pending_rows._queue, pending_rows._led) == ([], False)
