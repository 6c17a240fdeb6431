"""Sends: Meta's validation errors, the success answer, the exactly-once log, windows and pacing."""

import pytest

from .conftest import PHONE_NUMBER_ID, graph_error, template_body, wait_until


def test_accepted_template_send_answers_like_meta_and_is_logged_once(client):
    response = client.send(template_body(opaque="delivery-42"))

    assert response.status_code == 200
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    [message] = answer["messages"]
    assert message["id"].startswith("wamid.")
    assert message["message_status"] == "accepted"
    [entry] = client.messages()
    assert entry["wamid"] == message["id"]
    assert entry["recipient"] == "16505551234"
    assert entry["template"] == "spring_sale"
    assert entry["language"] == "en_US"
    assert entry["parameters"] == ["Maria", "SPRING20"]
    assert entry["biz_opaque_callback_data"] == "delivery-42"
    assert entry["type"] == "template"
    assert entry["accepted_at"] > 0
    assert client.stats()["accepted"] == 1


def _named(parameters):
    body = template_body(name="order_update", parameters=())
    body["template"]["components"] = [{"type": "body", "parameters": parameters}]
    return body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (template_body(name="no_such_template"), 132001),
        (template_body(language="fr"), 132001),
        (template_body(parameters=("only one",)), 132000),
        (template_body(parameters=("a", "b", "c")), 132000),
        ({"messaging_product": "whatsapp", "type": "template", "template": {"name": "hello_world"}}, 100),
        ({"messaging_product": "whatsapp", "to": "+16505551234", "type": "template", "template": {}}, 131008),
        (_named([{"type": "text", "text": "Pablo"}, {"type": "text", "text": "123"}]), 100),
        (_named([{"type": "text", "parameter_name": "first_name", "text": "Pablo"}]), 132000),
    ],
    ids=[
        "unknown-template",
        "unknown-language",
        "too-few-params",
        "too-many-params",
        "missing-to",
        "missing-template-name",
        "named-without-parameter-name",
        "named-missing-one",
    ],
)
def test_invalid_sends_are_refused_with_metas_code_and_not_logged(client, body, code):
    response = client.send(body)

    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == code
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["error_data"]["details"]
    assert client.messages() == []
    assert client.stats()["rejected"] == {str(code): 1}


def test_named_template_with_every_parameter_is_accepted(client):
    response = client.send(
        _named(
            [
                {"type": "text", "parameter_name": "order_number", "text": "860198"},
                {"type": "text", "parameter_name": "first_name", "text": "Pablo"},
            ]
        )
    )

    assert response.status_code == 200, response.text
    assert client.messages()[0]["parameters"] == [
        {"name": "order_number", "value": "860198"},
        {"name": "first_name", "value": "Pablo"},
    ]


def test_image_header_template_needs_the_image_parameter(client):
    body = template_body(name="new_arrivals", parameters=("Mark",))
    refused = client.send(body)
    body["template"]["components"].insert(
        0, {"type": "header", "parameters": [{"type": "image", "image": {"id": "700000000000001"}}]}
    )
    accepted = client.send(body)

    assert graph_error(refused)["code"] == 132000
    assert accepted.status_code == 200


def test_template_in_two_languages_is_sent_in_each(client):
    english = client.send(template_body(name="welcome_message", language="en_US", parameters=("Ann",)))
    spanish = client.send(template_body(name="welcome_message", language="es", parameters=("Ana",)))

    assert (english.status_code, spanish.status_code) == (200, 200)
    assert [entry["language"] for entry in client.messages()] == ["en_US", "es"]


@pytest.mark.parametrize("authorization", ["Bearer wrong-token", None])
def test_bad_or_missing_token_is_190(client, authorization):
    client.session.headers.pop("Authorization")
    if authorization:
        client.session.headers["Authorization"] = authorization

    response = client.send(template_body())

    assert response.status_code == 401
    assert graph_error(response)["code"] == 190
    assert client.messages() == []


def test_unknown_phone_number_id_is_graph_object_not_found(client):
    response = client.send(template_body(), phone_number_id="999")

    error = graph_error(response)
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")


@pytest.mark.parametrize("version", ["v23.0", "v25.0", "v19.0"])
def test_any_version_segment_is_accepted(client, version):
    response = client.post(f"/{version}/{PHONE_NUMBER_ID}/messages", json=template_body())

    assert response.status_code == 200


@pytest.mark.parametrize("to", ["+1650abc1234", "12345", "+1234567890123456"])
def test_bad_number_is_accepted_then_fails_131026(client, receiver, to):
    response = client.send(template_body(to=to))

    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    [failed] = wait_until(lambda: receiver.statuses())
    assert failed["id"] == wamid
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131026
    assert "pricing" not in failed
    assert client.messages()[0]["outcome"] == "failed:131026"


def _text(to="+16505551234", body="Hello"):
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def test_text_outside_the_service_window_is_131047(client):
    response = client.send(_text())

    assert graph_error(response)["code"] == 131047
    assert client.messages() == []


def test_inbound_message_opens_the_window_for_text(client, receiver):
    injected = client.post("/_sim/inbound", json={"from": "+16505551234", "text": "Hi there"})
    response = client.send(_text())

    assert injected.status_code == 200
    assert response.status_code == 200, response.text
    assert "message_status" not in response.json()["messages"][0]
    [inbound] = wait_until(lambda: receiver.inbound_messages())
    assert inbound == {
        "from": "16505551234",
        "from_user_id": injected.json()["user_id"],
        "id": injected.json()["id"],
        "timestamp": inbound["timestamp"],
        "type": "text",
        "text": {"body": "Hi there"},
    }
    assert client.messages()[0]["text"] == "Hello"


def test_window_closes_after_its_length(client):
    client.configure(service_window_seconds=0.05)
    client.post("/_sim/inbound", json={"from": "+16505551234", "text": "Hi"})

    wait_until(lambda: client.send(_text()).status_code == 400, timeout=3)
    assert client.stats()["rejected"]["131047"] >= 1


def test_simulated_reply_opens_the_window(start_simulator, receiver):
    from .conftest import GraphClient

    client = GraphClient(start_simulator(reply_text_share=1.0).base_url)
    client.send(template_body())
    wait_until(lambda: receiver.inbound_messages())

    assert client.send(_text()).status_code == 200


def test_paced_sends_are_held_and_released_later(client, receiver):
    client.configure(paced_share=1.0, paced_release_ms=100)

    response = client.send(template_body())

    assert response.json()["messages"][0]["message_status"] == "held_for_quality_assessment"
    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())
    assert [status["status"] for status in statuses] == ["sent", "delivered", "read"]
    assert client.messages()[0]["message_status"] == "held_for_quality_assessment"
