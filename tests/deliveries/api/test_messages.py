"""POST /api/v1/messages and GET /api/v1/messages/{id}: the queued row, every refusal, consent, idempotency."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact, ErasedNumber, MarketingConsent
from contacts.services import contact_consent_record
from contacts.suppression import phone_number_hash
from deliveries.api import lookups
from deliveries.api.keys import api_key_create
from deliveries.api.models import IdempotencyRecord
from deliveries.models import Delivery, DeliveryPriority, DeliveryStatus
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from tests import factories

PHONE = "+34612345678"
ORDER = {
    "to": PHONE,
    "template": {"name": "order_confirmation"},
    "parameters": {"first_name": "Ana", "order_id": "A-1", "date": "Monday", "button.0": "A 1"},
}


def _error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    return body


def _nothing_created():
    assert Delivery.objects.count() == 0
    assert not Contact.objects.filter(phone=PHONE).exists()


def test_send_queues_one_transactional_row_rendered_up_front(api, utility_template, sender):
    response = api.post_json("/api/v1/messages", {**ORDER, "contact": {"name": "Ana", "attributes": {"plan": "pro"}}})

    assert response.status_code == 202, response.content
    body = response.json()
    delivery = Delivery.objects.get()
    assert body["id"] == delivery.pk
    assert body["status"] == "queued"
    assert body["to"] == PHONE
    assert delivery.campaign_id is None
    assert delivery.priority == DeliveryPriority.TRANSACTIONAL
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.sender == sender
    assert delivery.template == utility_template
    assert (delivery.template_name, delivery.language, delivery.recipient) == ("order_confirmation", "en_US", PHONE)
    assert delivery.parameters == [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "order_id", "text": "A-1"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "order_id", "text": "A-1"},
                {"type": "text", "parameter_name": "date", "text": "Monday"},
            ],
        },
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A%201"}]},
    ]
    assert delivery.contact.phone == PHONE
    assert (delivery.contact.name, delivery.contact.attributes) == ("Ana", {"plan": "pro"})


def test_positional_parameters_fill_header_body_and_buttons_in_order(api, account, key):
    factories.template(
        business_account=account,
        name="reminder",
        category=TemplateCategory.UTILITY,
        components=[{"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"}, {"type": "BODY", "text": "At {{1}}"}],
    )
    response = api.post_json(
        "/api/v1/messages", {"to": PHONE, "template": {"name": "reminder"}, "parameters": ["A", "B"]}
    )

    assert response.status_code == 202, response.content
    assert Delivery.objects.get().parameters == [
        {"type": "header", "parameters": [{"type": "text", "text": "A"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "B"}]},
    ]


def test_get_message_returns_status_timestamps_and_error(api, utility_template):
    message_id = api.post_json("/api/v1/messages", ORDER).json()["id"]
    now = timezone.now()
    Delivery.objects.filter(pk=message_id).update(
        status=DeliveryStatus.FAILED, failed_at=now, error_code=131026, error_title="Message undeliverable"
    )

    body = api.get(f"/api/v1/messages/{message_id}").json()

    assert body["status"] == "failed"
    assert body["failed_at"] is not None
    assert body["error"]["code"] == 131026
    assert body["error"]["title"] == "Message undeliverable"


def test_message_of_another_account_is_not_found(api):
    other = factories.delivery()
    _error(api.get(f"/api/v1/messages/{other.pk}"), 404, "message_not_found")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"template": {"name": "no_such_template"}}, 422, "unknown_template"),
        ({"template": {"name": "order_confirmation", "language": "fr"}}, 422, "unknown_template"),
        ({"parameters": {"first_name": "Ana", "order_id": "A-1", "button.0": "x"}}, 422, "missing_parameter"),
        ({"parameters": {**ORDER["parameters"], "coupon": "x"}}, 422, "unknown_parameter"),
        ({"parameters": ["1", "2", "3", "4", "5", "6"]}, 422, "unknown_parameter"),
        ({"parameters": {**ORDER["parameters"], "first_name": "A" * 1020}}, 422, "invalid_parameter"),
        ({"to": "12"}, 422, "invalid_phone_number"),
        ({"to": "not a number"}, 422, "invalid_phone_number"),
        ({"sender": "123"}, 422, "unknown_sender"),
        ({"template": {"name": "Bad Name"}}, 422, "invalid_request"),
        ({"parameters": 5}, 422, "invalid_request"),
    ],
)
def test_bad_requests_answer_a_code_and_create_nothing(api, utility_template, change, status, code):
    _error(api.post_json("/api/v1/messages", {**ORDER, **change}), status, code)
    _nothing_created()


def test_malformed_json_and_missing_body(api, utility_template):
    _error(api.post("/api/v1/messages", data="{not json", content_type="application/json"), 400, "malformed_json")
    _error(api.post_json("/api/v1/messages", {}), 422, "invalid_request")
    _nothing_created()


def test_template_not_approved_and_language_choice(api, account, utility_template):
    factories.template(
        business_account=account,
        name="order_confirmation",
        language="es",
        category=TemplateCategory.UTILITY,
        status=TemplateStatus.PAUSED,
        components=utility_template.components,
        parameter_format="NAMED",
    )
    _error(api.post_json("/api/v1/messages", {**ORDER, "contact": {"language": "es"}}), 422, "template_not_approved")
    _nothing_created()
    factories.template(
        business_account=account,
        name="order_confirmation",
        language="pt_BR",
        category=TemplateCategory.UTILITY,
        components=utility_template.components,
        parameter_format="NAMED",
    )
    _error(api.post_json("/api/v1/messages", ORDER), 422, "template_language_required")

    response = api.post_json("/api/v1/messages", {**ORDER, "contact": {"language": "pt_BR"}})

    assert response.status_code == 202, response.content
    assert Delivery.objects.get().language == "pt_BR"


def test_suppressed_number_is_refused(api, utility_template):
    ErasedNumber.objects.create(number_hash=phone_number_hash(PHONE))
    _error(api.post_json("/api/v1/messages", ORDER), 422, "phone_number_suppressed")
    _nothing_created()


def test_stopped_account_refuses_sends(api, account, utility_template):
    account.sending_state, account.stop_reason = "stopped", "Meta error 131042 (billing)"
    account.save()
    _error(api.post_json("/api/v1/messages", ORDER), 409, "sending_stopped")
    _nothing_created()


def _consent(phone, kind, scope):
    contact = Contact.objects.get_or_create(phone=phone)[0]
    contact_consent_record(contact=contact, kind=kind, scope=scope, source=ConsentSource.ADMIN)


@pytest.mark.parametrize(
    ("category", "consent", "expected"),
    [
        (TemplateCategory.MARKETING, None, "no_marketing_consent"),
        (TemplateCategory.MARKETING, (ConsentKind.OPT_IN, ConsentScope.MARKETING), None),
        (TemplateCategory.MARKETING, (ConsentKind.OPT_OUT, ConsentScope.MARKETING), "no_marketing_consent"),
        (TemplateCategory.UTILITY, None, None),
        (TemplateCategory.UTILITY, (ConsentKind.OPT_OUT, ConsentScope.MARKETING), None),
        (TemplateCategory.UTILITY, (ConsentKind.OPT_OUT, ConsentScope.ALL), "contact_opted_out"),
        (TemplateCategory.AUTHENTICATION, (ConsentKind.OPT_OUT, ConsentScope.MARKETING), None),
        (TemplateCategory.AUTHENTICATION, (ConsentKind.OPT_OUT, ConsentScope.ALL), "contact_opted_out"),
    ],
)
def test_consent_rules_per_category(api, account, category, consent, expected):
    factories.template(business_account=account, name="message", category=category)
    if consent:
        _consent(PHONE, *consent)
    response = api.post_json("/api/v1/messages", {"to": PHONE, "template": {"name": "message"}, "parameters": ["Ana"]})

    if expected is None:
        assert response.status_code == 202, response.content
        assert Delivery.objects.count() == 1
    else:
        _error(response, 422, expected)
        assert Delivery.objects.count() == 0


def test_marketing_to_us_numbers_is_refused(api, account, marketing_template):
    _consent("+14155550123", ConsentKind.OPT_IN, ConsentScope.MARKETING)
    response = api.post_json(
        "/api/v1/messages", {"to": "+14155550123", "template": {"name": "spring_sale"}, "parameters": ["A", "B"]}
    )
    _error(response, 422, "marketing_not_delivered_to_us_numbers")
    assert Contact.objects.get(phone="+14155550123").marketing_consent == MarketingConsent.OPTED_IN


def test_idempotency_key_replays_the_first_answer_and_queues_once(api, utility_template):
    first = api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="order-A-1")
    second = api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="order-A-1")

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert Delivery.objects.count() == 1
    other = api.post_json("/api/v1/messages", {**ORDER, "to": "+34612345679"}, HTTP_IDEMPOTENCY_KEY="order-A-1")
    _error(other, 422, "idempotency_key_reused")
    assert Delivery.objects.count() == 1


def test_idempotency_key_after_24_hours_is_a_new_request(api, utility_template):
    api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="k")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 202
    assert Delivery.objects.count() == 2
    assert IdempotencyRecord.objects.get().response_body["id"] == response.json()["id"]


def test_failed_request_does_not_burn_the_idempotency_key(api, utility_template):
    _error(
        api.post_json("/api/v1/messages", {**ORDER, "to": "12"}, HTTP_IDEMPOTENCY_KEY="k"), 422, "invalid_phone_number"
    )
    assert not IdempotencyRecord.objects.exists()
    assert api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    _error(api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="x" * 256), 422, "invalid_idempotency_key")


def test_a_repeat_replays_the_first_answer_even_when_the_request_would_now_be_refused(api, utility_template):
    first = api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="order-A-1")
    _consent(PHONE, ConsentKind.OPT_OUT, ConsentScope.ALL)

    again = api.post_json("/api/v1/messages", ORDER, HTTP_IDEMPOTENCY_KEY="order-A-1")
    other = api.post_json("/api/v1/messages", {**ORDER, "to": "12"}, HTTP_IDEMPOTENCY_KEY="order-A-1")

    assert again.status_code == 202
    assert again.json() == first.json()
    _error(other, 422, "idempotency_key_reused")
    assert Delivery.objects.count() == 1
    _error(api.post_json("/api/v1/messages", ORDER), 422, "contact_opted_out")


def _tight_client(account, limit):
    """A client of a new key allowed `limit` requests a minute; `client.send(body, **headers)` POSTs a message."""
    _, plain = api_key_create(name="Tight", business_account=account, rate_limit_per_minute=limit)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    client.send = lambda body, **headers: client.post(
        "/api/v1/messages", data=body, content_type="application/json", **headers
    )
    return client


def test_a_send_past_the_rate_limit_answers_429_and_creates_nothing(account, utility_template):
    client = _tight_client(account, 2)
    assert client.send({**ORDER, "to": "+34612345670"}).status_code == 202
    assert client.get("/api/v1/ping").status_code == 200  # one counter for every request of the key

    limited = client.send(ORDER, HTTP_IDEMPOTENCY_KEY="k")

    _error(limited, 429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert Delivery.objects.count() == 1
    assert not Contact.objects.filter(phone=PHONE).exists()
    assert not IdempotencyRecord.objects.exists()


def test_a_repeat_past_the_rate_limit_is_refused_not_replayed(account, utility_template):
    client = _tight_client(account, 1)
    assert client.send(ORDER, HTTP_IDEMPOTENCY_KEY="k").status_code == 202

    _error(client.send(ORDER, HTTP_IDEMPOTENCY_KEY="k"), 429, "rate_limited")
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize(
    "refused",
    [
        ({**ORDER, "template": {"name": "nope"}}, {}, 422, "unknown_template"),  # refused by the send
        ({**ORDER, "to": 12345}, {}, 422, "invalid_request"),  # refused by the schema, before the send
        (ORDER, {"HTTP_IDEMPOTENCY_KEY": "x" * 256}, 422, "invalid_idempotency_key"),  # refused by the view
    ],
)
def test_refused_sends_and_replays_count_against_the_rate_limit(account, utility_template, refused):
    body, headers, status, code = refused
    client = _tight_client(account, 3)
    _error(client.send(body, **headers), status, code)
    assert client.send(ORDER, HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert client.send(ORDER, HTTP_IDEMPOTENCY_KEY="k").status_code == 202  # a replay

    _error(client.send({**ORDER, "to": "+34612345670"}), 429, "rate_limited")
    assert Delivery.objects.count() == 1


def test_template_changes_reach_sends_through_the_per_process_cache(api, utility_template, monkeypatch):
    order = {**ORDER, "template": {"name": "order_confirmation", "language": "en_US"}}
    assert api.post_json("/api/v1/messages", order).status_code == 202
    utility_template.status = TemplateStatus.PAUSED
    utility_template.save()  # a change in this process clears the cache at once
    _error(api.post_json("/api/v1/messages", order), 422, "template_not_approved")

    utility_template.status = TemplateStatus.APPROVED
    utility_template.save()
    assert api.post_json("/api/v1/messages", order).status_code == 202
    # Another process's change (an UPDATE, no signal here) is read once the entry is older than the TTL.
    MessageTemplate.objects.filter(pk=utility_template.pk).update(status=TemplateStatus.DISABLED)
    monkeypatch.setattr(lookups, "TTL_SECONDS", 0.0)
    _error(api.post_json("/api/v1/messages", order), 422, "template_not_approved")
    assert Delivery.objects.count() == 2
