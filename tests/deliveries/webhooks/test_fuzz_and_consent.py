"""Fuzzed payload shapes never give a 500; keywords and Meta preferences record the right consent."""

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import ConsentSource, MarketingConsent
from contacts.services import contact_consent_record
from deliveries.models import InboundMessage, WebhookEvent, WebhookProcessingState
from deliveries.webhooks.consent import consent_keyword_intent
from tests import factories
from tests.deliveries.webhooks.conftest import inbound_payload

pytestmark = pytest.mark.django_db

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
statuses = st.fixed_dictionaries(
    {"id": st.text(max_size=10) | st.integers(), "status": st.sampled_from(["sent", "read", "failed", "x"]) | scalars},
    optional={"timestamp": st.integers(0, 2**33).map(str) | scalars, "errors": json_values, "pricing": json_values,
              "biz_opaque_callback_data": st.integers(0, 10**20).map(str) | scalars, "recipient_id": scalars},
)  # fmt: skip
values = st.fixed_dictionaries(
    {"metadata": st.just({"phone_number_id": "1122334455667"}) | json_values},
    optional={"statuses": st.lists(statuses, max_size=3) | json_values, "messages": st.lists(json_values, max_size=2),
              "contacts": json_values, "user_preferences": json_values, "event": scalars},
)  # fmt: skip
payloads = st.fixed_dictionaries(
    {
        "object": st.just("whatsapp_business_account"),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.just("5467539754836534") | scalars,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": st.sampled_from(
                                    ["messages", "user_preferences", "message_template_status_update",
                                     "account_update", "phone_number_quality_update", "other"]
                                ) | scalars,
                                "value": values | json_values,
                            }
                        ),
                        max_size=2,
                    ) | json_values,
                }
            ),
            max_size=2,
        ) | json_values,
    }
) | json_values  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_a_signed_json_body_never_yields_a_500_and_failures_are_stored(post_webhook, sender, payload):
    before = WebhookEvent.objects.count()
    response = post_webhook(payload)
    assert response.status_code == 200
    event = WebhookEvent.objects.order_by("-id").first()
    assert WebhookEvent.objects.count() == before + 1
    assert event.attempts == 1
    if event.state == WebhookProcessingState.FAILED:
        assert event.processing_error
    else:
        assert event.state in (WebhookProcessingState.PROCESSED, WebhookProcessingState.UNROUTED)
        assert event.processing_error == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", ("opt_out", "marketing")),
        ("  stop!! ", ("opt_out", "marketing")),
        ("Stop Promotions", ("opt_out", "marketing")),
        ("Désabonner", ("opt_out", "marketing")),
        ("darse de BAJA", ("opt_out", "marketing")),
        ("إلغاء الاشتراك", ("opt_out", "marketing")),
        ("stop all", ("opt_out", "all")),
        ("Start", ("opt_in", "marketing")),
        ("CANCEL", None),
        ("quit", None),
        ("end", None),
        ("please stop sending me this", None),
    ],
)
def test_keywords_are_whole_message_case_and_accent_insensitive(text, expected):
    intent = consent_keyword_intent(text)
    assert (None if intent is None else (intent.kind, intent.scope)) == expected


def test_a_keyword_reply_opts_out_and_cancel_does_not(post_webhook, sender):
    contact = factories.contact(phone="+34611111111")
    contact_consent_record(
        contact=contact, kind="opt_in", scope="marketing", source="import", occurred_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    message = {"from": "34611111111", "timestamp": "1767225600", "type": "text"}
    post_webhook(inbound_payload({**message, "id": "wamid.c1", "text": {"body": "Cancel"}}))
    contact.refresh_from_db()
    assert contact.marketing_consent == MarketingConsent.OPTED_IN
    for _ in range(2):  # a retried webhook records nothing twice
        post_webhook(inbound_payload({**message, "id": "wamid.c2", "text": {"body": "Stop."}}))
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_source) == (
        MarketingConsent.OPTED_OUT,
        ConsentSource.KEYWORD,
    )
    assert (contact.consent_events.count(), InboundMessage.objects.count()) == (2, 2)


def test_meta_resume_never_undoes_an_opt_out_made_elsewhere(post_webhook, sender):
    contact = factories.contact(phone="+16505551234")
    moments = [("opt_in", "import", 1_700_000_000), ("opt_out", "keyword", 1_700_000_100)]
    for kind, source, when in moments:
        contact_consent_record(
            contact=contact, kind=kind, scope="marketing", source=source, occurred_at=datetime.fromtimestamp(when, UTC)
        )
    payload = inbound_payload()
    payload["entry"][0]["changes"][0]["value"].pop("messages")
    payload["entry"][0]["changes"][0]["value"]["user_preferences"] = [
        {"wa_id": "16505551234", "category": "marketing_messages", "value": "resume", "timestamp": 1_700_000_200}
    ]
    assert post_webhook(payload).status_code == 200
    contact.refresh_from_db()
    assert (contact.marketing_consent, contact.marketing_consent_source) == (
        MarketingConsent.OPTED_OUT,
        ConsentSource.KEYWORD,
    )
