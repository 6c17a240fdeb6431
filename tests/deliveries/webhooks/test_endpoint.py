"""The endpoint: handshake, signature, durable raw row, rejected bodies, unrouted payloads, retries, pruning."""

import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from deliveries.models import Delivery, DeliveryStatus, WebhookEvent, WebhookProcessingState
from deliveries.webhooks import pending_rows, processing
from deliveries.webhooks.reprocessing import webhook_events_prune, webhook_events_retry_due
from tests import factories
from tests.deliveries.webhooks.conftest import APP_SECRET, status, status_payload
from wacampaigns.whatsapp.signatures import compute_signature

pytestmark = pytest.mark.django_db
URL = "/webhooks/whatsapp/"
T0 = 1_767_225_600


def test_the_route_is_named():
    assert reverse("deliveries:whatsapp_webhook") == URL


def test_handshake_echoes_the_challenge_for_any_configured_token(client, meta_app):
    factories.meta_app(webhook_verify_token="another-token")
    for token in ("the-verify-token", "another-token"):
        response = client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"})
        assert (response.status_code, response.content) == (200, b"1158201444")
    wrong = client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    no_mode = client.get(URL, {"hub.verify_token": "the-verify-token", "hub.challenge": "1"})
    assert (wrong.status_code, no_mode.status_code) == (403, 403)


@pytest.mark.parametrize(
    "signature", [None, "", "sha256=" + "0" * 64, "sha1=abc", compute_signature(b"{}", APP_SECRET)]
)
def test_missing_or_wrong_signature_is_refused_and_nothing_changes(post_webhook, sender, signature):
    delivery = factories.delivery(sender=sender, wamid="wamid.Z", status=DeliveryStatus.ACCEPTED)
    payload = status_payload(status("wamid.Z", "read", 1_767_225_600))
    response = post_webhook(payload, secret=None, signature=signature)
    assert response.status_code == 403
    assert WebhookEvent.objects.count() == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.read_at) == (DeliveryStatus.ACCEPTED, None)


def test_a_secret_of_another_configured_app_is_accepted(post_webhook, meta_app):
    other = factories.meta_app(app_secret="second-app-secret")
    response = post_webhook({"object": "whatsapp_business_account", "entry": []}, secret="second-app-secret")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().meta_app_id == other.pk


def test_malformed_json_with_a_valid_signature_is_400_and_kept(post_webhook):
    body = b'{"object": "whatsapp_business_account", "entry": [ \xff'
    response = post_webhook(body)
    assert response.status_code == 400
    event = WebhookEvent.objects.get()
    assert event.state == WebhookProcessingState.REJECTED
    assert event.raw_body.startswith('{"object": "whatsapp_business_account", "entry": [ ')
    assert event.signature_valid is True
    assert "Not JSON" in event.processing_error


def test_a_payload_for_an_unknown_account_is_stored_unrouted_and_answered_200(post_webhook, meta_app):
    response = post_webhook(status_payload(status("wamid.U", "sent", 1), phone_number_id="999", waba_id="999"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.state, event.business_account_id, event.attempts) == (WebhookProcessingState.UNROUTED, None, 1)


@pytest.mark.django_db(transaction=True)
def test_a_post_on_a_connection_the_server_dropped_is_stored_on_a_new_one(post_webhook, sender):
    if connection.vendor != "postgresql":
        pytest.skip("a SQLite connection is a file, not a session a server can drop")
    import psycopg

    delivery = factories.delivery(sender=sender, wamid="wamid.R", status=DeliveryStatus.ACCEPTED)
    post_webhook(status_payload(status("wamid.R", "sent", 1_767_225_600)))  # the app secrets are now cached
    dropped = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [dropped])

    response = post_webhook(status_payload(status("wamid.R", "delivered", 1_767_225_601)))

    assert response.status_code == 200
    assert connection.connection.info.backend_pid != dropped
    assert list(WebhookEvent.objects.values_list("state", flat=True)) == [WebhookProcessingState.PROCESSED] * 2
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def _insert_executions() -> int:
    """Executions of this session's prepared webhook INSERT (0 when it was never prepared)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(generic_plans + custom_plans), 0) FROM pg_prepared_statements"
            " WHERE statement LIKE 'INSERT INTO \"deliveries_webhookevent\"%%'"
        )
        return cursor.fetchone()[0]


def test_on_postgresql_the_post_insert_is_a_prepared_statement(post_webhook, sender):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    delivery = factories.delivery(sender=sender, wamid="wamid.P", status=DeliveryStatus.ACCEPTED)
    before = _insert_executions()

    for offset, meta_status in enumerate(["sent", "delivered"]):
        assert post_webhook(status_payload(status("wamid.P", meta_status, T0 + offset))).status_code == 200

    assert _insert_executions() - before == 2
    assert list(WebhookEvent.objects.values_list("state", flat=True)) == [WebhookProcessingState.PROCESSED] * 2
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_the_post_insert_and_the_drainer_batch_each_run_inside_a_write_turn(post_webhook, sender, monkeypatch):
    delivery = factories.delivery(sender=sender, wamid="wamid.W", status=DeliveryStatus.ACCEPTED)
    seen = []

    @contextmanager
    def recording_turn():
        before = list(WebhookEvent.objects.values_list("state", flat=True))
        yield
        seen.append((before, list(WebhookEvent.objects.values_list("state", flat=True))))

    monkeypatch.setattr(pending_rows, "sqlite_write_turn", recording_turn)
    monkeypatch.setattr(processing, "sqlite_write_turn", recording_turn)

    post_webhook(status_payload(status("wamid.W", "sent", T0)))

    assert seen == [([], ["pending"]), (["pending"], ["processed"])]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_an_account_of_another_app_is_not_routed(post_webhook, meta_app):
    foreign = factories.business_account(waba_id="5467539754836534")  # belongs to another Meta app
    factories.phone_number(business_account=foreign, phone_number_id="1122334455667")
    post_webhook(status_payload(status("wamid.U", "sent", 1)))
    assert WebhookEvent.objects.get().state == WebhookProcessingState.UNROUTED


def test_a_processing_failure_keeps_the_raw_row_with_its_error_and_is_retried(post_webhook, sender, monkeypatch):
    delivery = factories.delivery(sender=sender, wamid="wamid.E", status=DeliveryStatus.ACCEPTED)
    real = processing.delivery_statuses_apply

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(processing, "delivery_statuses_apply", broken)
    response = post_webhook(status_payload(status("wamid.E", "delivered", 1_767_225_600)))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.state, event.attempts) == (WebhookProcessingState.FAILED, 1)
    assert "RuntimeError: disk on fire" in event.processing_error
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.ACCEPTED

    monkeypatch.setattr(processing, "delivery_statuses_apply", real)
    result = webhook_events_retry_due()
    assert (result.tried, result.processed) == (1, 1)
    event.refresh_from_db()
    assert (event.state, event.attempts, event.processing_error) == (WebhookProcessingState.PROCESSED, 2, "")
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED


def test_the_retry_skips_rows_over_the_attempt_cap_and_fresh_pending_rows(settings, meta_app):
    settings.WEBHOOK_PROCESSING_MAX_ATTEMPTS = 3
    body = json.dumps({"object": "whatsapp_business_account", "entry": []})
    capped = WebhookEvent.objects.create(raw_body=body, signature_valid=True, state="failed", attempts=3)
    fresh = WebhookEvent.objects.create(raw_body=body, signature_valid=True)
    abandoned = WebhookEvent.objects.create(raw_body=body, signature_valid=True)
    WebhookEvent.objects.filter(pk=abandoned.pk).update(received_at=timezone.now() - timedelta(minutes=10))
    assert webhook_events_retry_due().tried == 1
    states = dict(WebhookEvent.objects.values_list("pk", "state"))
    assert states == {capped.pk: "failed", fresh.pk: "pending", abandoned.pk: "processed"}


def test_pruning_deletes_raw_events_older_than_the_retention_oldest_ids_first(settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 30
    old = [WebhookEvent.objects.create(raw_body="{}", signature_valid=True) for _ in range(5)]
    recent, stored_late = (WebhookEvent.objects.create(raw_body="{}", signature_valid=True) for _ in range(2))
    WebhookEvent.objects.filter(pk__in=[event.pk for event in old]).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    WebhookEvent.objects.filter(pk=recent.pk).update(received_at=timezone.now() - timedelta(days=29))
    # Behind a row to keep (in id order): left for a later run.
    WebhookEvent.objects.filter(pk=stored_late.pk).update(received_at=timezone.now() - timedelta(days=31))

    assert webhook_events_prune(batch_size=2) == 5

    assert sorted(WebhookEvent.objects.values_list("pk", flat=True)) == [recent.pk, stored_late.pk]


def test_retry_and_pruning_are_scheduled_after_migrate():
    schedules = dict(
        Schedule.objects.filter(func__startswith="deliveries.webhooks.").values_list("func", "schedule_type")
    )
    assert schedules == {
        "deliveries.webhooks.tasks.webhook_events_retry": Schedule.MINUTES,
        "deliveries.webhooks.tasks.webhook_events_prune_old": Schedule.DAILY,
    }


def test_admin_action_reprocesses_selected_rows(admin_client, meta_app):
    body = json.dumps({"object": "whatsapp_business_account", "entry": []})
    failed = WebhookEvent.objects.create(raw_body=body, signature_valid=True, state="failed", attempts=25)
    response = admin_client.post(
        reverse("admin:deliveries_webhookevent_changelist"),
        {"action": "reprocess", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == (WebhookProcessingState.PROCESSED, 26)
    assert "1 processed" in response.content.decode()


def test_raw_events_keep_their_foreign_keys_but_only_the_indexes_hot_queries_use():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, WebhookEvent._meta.db_table)
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"]}
    referenced = {(tuple(c["columns"]), c["foreign_key"][0]) for c in constraints.values() if c["foreign_key"]}
    assert indexed == {("state", "id")}
    assert referenced == {
        (("meta_app_id",), "wacampaigns_metaapp"),
        (("business_account_id",), "wacampaigns_businessaccount"),
    }
