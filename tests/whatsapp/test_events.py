"""Webhook parsing over every sample payload and the v24+/2026 shapes built from the reference."""

import copy
import dataclasses
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wacampaigns.whatsapp.errors import ContactFlag, ErrorClass, classify_graph_error, graph_error_object
from wacampaigns.whatsapp.events import (
    AccountUpdateEvent,
    BusinessCapabilityEvent,
    Conversation,
    DeliveryStatus,
    InboundMessageEvent,
    MarketingPreference,
    MessageStatusEvent,
    PhoneNumberQualityEvent,
    Pricing,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
    UnknownEvent,
    UserPreferenceEvent,
    WebhookErrorsEvent,
    WebhookPayloadError,
    parse_webhook,
    parse_webhook_body,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
REFERENCE_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "whatsapp-samples"


def _at(unix):
    return datetime.fromtimestamp(unix, tz=UTC)


def _load(name):
    return json.loads((FIXTURES / name).read_text())


def _error(code, error_class, details, contact_flag=None, title=None):
    return {"code": code, "error_class": error_class, "details": details, "contact_flag": contact_flag, "title": title}


def _summary(event):
    """Every normalized field of an event; classified errors reduced to what callers read."""
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "raw"}
    if "errors" in fields:
        fields["errors"] = [
            {
                "code": error.code,
                "error_class": error.error_class,
                "details": error.details,
                "contact_flag": error.contact_flag,
                "title": error.title,
            }
            for error in fields["errors"]
        ]
    return {"kind": type(event).__name__, **fields}


def _status(**fields):
    base = {
        "kind": "MessageStatusEvent",
        "recipient_user_id": None,
        "recipient_parent_user_id": None,
        "biz_opaque_callback_data": None,
        "errors": [],
        "pricing": None,
        "conversation": None,
    }
    return {**base, **fields}


def _inbound(**fields):
    base = {
        "kind": "InboundMessageEvent",
        "from_user_id": None,
        "from_parent_user_id": None,
        "username": None,
        "text": None,
        "button_payload": None,
        "button_text": None,
        "interactive_type": None,
        "interactive_reply_id": None,
        "interactive_reply_title": None,
        "context_wamid": None,
        "context_from": None,
        "errors": [],
    }
    return {**base, **fields}


PYWA_CONTACT = {
    "recipient_user_id": "US.13491208655302741918",
    "recipient_parent_user_id": "US.ENT.11815799212886844830",
}
PYWA_SENDER = {"from_user_id": "US.13491208655302741918", "from_parent_user_id": "US.ENT.11815799212886844830"}
PYWA_NUMBER = {
    "waba_id": "5467539754836534",
    "phone_number_id": "1122334455667",
    "display_phone_number": "972123456789",
}
JAVA_NUMBER = {
    "waba_id": "880480571844883",
    "phone_number_id": "409552778964973",
    "display_phone_number": "43330585569",
}
OAS_NUMBER = {"waba_id": "419561257915477", "phone_number_id": "106540352242922", "display_phone_number": "15550783881"}
CBP_SERVICE = {
    "pricing": Pricing(billable=True, pricing_model="CBP", category="service", type=None),
    "conversation": Conversation(
        id="7270432eae37498234f4444b35ffc5", origin_type="service", expires_at=_at(1698339900)
    ),
}

WEBHOOK_EXPECTATIONS = {
    "webhook_status_sent_cbp_service_pricing.json": [
        _status(
            **PYWA_NUMBER,
            **PYWA_CONTACT,
            **CBP_SERVICE,
            wamid="wamid.xyzxyz",
            status=DeliveryStatus.SENT,
            raw_status="sent",
            timestamp=_at(1698266945),
            recipient_id="972987654321",
        )
    ],
    "webhook_status_sent_with_biz_opaque_callback_data.json": [
        _status(
            **PYWA_NUMBER,
            **PYWA_CONTACT,
            **CBP_SERVICE,
            wamid="wamid.xyzxyz",
            status=DeliveryStatus.SENT,
            raw_status="sent",
            timestamp=_at(1698266945),
            recipient_id="972987654321",
            biz_opaque_callback_data="some data",
        )
    ],
    "webhook_status_failed_130472_experiment.json": [
        _status(
            **PYWA_NUMBER,
            **PYWA_CONTACT,
            wamid="wamid.xyzxyz",
            status=DeliveryStatus.FAILED,
            raw_status="failed",
            timestamp=_at(1689380458),
            recipient_id="972987654321",
            errors=[
                _error(
                    130472,
                    ErrorClass.RECIPIENT,
                    "Failed to send message because this user's phone number is part of an experiment",
                    title="User's number is part of an experiment",
                )
            ],
        )
    ],
    "webhook_status_failed_131047_reengagement.json": [
        _status(
            waba_id="111111111111111",
            phone_number_id="109999999999999",
            display_phone_number="101010101010",
            wamid="wamid.HBgNN5NzAzMDkTUyNzkzNhUEjA1MjUwNCAUIyNEYUQ0OTVGNTY0MwA=",
            status=DeliveryStatus.FAILED,
            raw_status="failed",
            timestamp=_at(1682651887),
            recipient_id="5511111111111",
            errors=[
                _error(
                    131047,
                    ErrorClass.RECIPIENT,
                    "Message failed to send because more than 24 hours have passed since the customer last replied "
                    "to this number.",
                    title="Re-engagement message",
                )
            ],
        )
    ],
    "webhook_status_failed_131053_media_upload_error.json": [
        _status(
            **JAVA_NUMBER,
            wamid="wamid.HBgNNTUyNzk5NzAUZBQTI3MzRGRDA3MjgzMDkzNhUCABEYEjNCR2OQA=",
            status=DeliveryStatus.FAILED,
            raw_status="failed",
            timestamp=_at(1677783372),
            recipient_id="1111111111111",
            errors=[
                _error(
                    131053,
                    ErrorClass.RECIPIENT,
                    "Unsupported Video mime type text/html. Please use one of video/3gpp, video/mp4.",
                    title="Media upload error",
                )
            ],
        )
    ],
    "webhook_status_delivered_cbp_business_initiated.json": [
        _status(
            **JAVA_NUMBER,
            wamid="wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
            status=DeliveryStatus.DELIVERED,
            raw_status="delivered",
            timestamp=_at(1673020317),
            recipient_id="1111111111111",
            pricing=Pricing(billable=True, pricing_model="CBP", category="business_initiated", type=None),
            conversation=Conversation(
                id="8eb644d2350611f3746e7f0985bddfc1", origin_type="business_initiated", expires_at=None
            ),
        )
    ],
    "webhook_inbound_interactive_button_reply.json": [
        _inbound(
            **PYWA_NUMBER,
            **PYWA_SENDER,
            wamid="wamid.xyzxyz",
            type="interactive",
            timestamp=_at(1698266730),
            from_phone="972987654321",
            profile_name="Test Name",
            interactive_type="button_reply",
            interactive_reply_id="callback_data",
            interactive_reply_title="title",
            context_wamid="wamid.xyzxyz",
            context_from="1122334455667",
        )
    ],
    "webhook_inbound_interactive_list_reply.json": [
        _inbound(
            **{**PYWA_NUMBER, "waba_id": "1234567890987654321"},
            **PYWA_SENDER,
            wamid="wamid.zyzxyz",
            type="interactive",
            timestamp=_at(1698266905),
            from_phone="972987654321",
            profile_name="Test Name",
            interactive_type="list_reply",
            interactive_reply_id="callback_data",
            interactive_reply_title="title",
            context_wamid="wamid.xyzxyz",
            context_from="1122334455667",
        )
    ],
    "webhook_inbound_text_reply_with_context.json": [
        _inbound(
            **{**PYWA_NUMBER, "waba_id": "1234567890987654321"},
            **PYWA_SENDER,
            wamid="wamid.xyzxyz",
            type="text",
            timestamp=_at(1697044746),
            from_phone="972987654321",
            profile_name="Test Name",
            text="replied text",
            context_wamid="wamid.xyzxyz==",
            context_from="972123456789",
        )
    ],
    "webhook_inbound_quick_reply_unsubscribe_official.json": [
        _inbound(
            **OAS_NUMBER,
            wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
            type="button",
            timestamp=_at(1750091045),
            from_phone="16505551234",
            profile_name="Sheena Nelson",
            button_payload="Unsubscribe",
            button_text="Unsubscribe",
            context_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
            context_from="15550783881",
        )
    ],
    "webhook_inbound_unsupported_131051_official.json": [
        _inbound(
            **OAS_NUMBER,
            wamid="wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
            type="unsupported",
            timestamp=_at(1750090702),
            from_phone="16505551234",
            profile_name="Sheena Nelson",
            errors=[
                _error(
                    131051,
                    ErrorClass.RECIPIENT,
                    "Message type is currently not supported.",
                    title="Message type unknown",
                )
            ],
        )
    ],
    "webhook_user_preferences_resume_marketing.json": [
        {
            "kind": "UserPreferenceEvent",
            **{**OAS_NUMBER, "waba_id": "102290129340398"},
            "wa_id": "16505551234",
            "user_id": None,
            "category": "marketing_messages",
            "preference": MarketingPreference.RESUME,
            "raw_value": "resume",
            "detail": "User requested to resume marketing messages",
            "timestamp": _at(1731705721),
        }
    ],
    "webhook_template_status_update_approved.json": [
        {
            "kind": "TemplateStatusEvent",
            "waba_id": "102290129340398",
            "occurred_at": _at(1751247548),
            "event": "APPROVED",
            "template_id": "1689556908129832",
            "template_name": "order_confirmation",
            "language": "en_US",
            "category": "UTILITY",
            "reason": "NONE",
            "other_info_title": None,
            "other_info_description": None,
            "rejection_reason": None,
            "rejection_recommendation": None,
        }
    ],
    "webhook_template_status_update_rejected_invalid_format.json": [
        {
            "kind": "TemplateStatusEvent",
            "waba_id": "102290129340398",
            "occurred_at": _at(1751247548),
            "event": "REJECTED",
            "template_id": "1689556908129835",
            "template_name": "abandoned_cart",
            "language": "en",
            "category": "MARKETING",
            "reason": "INVALID_FORMAT",
            "other_info_title": None,
            "other_info_description": None,
            "rejection_reason": "Your template has parameters placed next to each other (like {{1}}{{2}}) without "
            "text or punctuation between them.",
            "rejection_recommendation": "Separate parameters with descriptive text and ensure each parameter is "
            "clearly contextualized.",
        }
    ],
    "webhook_template_quality_update_green_to_yellow.json": [
        {
            "kind": "TemplateQualityEvent",
            "waba_id": "102290129340398",
            "occurred_at": _at(1674864290),
            "template_id": "806312974732579",
            "template_name": "welcome_template",
            "language": "en_US",
            "previous_quality_score": "GREEN",
            "new_quality_score": "YELLOW",
        }
    ],
    "webhook_template_category_update_marketing.json": [
        {
            "kind": "TemplateCategoryEvent",
            "waba_id": "57438975935",
            "occurred_at": _at(1750344882),
            "template_id": "12345678",
            "template_name": "my_message_template",
            "language": "he",
            "previous_category": None,
            "new_category": "MARKETING",
            "correct_category": None,
        }
    ],
    "webhook_phone_number_quality_update_flagged.json": [
        {
            "kind": "PhoneNumberQualityEvent",
            "waba_id": "waba-id",
            "occurred_at": _at(1608243062),
            "display_phone_number": "16505551111",
            "event": "FLAGGED",
            "current_limit": "TIER_10K",
        }
    ],
    "webhook_account_update_restriction.json": [
        {
            "kind": "AccountUpdateEvent",
            "waba_id": "102290129340398",
            "occurred_at": _at(1641330498),
            "event": "ACCOUNT_RESTRICTION",
        }
    ],
    "v24_status_batch_bsuid_username.json": [
        _status(
            waba_id="102290129340398",
            phone_number_id="106540352242922",
            display_phone_number="15550783881",
            wamid="wamid.v24-sent",
            status=DeliveryStatus.SENT,
            raw_status="sent",
            timestamp=_at(1767225600),
            recipient_id=None,
            recipient_user_id="US.13491208655302741918",
            recipient_parent_user_id="US.ENT.11815799212886844830",
            biz_opaque_callback_data="1001",
            pricing=Pricing(billable=True, pricing_model="PMP", category="marketing", type="regular"),
        ),
        _status(
            waba_id="102290129340398",
            phone_number_id="106540352242922",
            display_phone_number="15550783881",
            wamid="wamid.v24-read",
            status=DeliveryStatus.READ,
            raw_status="read",
            timestamp=_at(1767225660),
            recipient_id="16505551234",
            recipient_user_id="US.99",
            biz_opaque_callback_data="1002",
            pricing=Pricing(billable=None, pricing_model="PMP", category="utility", type="free_customer_service"),
        ),
        _status(
            waba_id="102290129340398",
            phone_number_id="106540352242922",
            display_phone_number="15550783881",
            wamid="wamid.v24-failed",
            status=DeliveryStatus.FAILED,
            raw_status="failed",
            timestamp=_at(1767225720),
            recipient_id="16505559999",
            biz_opaque_callback_data="1003",
            errors=[
                _error(
                    131050,
                    ErrorClass.RECIPIENT,
                    "User opted out of marketing.",
                    ContactFlag.STOPPED_MARKETING,
                    title="Unable to deliver the message. This recipient has chosen to stop receiving marketing "
                    "messages on WhatsApp from your business.",
                )
            ],
        ),
        _status(
            waba_id="202290129340399",
            phone_number_id="206540352242922",
            display_phone_number="15550000002",
            wamid="wamid.other-waba",
            status=DeliveryStatus.DELIVERED,
            raw_status="delivered",
            timestamp=_at(1767225780),
            recipient_id="4915112345678",
        ),
        _status(
            waba_id="202290129340399",
            phone_number_id="206540352242922",
            display_phone_number="15550000002",
            wamid="wamid.future-status",
            status=DeliveryStatus.UNKNOWN,
            raw_status="deleted_by_sender",
            timestamp=_at(1767225790),
            recipient_id="4915112345678",
        ),
        _inbound(
            waba_id="202290129340399",
            phone_number_id="206540352242922",
            display_phone_number="15550000002",
            wamid="wamid.inbound-stop",
            type="text",
            timestamp=_at(1767225800),
            from_phone=None,
            from_user_id="DE.555",
            from_parent_user_id="DE.ENT.7",
            profile_name="Ben",
            username="ben",
            text="STOP",
        ),
    ],
    "v24_user_preferences_stop_and_template_paused.json": [
        {
            "kind": "UserPreferenceEvent",
            "waba_id": "102290129340398",
            "phone_number_id": "106540352242922",
            "display_phone_number": "15550783881",
            "wa_id": "16505551234",
            "user_id": "US.1349",
            "category": "marketing_messages",
            "preference": MarketingPreference.STOP,
            "raw_value": "stop",
            "detail": "User requested to stop marketing messages",
            "timestamp": _at(1767225600),
        },
        {
            "kind": "TemplateStatusEvent",
            "waba_id": "102290129340398",
            "occurred_at": _at(1767225700),
            "event": "PAUSED",
            "template_id": "1689556908129832",
            "template_name": "spring_sale",
            "language": "en_US",
            "category": None,
            "reason": None,
            "other_info_title": "FIRST_PAUSE",
            "other_info_description": "Your template has been paused for 3 hours due to low quality.",
            "rejection_reason": None,
            "rejection_recommendation": None,
        },
        {
            "kind": "BusinessCapabilityEvent",
            "waba_id": "102290129340398",
            "occurred_at": _at(1767225700),
            "max_daily_conversations": 2000,
        },
        {
            "kind": "UnknownEvent",
            "waba_id": "102290129340398",
            "field_name": "some_field_meta_adds_next_year",
            "occurred_at": _at(1767225700),
        },
    ],
}

ERROR_EXPECTATIONS = {
    "error_100_graphmethodexception_object_not_found.json": (100, ErrorClass.RECIPIENT),
    "error_190_invalid_oauth_token_official.json": (190, ErrorClass.ACCOUNT),
    "error_4_application_request_limit_official.json": (4, ErrorClass.RETRYABLE),
}

# Request and response samples are not webhooks: the test that reads each one.
CHECKED_ELSEWHERE = {
    "send_template_request_body_params_and_quick_reply_payload.json": "test_openapi.test_meta_sample_requests",
    "send_template_request_image_header_date_time.json": "test_openapi.test_meta_sample_requests",
    "send_template_request_media_header_currency_datetime_official.json": "test_openapi.test_meta_sample_requests",
    "send_message_success_response_official.json": "test_client.test_send_template_exact_request_and_result",
    "media_upload_response.json": "test_client.test_upload_media_is_multipart_with_messaging_product",
    "template_list_response_with_previous_category.json": "test_client.test_list_templates_follows_paging_next",
    "template_list_response_stop_promotions_official.json": "test_client.test_list_templates_follows_paging_next",
}

FIXTURE_FILES = sorted(path.name for path in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("file_name", FIXTURE_FILES)
def test_every_fixture_file_is_routed_and_checked(file_name):
    payload = _load(file_name)

    if file_name in WEBHOOK_EXPECTATIONS:
        events = parse_webhook(payload)
        assert [_summary(event) for event in events] == WEBHOOK_EXPECTATIONS[file_name]
        assert all(event.raw is not None for event in events)
    elif file_name in ERROR_EXPECTATIONS:
        error = classify_graph_error(graph_error_object(payload))
        assert (error.code, error.error_class) == ERROR_EXPECTATIONS[file_name]
    else:
        assert file_name in CHECKED_ELSEWHERE, f"{file_name} is routed to no parser and no test"


@pytest.mark.skipif(not REFERENCE_SAMPLES.is_dir(), reason="the shared reference folder is not beside the checkout")
def test_every_reference_sample_is_in_the_fixtures():
    reference = {path.name for path in REFERENCE_SAMPLES.glob("*.json")}

    assert reference - set(FIXTURE_FILES) == set()


def test_webhook_raw_dicts_are_kept():
    payload = _load("v24_status_batch_bsuid_username.json")

    events = parse_webhook(payload)

    assert events[1].raw["a_field_from_the_future"] == {"x": 1}
    assert events[-1].raw["text"] == {"body": "STOP"}


def test_unknown_status_and_field_are_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="wacampaigns.whatsapp.events.parsing"):
        parse_webhook(_load("v24_status_batch_bsuid_username.json"))
        parse_webhook(_load("v24_user_preferences_stop_and_template_paused.json"))

    assert "deleted_by_sender" in caplog.text
    assert "some_field_meta_adds_next_year" in caplog.text


def test_business_capability_v23_field_name():
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {"field": "business_capability_update", "value": {"max_daily_conversation_per_phone": 1000}}
                ],
            }
        ],
    }

    [event] = parse_webhook(payload)

    assert isinstance(event, BusinessCapabilityEvent)
    assert event.max_daily_conversations == 1000
    assert event.occurred_at is None


def test_value_level_errors_become_an_errors_event():
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"phone_number_id": "9"},
                            "errors": [{"code": 131042, "title": "Business eligibility payment issue"}],
                        },
                    }
                ],
            }
        ],
    }

    [event] = parse_webhook(payload)

    assert isinstance(event, WebhookErrorsEvent)
    assert event.phone_number_id == "9"
    assert [(error.code, error.error_class) for error in event.errors] == [(131042, ErrorClass.ACCOUNT)]


def test_messages_value_with_no_known_list_is_kept_as_unknown():
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"message_echoes": [{"id": "x"}]}}]}],
    }

    [event] = parse_webhook(payload)

    assert isinstance(event, UnknownEvent)
    assert event.field_name == "messages"
    assert event.raw == {"message_echoes": [{"id": "x"}]}


def test_unknown_message_type_is_kept():
    payload = _load("webhook_inbound_text_reply_with_context.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "hologram"
    message["hologram"] = {"id": "h1"}
    del message["text"]

    [event] = parse_webhook(payload)

    assert isinstance(event, InboundMessageEvent)
    assert event.type == "hologram"
    assert event.text is None
    assert event.raw["hologram"] == {"id": "h1"}


def test_parse_webhook_body_decodes_raw_bytes():
    body = (FIXTURES / "webhook_account_update_restriction.json").read_bytes()

    [event] = parse_webhook_body(body)

    assert isinstance(event, AccountUpdateEvent)
    assert event.raw["restriction_info"][0]["restriction_type"] == "RESTRICTED_BIZ_INITIATED_MESSAGING"


def test_empty_entry_list_gives_no_events():
    assert parse_webhook({"object": "whatsapp_business_account", "entry": []}) == []


def test_events_are_frozen():
    [event] = parse_webhook(_load("webhook_account_update_restriction.json"))

    with pytest.raises(dataclasses.FrozenInstanceError):
        event.event = "OTHER"
    assert event.event == "ACCOUNT_RESTRICTION"


def _status_payload():
    return _load("webhook_status_sent_with_biz_opaque_callback_data.json")


def _mutate(path, value):
    payload = _status_payload()
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


_DELETE = object()
_STATUS = ("entry", 0, "changes", 0, "value", "statuses", 0)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("entry",), {"not": "a list"}),
        (("entry", 0), "not an object"),
        (("entry", 0, "id"), _DELETE),
        (("entry", 0, "changes"), "nope"),
        (("entry", 0, "changes", 0, "field"), 7.5),
        (("entry", 0, "changes", 0, "value"), ["not", "an", "object"]),
        (("entry", 0, "changes", 0, "value", "metadata"), "nope"),
        (("entry", 0, "changes", 0, "value", "contacts"), {"wa_id": "1"}),
        (("entry", 0, "changes", 0, "value", "statuses"), "nope"),
        ((*_STATUS, "id"), _DELETE),
        ((*_STATUS, "id"), ["wamid"]),
        ((*_STATUS, "status"), None),
        ((*_STATUS, "timestamp"), "yesterday"),
        ((*_STATUS, "timestamp"), _DELETE),
        ((*_STATUS, "timestamp"), 10**20),
        ((*_STATUS, "errors"), [42]),
        ((*_STATUS, "errors"), {"code": 1}),
        ((*_STATUS, "pricing"), "free"),
        ((*_STATUS, "pricing", "billable"), "yes"),
        ((*_STATUS, "conversation", "origin"), "service"),
        ((*_STATUS, "biz_opaque_callback_data"), {"id": 1}),
    ],
)
def test_malformed_payloads_raise_one_typed_error(path, value):
    with pytest.raises(WebhookPayloadError):
        parse_webhook(_mutate(path, value))


@pytest.mark.parametrize("payload", [None, [], "text", 3])
def test_non_object_payloads_raise_one_typed_error(payload):
    with pytest.raises(WebhookPayloadError):
        parse_webhook(payload)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b""])
def test_invalid_json_raises_one_typed_error(body):
    with pytest.raises(WebhookPayloadError):
        parse_webhook_body(body)


def test_malformed_template_and_preference_changes_raise_one_typed_error():
    template = _load("webhook_template_status_update_approved.json")
    del template["entry"][0]["changes"][0]["value"]["message_template_id"]
    preference = _load("webhook_user_preferences_resume_marketing.json")
    preference["entry"][0]["changes"][0]["value"]["user_preferences"][0]["value"] = None
    inbound = _load("webhook_inbound_interactive_button_reply.json")
    inbound["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["button_reply"] = "x"

    for payload in (template, preference, inbound):
        with pytest.raises(WebhookPayloadError):
            parse_webhook(copy.deepcopy(payload))


def test_unknown_preference_value_is_kept():
    payload = _load("webhook_user_preferences_resume_marketing.json")
    payload["entry"][0]["changes"][0]["value"]["user_preferences"][0]["value"] = "snooze"

    [event] = parse_webhook(payload)

    assert isinstance(event, UserPreferenceEvent)
    assert event.preference == MarketingPreference.UNKNOWN
    assert event.raw_value == "snooze"


def test_every_kind_appears_in_the_fixtures():
    kinds = {expected["kind"] for events in WEBHOOK_EXPECTATIONS.values() for expected in events}

    assert kinds == {
        kind.__name__
        for kind in (
            MessageStatusEvent,
            InboundMessageEvent,
            UserPreferenceEvent,
            TemplateStatusEvent,
            TemplateQualityEvent,
            TemplateCategoryEvent,
            PhoneNumberQualityEvent,
            AccountUpdateEvent,
            BusinessCapabilityEvent,
            UnknownEvent,
        )
    }
