"""Outbound events: outbox triggers on both databases, signed in-order dispatch, retries, abandonment, the log."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource
from contacts.services import contact_consent_record
from deliveries.api.events.dispatch import api_events_dispatch, backoff_seconds, subscription_cursor_to_head
from deliveries.api.models import ApiEvent, EventDeliveryAttempt, EventSubscription
from deliveries.models import Delivery, DeliveryStatus, InboundMessage
from tests import factories
from tests.deliveries.api.subscriber import Subscriber

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "subscriber-secret"


def _subscription(account, url, **overrides):
    subscription = EventSubscription(name="CRM", business_account=account, url=url, secret=SECRET, **overrides)
    subscription_cursor_to_head(subscription)
    subscription.save()
    return subscription


def _dispatch():
    return api_events_dispatch(time_box=10, idle_exit=0)


def _api_delivery(sender, **fields):
    return factories.delivery(sender=sender, priority=0, recipient="+34612345678", template_name="t", **fields)


def _accept_then_jump_to_read(delivery):
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.ACCEPTED, wamid=f"wamid.{delivery.pk}", accepted_at=now
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.READ, sent_at=now, delivered_at=now, read_at=now + timedelta(seconds=1)
    )


def test_no_subscription_writes_no_event(sender):
    _accept_then_jump_to_read(_api_delivery(sender))
    assert not ApiEvent.objects.exists()


def test_status_events_are_signed_and_in_order_even_when_one_update_jumps_statuses(sender):
    with Subscriber(SECRET) as subscriber:
        subscription = _subscription(sender.business_account, subscriber.url)
        delivery = _api_delivery(sender)
        _accept_then_jump_to_read(delivery)

        result = _dispatch()

    assert result.delivered == 4
    assert subscriber.types() == ["message.accepted", "message.sent", "message.delivered", "message.read"]
    assert all(valid for _, valid in subscriber.received)
    first = subscriber.received[0][0]
    assert first["data"]["message_id"] == delivery.pk
    assert first["data"]["to"] == "+34612345678"
    assert len({event["id"] for event, _ in subscriber.received}) == 4
    subscription.refresh_from_db()
    assert subscription.cursor_event == ApiEvent.objects.order_by("id").last().pk
    assert EventDeliveryAttempt.objects.filter(outcome="delivered").count() == 4


def test_campaign_messages_only_when_the_subscription_asks(sender):
    campaign = factories.campaign(sender=sender)
    with Subscriber(SECRET) as subscriber:
        _subscription(sender.business_account, subscriber.url)
        _accept_then_jump_to_read(_api_delivery(sender, campaign=campaign))
        assert not ApiEvent.objects.exists()

        EventSubscription.objects.update(include_campaign_messages=True)
        _accept_then_jump_to_read(_api_delivery(sender, campaign=campaign))
        _dispatch()

    assert len(subscriber.received) == 4
    assert subscriber.received[0][0]["data"]["campaign_id"] == campaign.pk


def test_failure_event_carries_the_error(sender):
    with Subscriber(SECRET) as subscriber:
        _subscription(sender.business_account, subscriber.url)
        delivery = _api_delivery(sender)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, failed_at=timezone.now(), error_code=131026, error_title="Undeliverable"
        )
        _dispatch()

    event = subscriber.received[0][0]
    assert event["type"] == "message.failed"
    assert event["data"]["error"] == {"code": 131026, "title": "Undeliverable"}


def test_refused_event_is_retried_with_backoff_and_holds_later_events(sender):
    with Subscriber(SECRET) as subscriber:
        subscription = _subscription(sender.business_account, subscriber.url)
        subscriber.status = 503
        _accept_then_jump_to_read(_api_delivery(sender))

        first = _dispatch()
        subscription.refresh_from_db()
        assert (first.delivered, first.failed) == (0, 1)
        assert subscription.consecutive_failures == 1
        assert subscription.next_attempt_at > timezone.now()
        assert _dispatch().failed == 0, "nothing is attempted before the backoff ends"

        EventSubscription.objects.update(next_attempt_at=timezone.now())
        assert _dispatch().failed == 1
        subscription.refresh_from_db()
        assert subscription.consecutive_failures == 2

        subscriber.status = 200
        EventSubscription.objects.update(next_attempt_at=timezone.now())
        assert _dispatch().delivered == 4

    assert subscriber.refusals == 2
    assert subscriber.types() == ["message.accepted", "message.sent", "message.delivered", "message.read"]
    subscription.refresh_from_db()
    assert (subscription.consecutive_failures, subscription.failing_since) == (0, None)
    assert EventDeliveryAttempt.objects.filter(outcome="failed", response_status=503).count() == 2


def test_dead_subscriber_is_abandoned_after_the_retry_period(sender, settings):
    with Subscriber(SECRET) as subscriber:
        down_url = subscriber.url
    subscription = _subscription(sender.business_account, down_url)
    _accept_then_jump_to_read(_api_delivery(sender))
    assert _dispatch().failed == 1
    EventSubscription.objects.update(
        failing_since=timezone.now() - timedelta(hours=settings.API_EVENTS_RETRY_HOURS), next_attempt_at=None
    )

    result = api_events_dispatch(time_box=10, idle_exit=0)

    assert result.abandoned == 1
    assert EventDeliveryAttempt.objects.filter(outcome="abandoned").count() == 1
    subscription.refresh_from_db()
    assert subscription.cursor_event == ApiEvent.objects.order_by("id").first().pk
    # The next event is tried at once, and fails in its turn.
    failed = EventDeliveryAttempt.objects.filter(outcome="failed")
    assert failed.count() == 2
    assert all("ConnectionError" in attempt.error for attempt in failed)


def test_inbound_reply_and_consent_events(sender):
    contact = factories.contact(phone="+34612345670")
    with Subscriber(SECRET) as subscriber:
        _subscription(sender.business_account, subscriber.url)
        InboundMessage.objects.create(
            wamid="wamid.in.1",
            business_account=sender.business_account,
            phone_number=sender,
            contact=contact,
            from_phone="34612345670",
            message_type="text",
            text="Where is my order?",
            sent_at=timezone.now(),
        )
        contact_consent_record(
            contact=contact, kind=ConsentKind.OPT_OUT, scope=ConsentScope.MARKETING, source=ConsentSource.KEYWORD
        )
        _dispatch()

    assert subscriber.types() == ["message.received", "contact.opted_out"]
    received, consent = (event for event, _ in subscriber.received)
    assert received["data"]["text"] == "Where is my order?"
    assert consent["data"] == {
        "phone": "+34612345670",
        "scope": "marketing",
        "source": "keyword",
        "occurred_at": consent["data"]["occurred_at"],
    }


def test_backoff_doubles_up_to_the_cap(settings):
    settings.API_EVENTS_BACKOFF_BASE_SECONDS, settings.API_EVENTS_BACKOFF_MAX_SECONDS = 5, 60
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 5, 50)] == [5, 10, 20, 40, 60, 60]
