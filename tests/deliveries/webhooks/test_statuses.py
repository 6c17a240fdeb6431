"""Status webhooks → Delivery rows: monotonic, order-independent, idempotent (query counts: test_draining)."""

import itertools
from datetime import UTC, datetime

import pytest

from contacts.models import ConsentEvent, ConsentScope, ConsentSource, MarketingConsent
from deliveries.models import Delivery, DeliveryStatus, ErrorClass, WebhookEvent, WebhookProcessingState
from deliveries.webhooks import statuses
from tests import factories
from tests.deliveries.webhooks.conftest import status, status_payload

pytestmark = pytest.mark.django_db

T0 = 1_767_225_600


def at(offset: int) -> datetime:
    return datetime.fromtimestamp(T0 + offset, tz=UTC)


def _failed(wamid, offset, code=131053):
    return status(
        wamid,
        "failed",
        T0 + offset,
        errors=[{"code": code, "title": f"Error {code}", "error_data": {"details": "why"}}],
    )


def _state(delivery):
    delivery.refresh_from_db()
    return (
        delivery.status,
        delivery.sent_at,
        delivery.delivered_at,
        delivery.read_at,
        delivery.failed_at,
        delivery.error_code,
        delivery.error_class,
        delivery.error_title,
        delivery.error_details,
        delivery.pricing_category,
        delivery.wamid,
    )


def _reset(delivery, **fields):
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.ACCEPTED,
        sent_at=None,
        delivered_at=None,
        read_at=None,
        failed_at=None,
        error_code=None,
        error_class="",
        error_title="",
        error_details="",
        pricing_category="",
        **fields,
    )


def test_sent_delivered_read_in_one_post_fills_every_timestamp(post_webhook, sender):
    delivery = factories.delivery(sender=sender, wamid="wamid.A", status=DeliveryStatus.ACCEPTED)
    pricing = {"pricing_model": "PMP", "category": "marketing", "type": "regular"}
    response = post_webhook(
        status_payload(
            status("wamid.A", "read", T0 + 30),
            status("wamid.A", "sent", T0, pricing=pricing),
            status("wamid.A", "delivered", T0 + 10),
        )
    )
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.READ
    assert (delivery.sent_at, delivery.delivered_at, delivery.read_at) == (at(0), at(10), at(30))
    assert delivery.failed_at is None
    assert delivery.pricing_category == "marketing"
    sender.refresh_from_db()
    assert sender.last_status_webhook_at is not None
    assert WebhookEvent.objects.get().state == WebhookProcessingState.PROCESSED


def test_read_alone_implies_delivered_and_a_late_delivered_fills_its_own_time(post_webhook, sender):
    delivery = factories.delivery(sender=sender, wamid="wamid.B", status=DeliveryStatus.ACCEPTED)
    post_webhook(status_payload(status("wamid.B", "read", T0 + 30)))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.delivered_at, delivery.read_at) == (DeliveryStatus.READ, at(30), at(30))
    post_webhook(status_payload(status("wamid.B", "delivered", T0 + 10)))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.delivered_at, delivery.read_at) == (DeliveryStatus.READ, at(10), at(30))


def test_every_order_and_duplicates_give_the_same_final_state(post_webhook, sender):
    delivery = factories.delivery(sender=sender, wamid="wamid.P", status=DeliveryStatus.ACCEPTED)
    pricing = {"pricing_model": "PMP", "category": "utility"}
    events = [
        status("wamid.P", "sent", T0, pricing=pricing),
        status("wamid.P", "delivered", T0 + 5, pricing=pricing),
        status("wamid.P", "read", T0 + 9),
        _failed("wamid.P", 7),
    ]
    expected = (
        DeliveryStatus.READ, at(0), at(5), at(9), at(7), 131053, ErrorClass.RECIPIENT, "Error 131053", "why",
        "utility", "wamid.P",
    )  # fmt: skip
    finals = set()
    for order in itertools.permutations(events):
        _reset(delivery)
        for event in order:  # one status per POST, as Meta mostly sends them
            post_webhook(status_payload(event))
        post_webhook(status_payload(order[0], order[-1]))  # duplicates change nothing
        finals.add(_state(delivery))
        _reset(delivery)
        post_webhook(status_payload(*order, *order))  # all in one POST, twice each
        finals.add(_state(delivery))
    assert finals == {expected}


def test_failed_is_terminal_unless_a_later_timestamp_says_otherwise(post_webhook, sender):
    delivery = factories.delivery(sender=sender, wamid="wamid.F", status=DeliveryStatus.ACCEPTED)
    post_webhook(status_payload(_failed("wamid.F", 10, code=131047)))
    post_webhook(status_payload(status("wamid.F", "sent", T0 + 5)))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.sent_at, delivery.failed_at) == (DeliveryStatus.FAILED, at(5), at(10))
    assert (delivery.error_code, delivery.error_class) == (131047, ErrorClass.RECIPIENT)
    post_webhook(status_payload(status("wamid.F", "delivered", T0 + 20)))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.delivered_at) == (DeliveryStatus.DELIVERED, at(20))


def test_callback_data_resolves_an_ambiguous_row_and_stores_the_wamid(post_webhook, sender):
    ambiguous = factories.delivery(sender=sender, status=DeliveryStatus.AMBIGUOUS, attempted_at=at(-5))
    queued = factories.delivery(sender=sender, status=DeliveryStatus.QUEUED)
    post_webhook(
        status_payload(
            status("wamid.R1", "sent", T0, biz_opaque_callback_data=str(ambiguous.pk)),
            status("wamid.R2", "sent", T0, biz_opaque_callback_data=str(queued.pk)),
        )
    )
    ambiguous.refresh_from_db()
    queued.refresh_from_db()
    assert (ambiguous.status, ambiguous.wamid, ambiguous.sent_at) == (DeliveryStatus.SENT, "wamid.R1", at(0))
    assert (queued.status, queued.wamid) == (DeliveryStatus.QUEUED, None)  # never attempted: not ours to resolve


def test_a_wamid_the_sender_stores_between_the_two_merges_still_gets_its_statuses(post_webhook, sender, monkeypatch):
    row = factories.delivery(sender=sender, status=DeliveryStatus.AMBIGUOUS, attempted_at=at(-5))
    real = statuses._merge_by_callback

    def sender_commits_first(cursor, patches):
        # What a concurrent sender's result write does just before the callback merge re-checks the row.
        Delivery.objects.filter(pk=row.pk).update(status=DeliveryStatus.ACCEPTED, wamid="wamid.RACE")
        return real(cursor, patches)

    monkeypatch.setattr(statuses, "_merge_by_callback", sender_commits_first)
    post_webhook(status_payload(status("wamid.RACE", "read", T0 + 2, biz_opaque_callback_data=str(row.pk))))
    row.refresh_from_db()
    assert (row.status, row.wamid, row.read_at, row.delivered_at) == (DeliveryStatus.READ, "wamid.RACE", at(2), at(2))


def test_statuses_never_move_backwards_from_the_senders_states(post_webhook, sender):
    skipped = factories.delivery(sender=sender, status=DeliveryStatus.SKIPPED, skip_reason="opted_out")
    post_webhook(status_payload(status("wamid.S", "sent", T0, biz_opaque_callback_data=str(skipped.pk))))
    skipped.refresh_from_db()
    assert (skipped.status, skipped.wamid) == (DeliveryStatus.SKIPPED, None)


def test_unknown_wamids_and_statuses_are_kept_not_errors(post_webhook, sender):
    response = post_webhook(
        status_payload(status("wamid.not-ours", "delivered", T0), status("wamid.x", "deleted_by_sender", T0))
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.state, event.processing_error, event.business_account_id) == (
        WebhookProcessingState.PROCESSED,
        "",
        sender.business_account_id,
    )
    assert "wamid.not-ours" in event.raw_body


def test_recipient_ids_are_stored_on_the_contact(post_webhook, sender):
    contact = factories.contact(phone="+34611111111")
    delivery = factories.delivery(sender=sender, contact=contact, wamid="wamid.I", status=DeliveryStatus.ACCEPTED)
    post_webhook(status_payload(status("wamid.I", "sent", T0, recipient_user_id="ES.123")))
    contact.refresh_from_db()
    assert (contact.wa_id, contact.business_user_id) == ("34611111111", "ES.123")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_131050_opts_out_of_marketing_and_131026_of_everything_once(post_webhook, sender):
    stopped, gone = factories.contact(), factories.contact()
    factories.delivery(sender=sender, contact=stopped, wamid="wamid.M", status=DeliveryStatus.ACCEPTED)
    factories.delivery(sender=sender, contact=gone, wamid="wamid.U", status=DeliveryStatus.ACCEPTED)
    for _ in range(2):
        post_webhook(status_payload(_failed("wamid.M", 1, code=131050), _failed("wamid.U", 1, code=131026)))
    stopped.refresh_from_db()
    gone.refresh_from_db()
    assert (stopped.marketing_consent, stopped.marketing_consent_source, stopped.opted_out_of_all_at) == (
        MarketingConsent.OPTED_OUT,
        ConsentSource.META_PREFERENCE,
        None,
    )
    assert (gone.opted_out_of_all_at, gone.opted_out_of_all_source) == (at(1), ConsentSource.UNDELIVERABLE)
    assert list(ConsentEvent.objects.filter(contact=gone).values_list("scope", flat=True)) == [ConsentScope.ALL]
    assert ConsentEvent.objects.filter(contact=stopped).count() == 1
