"""CloudApiClient against a mocked Graph API: exact requests, answers, and every failure kind."""

import json
import socket
import threading
from pathlib import Path

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from wacampaigns.whatsapp import payloads
from wacampaigns.whatsapp.client import CloudApiClient, build_session, shared_session
from wacampaigns.whatsapp.errors import (
    AccountError,
    AmbiguousSendError,
    ErrorClass,
    MarketingLimitError,
    NotSentError,
    PairRateLimitError,
    RecipientError,
    RecipientStoppedMarketingError,
    RecipientUndeliverableError,
    RetryableError,
    TemplateError,
    ThroughputLimitError,
    UnexpectedResponseError,
    UnknownErrorCodeError,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
BASE = "https://graph.example.test"
MESSAGES_URL = f"{BASE}/v23.0/1122334455667/messages"
TEMPLATES_URL = f"{BASE}/v23.0/102290129340398/message_templates"
TOKEN = "EAAtoken123"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA"


def _fixture(name):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def client():
    return CloudApiClient(
        base_url=BASE + "/",
        api_version="v23.0",
        access_token=TOKEN,
        phone_number_id="1122334455667",
        waba_id="102290129340398",
        app_id="778899",
        session=build_session(pool_maxsize=4),
        connect_timeout_seconds=3.0,
        read_timeout_seconds=7.0,
    )


@pytest.fixture
def graph():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def _sent_json(call):
    return json.loads(call.request.body)


def _send_welcome(client):
    return client.send_template(
        to="+16505551234",
        template_name="welcome",
        language_code="en_US",
        components=[payloads.BodyComponent([payloads.TextParameter("Pablo", name="first_name")])],
        biz_opaque_callback_data="42",
    )


# --- sends -------------------------------------------------------------------------------------------


def test_send_template_exact_request_and_result(client, graph):
    graph.post(MESSAGES_URL, json=_fixture("send_message_success_response_official.json"))

    result = client.send_template(
        to="+16505551234",
        template_name="spring_sale",
        language_code="en_US",
        components=[
            payloads.HeaderComponent(payloads.MediaParameter("image", media_id="3196424913981611")),
            payloads.BodyComponent(
                [
                    payloads.TextParameter("Pablo", name="first_name"),
                    payloads.CurrencyParameter("$100.99", "USD", 100990, name="amount"),
                    payloads.DateTimeParameter("February 25, 1977", name="deadline"),
                ]
            ),
            payloads.QuickReplyButton(0, "stop-42"),
            payloads.UrlButton(1, "orders/42"),
        ],
        biz_opaque_callback_data="42",
    )

    assert result.wamid == WAMID
    assert result.message_status is None
    assert result.wa_id == "16505551234"
    assert result.input == "+16505551234"
    assert result.is_held is False
    request = graph.calls[0].request
    assert request.method == "POST"
    assert request.url == MESSAGES_URL
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.req_kwargs["timeout"] == (3.0, 7.0)
    assert _sent_json(graph.calls[0]) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "template",
        "biz_opaque_callback_data": "42",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": "3196424913981611"}}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "first_name", "text": "Pablo"},
                        {
                            "type": "currency",
                            "parameter_name": "amount",
                            "currency": {"fallback_value": "$100.99", "code": "USD", "amount_1000": 100990},
                        },
                        {
                            "type": "date_time",
                            "parameter_name": "deadline",
                            "date_time": {"fallback_value": "February 25, 1977"},
                        },
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "stop-42"}],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "1",
                    "parameters": [{"type": "text", "text": "orders/42"}],
                },
            ],
        },
    }


@pytest.mark.parametrize("message_status", ["accepted", "held_for_quality_assessment", "paused"])
def test_send_template_reports_message_status(client, graph, message_status):
    graph.post(
        MESSAGES_URL,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": WAMID, "message_status": message_status}],
        },
    )

    result = _send_welcome(client)

    assert result.wamid == WAMID
    assert result.message_status == message_status
    assert result.is_held is (message_status == "held_for_quality_assessment")


def test_send_text_exact_request(client, graph):
    graph.post(MESSAGES_URL, json={"messages": [{"id": "wamid.reply"}]})

    result = client.send_text(
        to="+16505551234", text="Thanks!", biz_opaque_callback_data="77", reply_to_wamid="wamid.inbound"
    )

    assert result.wamid == "wamid.reply"
    assert result.wa_id is None
    assert graph.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert _sent_json(graph.calls[0]) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "biz_opaque_callback_data": "77",
        "text": {"preview_url": False, "body": "Thanks!"},
        "context": {"message_id": "wamid.inbound"},
    }


def test_send_without_wamid_is_unexpected_and_maybe_sent(client, graph):
    graph.post(MESSAGES_URL, json={"messaging_product": "whatsapp", "messages": []})

    with pytest.raises(UnexpectedResponseError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is True


def test_send_with_non_json_200_is_unexpected(client, graph):
    graph.post(MESSAGES_URL, body="<html>ok</html>", status=200)

    with pytest.raises(UnexpectedResponseError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is True


# --- Graph errors: one per class ------------------------------------------------------------------


def _graph_error(code, status=400, subcode=None):
    error = {
        "message": f"(#{code}) Some title",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": f"details of {code}"},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@pytest.mark.parametrize(
    ("code", "status", "error_type", "error_class"),
    [
        (130429, 400, ThroughputLimitError, ErrorClass.RETRYABLE),
        (131056, 400, PairRateLimitError, ErrorClass.RETRYABLE),
        (131049, 400, MarketingLimitError, ErrorClass.RETRYABLE),
        (131016, 503, RetryableError, ErrorClass.RETRYABLE),
        (2, 500, RetryableError, ErrorClass.RETRYABLE),
        (4, 429, RetryableError, ErrorClass.RETRYABLE),
        (131047, 400, RecipientError, ErrorClass.RECIPIENT),
        (132000, 400, RecipientError, ErrorClass.RECIPIENT),
        (131026, 400, RecipientUndeliverableError, ErrorClass.RECIPIENT),
        (131050, 400, RecipientStoppedMarketingError, ErrorClass.RECIPIENT),
        (132001, 404, TemplateError, ErrorClass.TEMPLATE),
        (132015, 400, TemplateError, ErrorClass.TEMPLATE),
        (190, 401, AccountError, ErrorClass.ACCOUNT),
        (131042, 400, AccountError, ErrorClass.ACCOUNT),
        (368, 403, AccountError, ErrorClass.ACCOUNT),
        (987654, 400, UnknownErrorCodeError, ErrorClass.RECIPIENT),
    ],
)
def test_graph_error_bodies_raise_the_classified_error(client, graph, code, status, error_type, error_class):
    graph.post(MESSAGES_URL, json=_graph_error(code, subcode=2494055), status=status)

    with pytest.raises(error_type) as caught:
        _send_welcome(client)

    error = caught.value
    assert type(error) is error_type
    assert error.error_class == error_class
    assert error.code == code
    assert error.subcode == 2494055
    assert error.details == f"details of {code}"
    assert error.fbtrace_id == "Az8or2yhqkZfEZ-_4Qn_Bam"
    assert error.http_status == status
    assert error.may_have_been_sent is False


def test_graph_error_in_a_5xx_means_not_sent(client, graph):
    graph.post(MESSAGES_URL, json=_graph_error(131000), status=500)

    with pytest.raises(RetryableError) as caught:
        _send_welcome(client)

    assert caught.value.code == 131000
    assert caught.value.may_have_been_sent is False
    assert caught.value.retry_after_seconds == 60.0


def test_sample_error_files_through_the_client(client, graph):
    graph.get(f"{BASE}/v23.0/1122334455667", json=_fixture("error_190_invalid_oauth_token_official.json"), status=401)

    with pytest.raises(AccountError) as caught:
        client.phone_number_info()

    assert caught.value.code == 190
    assert caught.value.subcode == 463
    assert caught.value.message == "Invalid OAuth access token"


# --- transport outcomes -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_without_graph_body_is_ambiguous(client, graph, status):
    graph.post(MESSAGES_URL, body="<html>Bad gateway</html>", status=status)

    with pytest.raises(AmbiguousSendError) as caught:
        _send_welcome(client)

    assert caught.value.http_status == status
    assert caught.value.may_have_been_sent is True


def test_5xx_with_json_but_no_code_is_ambiguous(client, graph):
    graph.post(MESSAGES_URL, json={"error": {"message": "Internal error"}}, status=500)

    with pytest.raises(AmbiguousSendError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is True


def test_4xx_without_graph_body_is_not_sent(client, graph):
    graph.post(MESSAGES_URL, body="Forbidden by proxy", status=403)

    with pytest.raises(NotSentError) as caught:
        _send_welcome(client)

    assert caught.value.http_status == 403
    assert caught.value.may_have_been_sent is False


def test_connect_timeout_is_not_sent(client, graph):
    graph.post(MESSAGES_URL, body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(NotSentError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is False
    assert caught.value.error_class == ErrorClass.RETRYABLE
    assert isinstance(caught.value.__cause__, requests.ConnectTimeout)


def test_read_timeout_is_ambiguous(client, graph):
    graph.post(MESSAGES_URL, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(AmbiguousSendError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is True
    assert isinstance(caught.value.__cause__, requests.ReadTimeout)


def test_refused_connection_is_not_sent(client, graph):
    refused = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    graph.post(MESSAGES_URL, body=requests.ConnectionError(MaxRetryError(None, MESSAGES_URL, refused)))

    with pytest.raises(NotSentError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is False


def test_reset_after_sending_is_ambiguous(client, graph):
    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    graph.post(MESSAGES_URL, body=requests.ConnectionError(reset))

    with pytest.raises(AmbiguousSendError) as caught:
        _send_welcome(client)

    assert caught.value.may_have_been_sent is True


def _loopback_client(port, read_timeout=5.0):
    return CloudApiClient(
        base_url=f"http://127.0.0.1:{port}",
        api_version="v23.0",
        access_token=TOKEN,
        phone_number_id="1",
        waba_id="2",
        session=build_session(pool_maxsize=2),
        connect_timeout_seconds=2.0,
        read_timeout_seconds=read_timeout,
    )


def _serve_once(handle_connection):
    """A one-connection TCP server on a loopback port; returns its port and a thread to join."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def run():
        with server:
            connection, _ = server.accept()
            with connection:
                handle_connection(connection)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def _read_request(connection):
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return body


def test_real_refused_connection_on_loopback_is_not_sent():
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.

    with pytest.raises(NotSentError) as caught:
        _send_welcome(_loopback_client(port))

    assert caught.value.may_have_been_sent is False


def test_real_reset_after_the_body_was_written_is_ambiguous():
    received = []

    def read_then_close(connection):
        received.append(_read_request(connection))
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    port, thread = _serve_once(read_then_close)

    with pytest.raises(AmbiguousSendError) as caught:
        _send_welcome(_loopback_client(port))

    thread.join(timeout=5)
    assert caught.value.may_have_been_sent is True
    assert json.loads(received[0])["biz_opaque_callback_data"] == "42"


def test_real_read_timeout_is_ambiguous():
    release = threading.Event()

    def read_then_stall(connection):
        _read_request(connection)
        release.wait(timeout=5)

    port, thread = _serve_once(read_then_stall)

    with pytest.raises(AmbiguousSendError) as caught:
        _send_welcome(_loopback_client(port, read_timeout=0.2))

    release.set()
    thread.join(timeout=5)
    assert isinstance(caught.value.__cause__, requests.ReadTimeout)
    assert caught.value.may_have_been_sent is True


# --- templates --------------------------------------------------------------------------------------


def test_list_templates_follows_paging_next(client, graph):
    first_page = _fixture("template_list_response_with_previous_category.json")
    next_url = f"{TEMPLATES_URL}?fields=name%2Cstatus&limit=2&after=MjQZD"
    first_page["paging"] = {"cursors": {"before": "MAZDZD", "after": "MjQZD"}, "next": next_url}
    second_page = _fixture("template_list_response_stop_promotions_official.json")
    graph.get(
        TEMPLATES_URL,
        json=first_page,
        match=[responses.matchers.query_param_matcher({"fields": "name,status", "limit": "2"})],
    )
    graph.get(
        next_url,
        json=second_page,
        match=[responses.matchers.query_param_matcher({"fields": "name,status", "limit": "2", "after": "MjQZD"})],
    )

    templates = client.list_templates(fields=["name", "status"], limit=2)

    assert [template["name"] for template in templates] == [
        *(template["name"] for template in first_page["data"]),
        "hello_world",
        "2023_april_promo",
    ]
    assert len(graph.calls) == 2
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in graph.calls)
    assert graph.calls[1].request.url == next_url


def test_list_templates_refuses_paging_to_another_host(client, graph):
    graph.get(TEMPLATES_URL, json={"data": [], "paging": {"next": "https://evil.example/v23.0/x?after=1"}})

    with pytest.raises(UnexpectedResponseError):
        client.list_templates()

    assert len(graph.calls) == 1


def test_list_templates_without_data_is_unexpected(client, graph):
    graph.get(TEMPLATES_URL, json={"paging": {}})

    with pytest.raises(UnexpectedResponseError):
        client.list_templates()

    assert len(graph.calls) == 1


def test_create_template_exact_request(client, graph):
    graph.post(TEMPLATES_URL, json={"id": "594425479261596", "status": "PENDING", "category": "MARKETING"})
    components = [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvcG5n:ARb"]}},
        {
            "type": "BODY",
            "text": "Hi {{first_name}}!",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"}]},
        },
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
    ]

    created = client.create_template(
        name="spring_sale", language="en_US", category="MARKETING", components=components, parameter_format="named"
    )

    assert (created.template_id, created.status, created.category) == ("594425479261596", "PENDING", "MARKETING")
    assert graph.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert _sent_json(graph.calls[0]) == {
        "name": "spring_sale",
        "language": "en_US",
        "category": "MARKETING",
        "components": components,
        "parameter_format": "named",
    }


def test_create_template_name_clash_is_a_classified_error(client, graph):
    graph.post(TEMPLATES_URL, json=_graph_error(100, subcode=2388024), status=400)

    with pytest.raises(RecipientError) as caught:
        client.create_template(name="dup", language="en_US", category="UTILITY", components=[])

    assert (caught.value.code, caught.value.subcode) == (100, 2388024)


# --- media ------------------------------------------------------------------------------------------


def test_upload_media_is_multipart_with_messaging_product(client, graph):
    graph.post(f"{BASE}/v23.0/1122334455667/media", json=_fixture("media_upload_response.json"))

    media_id = client.upload_media(content=b"\x89PNG-bytes", mime_type="image/png", filename="banner.png")

    assert media_id == "985569392615996"
    request = graph.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="messaging_product"\r\n\r\nwhatsapp' in request.body
    assert b'name="type"\r\n\r\nimage/png' in request.body
    assert b'name="file"; filename="banner.png"' in request.body
    assert b"\x89PNG-bytes" in request.body


def test_resumable_upload_yields_the_header_handle(client, graph):
    session_id = "upload:MTphdHRhY2htZW50OjE=?sig=ARZ"
    graph.post(
        f"{BASE}/v23.0/778899/uploads",
        json={"id": session_id},
        match=[
            responses.matchers.query_param_matcher({"file_length": "9", "file_type": "image/png", "file_name": "a.png"})
        ],
    )
    graph.post(f"{BASE}/v23.0/{session_id}", json={"h": "4::aW1hZ2UvcG5n:ARbHandle"})

    handle = client.upload_header_handle(content=b"png-bytes", mime_type="image/png", filename="a.png")

    assert handle == "4::aW1hZ2UvcG5n:ARbHandle"
    start, upload = graph.calls[0].request, graph.calls[1].request
    assert start.headers["Authorization"] == f"Bearer {TOKEN}"
    assert upload.headers["Authorization"] == f"OAuth {TOKEN}"
    assert upload.headers["file_offset"] == "0"
    assert upload.body == b"png-bytes"


def test_resumable_upload_needs_the_app_id(graph):
    client = CloudApiClient(base_url=BASE, api_version="v23.0", access_token=TOKEN, phone_number_id="1", waba_id="2")

    with pytest.raises(ValueError, match="app id"):
        client.upload_header_handle(content=b"x", mime_type="image/png")

    assert len(graph.calls) == 0


# --- phone number -----------------------------------------------------------------------------------


def test_phone_number_info(client, graph):
    graph.get(
        f"{BASE}/v23.0/1122334455667",
        json={
            "id": "1122334455667",
            "display_phone_number": "+1 555-078-3881",
            "verified_name": "Acme",
            "quality_rating": "GREEN",
            "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": "TIER_2K",
        },
        match=[
            responses.matchers.query_param_matcher(
                {
                    "fields": "display_phone_number,verified_name,quality_rating,throughput,"
                    "whatsapp_business_manager_messaging_limit"
                }
            )
        ],
    )

    info = client.phone_number_info()

    assert info.phone_number_id == "1122334455667"
    assert info.display_phone_number == "+1 555-078-3881"
    assert info.verified_name == "Acme"
    assert info.quality_rating == "GREEN"
    assert info.throughput_level == "STANDARD"
    assert info.messaging_limit_tier == "TIER_2K"
    assert graph.calls[0].request.req_kwargs["timeout"] == (3.0, 7.0)


# --- session ----------------------------------------------------------------------------------------


def test_session_pool_is_sized_and_never_retries():
    session = build_session(pool_maxsize=48)

    adapter = session.get_adapter("https://graph.facebook.com")
    assert adapter._pool_maxsize == 48
    assert adapter.max_retries.total == 0


def test_clients_share_one_session_by_default():
    first = CloudApiClient(base_url=BASE, api_version="v23.0", access_token="a", phone_number_id="1", waba_id="2")
    second = CloudApiClient(base_url=BASE, api_version="v23.0", access_token="b", phone_number_id="3", waba_id="4")

    assert first._session is second._session is shared_session()
