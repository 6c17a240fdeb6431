"""Classification of Graph errors by Meta's `code` (reference/cloud-api.md §3)."""

import json
import logging
from pathlib import Path

import pytest

from wacampaigns.whatsapp.errors import (
    AccountError,
    ContactFlag,
    ErrorClass,
    GraphApiError,
    MarketingLimitError,
    PairRateLimitError,
    RecipientError,
    RecipientStoppedMarketingError,
    RecipientUndeliverableError,
    RetryableError,
    TemplateError,
    ThroughputLimitError,
    UnknownErrorCodeError,
    classify_graph_error,
    graph_error_object,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"


def _error(code, **extra):
    return {"message": f"(#{code}) title", "type": "OAuthException", "code": code, "fbtrace_id": "trace", **extra}


@pytest.mark.parametrize(
    ("code", "error_type", "error_class"),
    [
        (130429, ThroughputLimitError, ErrorClass.RETRYABLE),
        (131056, PairRateLimitError, ErrorClass.RETRYABLE),
        (131049, MarketingLimitError, ErrorClass.RETRYABLE),
        (131000, RetryableError, ErrorClass.RETRYABLE),
        (131016, RetryableError, ErrorClass.RETRYABLE),
        (131057, RetryableError, ErrorClass.RETRYABLE),
        (133004, RetryableError, ErrorClass.RETRYABLE),
        (2, RetryableError, ErrorClass.RETRYABLE),
        (4, RetryableError, ErrorClass.RETRYABLE),
        (80007, RetryableError, ErrorClass.RETRYABLE),
        (100, RecipientError, ErrorClass.RECIPIENT),
        (131008, RecipientError, ErrorClass.RECIPIENT),
        (131009, RecipientError, ErrorClass.RECIPIENT),
        (132000, RecipientError, ErrorClass.RECIPIENT),
        (132012, RecipientError, ErrorClass.RECIPIENT),
        (131051, RecipientError, ErrorClass.RECIPIENT),
        (131052, RecipientError, ErrorClass.RECIPIENT),
        (131053, RecipientError, ErrorClass.RECIPIENT),
        (131047, RecipientError, ErrorClass.RECIPIENT),
        (130472, RecipientError, ErrorClass.RECIPIENT),
        (131026, RecipientUndeliverableError, ErrorClass.RECIPIENT),
        (131050, RecipientStoppedMarketingError, ErrorClass.RECIPIENT),
        (132001, TemplateError, ErrorClass.TEMPLATE),
        (132007, TemplateError, ErrorClass.TEMPLATE),
        (132015, TemplateError, ErrorClass.TEMPLATE),
        (132016, TemplateError, ErrorClass.TEMPLATE),
        (0, AccountError, ErrorClass.ACCOUNT),
        (10, AccountError, ErrorClass.ACCOUNT),
        (190, AccountError, ErrorClass.ACCOUNT),
        (200, AccountError, ErrorClass.ACCOUNT),
        (250, AccountError, ErrorClass.ACCOUNT),
        (299, AccountError, ErrorClass.ACCOUNT),
        (368, AccountError, ErrorClass.ACCOUNT),
        (131031, AccountError, ErrorClass.ACCOUNT),
        (131042, AccountError, ErrorClass.ACCOUNT),
    ],
)
def test_code_table(code, error_type, error_class):
    error = classify_graph_error(_error(code))

    assert type(error) is error_type
    assert error.error_class == error_class
    assert error.code == code
    assert error.may_have_been_sent is False


def test_error_class_values_match_the_delivery_model():
    from deliveries.models import ErrorClass as DeliveryErrorClass

    assert {member.value for member in ErrorClass} == set(DeliveryErrorClass.values)


def test_contact_flags():
    assert classify_graph_error(_error(131026)).contact_flag == ContactFlag.UNDELIVERABLE
    assert classify_graph_error(_error(131050)).contact_flag == ContactFlag.STOPPED_MARKETING
    assert classify_graph_error(_error(131047)).contact_flag is None


def test_retry_suggestions():
    throughput = classify_graph_error(_error(130429))
    pair_rate = classify_graph_error(_error(131056))
    marketing = classify_graph_error(_error(131049))
    maintenance = classify_graph_error(_error(131057))

    assert throughput.slows_sender is True
    assert throughput.retry_after_seconds == 1.0
    assert [pair_rate.backoff_seconds(attempt) for attempt in (1, 2, 3)] == [4.0, 16.0, 64.0]
    assert marketing.retry_after_seconds >= 24 * 3600
    assert marketing.backoff_seconds(5) == 24 * 3600
    assert maintenance.retry_after_seconds == 60.0
    assert maintenance.backoff_seconds(2) == 120.0
    assert classify_graph_error(_error(131047)).backoff_seconds(1) is None
    assert classify_graph_error(_error(132001)).retry_after_seconds is None


def test_only_throughput_slows_the_sender():
    assert not getattr(classify_graph_error(_error(131056)), "slows_sender", False)
    assert not getattr(classify_graph_error(_error(4)), "slows_sender", False)


def test_unknown_code_is_permanent_for_the_recipient_and_logged(caplog):
    raw = _error(999999, error_data={"details": "Something new"})

    with caplog.at_level(logging.WARNING, logger="wacampaigns.whatsapp.errors"):
        error = classify_graph_error(raw)

    assert type(error) is UnknownErrorCodeError
    assert isinstance(error, RecipientError)
    assert error.error_class == ErrorClass.RECIPIENT
    assert "999999" in caplog.text
    assert "Something new" in caplog.text


def test_classification_ignores_http_status_and_message_text():
    error = classify_graph_error(
        {"message": "(#130429) Rate limit hit", "code": 131026, "type": "OAuthException"}, http_status=429
    )

    assert type(error) is RecipientUndeliverableError
    assert error.http_status == 429


def test_http_error_body_fields():
    body = {
        "error": {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Cloud API message throughput has been reached.",
            },
            "error_subcode": 2494055,
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        }
    }

    error = classify_graph_error(graph_error_object(body), http_status=400)

    assert error.code == 130429
    assert error.subcode == 2494055
    assert error.title == "(#130429) Rate limit hit"
    assert error.message == "(#130429) Rate limit hit"
    assert error.details == "Cloud API message throughput has been reached."
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.raw == body["error"]
    assert error.is_transient is None
    assert str(error) == "(130429) (#130429) Rate limit hit: Cloud API message throughput has been reached."


def test_webhook_error_object_fields():
    raw = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "More than 24 hours have passed."},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }

    error = classify_graph_error(raw)

    assert error.code == 131047
    assert error.subcode is None
    assert error.title == "Re-engagement message"
    assert error.details == "More than 24 hours have passed."
    assert error.fbtrace_id is None
    assert error.http_status is None
    assert error.raw == raw


@pytest.mark.parametrize(
    ("file_name", "error_type", "code", "subcode", "is_transient"),
    [
        ("error_100_graphmethodexception_object_not_found.json", RecipientError, 100, 33, None),
        ("error_190_invalid_oauth_token_official.json", AccountError, 190, 463, None),
        ("error_4_application_request_limit_official.json", RetryableError, 4, 2446079, True),
    ],
)
def test_sample_error_bodies(file_name, error_type, code, subcode, is_transient):
    body = json.loads((FIXTURES / file_name).read_text())

    error = classify_graph_error(graph_error_object(body))

    assert type(error) is error_type
    assert error.code == code
    assert error.subcode == subcode
    assert error.fbtrace_id == body["error"]["fbtrace_id"]
    assert error.message == body["error"]["message"]
    assert error.details == ""
    assert error.is_transient is is_transient


@pytest.mark.parametrize(
    "body",
    [None, [], "text", {}, {"error": "boom"}, {"error": {"message": "no code"}}, {"error": {"code": "abc"}}],
)
def test_bodies_without_a_graph_code_are_not_graph_errors(body):
    assert graph_error_object(body) is None


def test_string_code_is_read_as_a_number():
    assert type(classify_graph_error({"code": "131050"})) is RecipientStoppedMarketingError


def test_graph_errors_share_one_base():
    assert all(
        issubclass(error_type, GraphApiError)
        for error_type in (ThroughputLimitError, RecipientError, TemplateError, AccountError, UnknownErrorCodeError)
    )
