"""Paced sends ending the bad way (132015 and a PAUSED template) and media headers by unknown id (131053)."""

from .conftest import PHONE_NUMBER_ID, graph_error, template_body, wait_until


def _image_send(media: dict) -> dict:
    body = template_body(name="new_arrivals", parameters=("Mark",))
    body["template"]["components"].insert(0, {"type": "header", "parameters": [{"type": "image", "image": media}]})
    return body


def test_bad_feedback_on_held_messages_fails_them_with_132015_and_pauses_the_template(client, receiver):
    client.configure(paced_share=1.0, paced_fail_share=1.0, paced_release_ms=50)

    held = client.send(template_body(opaque="delivery-1"))
    [failed] = wait_until(lambda: receiver.statuses())
    [event] = wait_until(lambda: receiver.template_events())
    refused = client.send(template_body(opaque="delivery-2"))

    assert held.json()["messages"][0]["message_status"] == "held_for_quality_assessment"
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 132015
    assert failed["biz_opaque_callback_data"] == "delivery-1"
    assert event["event"] == "PAUSED"
    assert event["message_template_name"] == "spring_sale"
    assert event["message_template_language"] == "en_US"
    assert event["other_info"]["title"] == "FIRST_PAUSE"
    assert graph_error(refused)["code"] == 132015
    listed = client.get("/v25.0/200000000000001/message_templates?name=spring_sale").json()["data"]
    assert [template["status"] for template in listed] == ["PAUSED"]
    stats = client.stats()
    assert stats["templates_paused"] == 1
    assert stats["outcomes"] == {"failed:132015": 1}
    assert stats["rejected"] == {"132015": 1}


def test_held_messages_released_after_the_pause_fail_too_and_other_templates_still_send(client, receiver):
    client.configure(paced_share=1.0, paced_fail_share=1.0, paced_release_ms=200)
    client.send(template_body(to="+16505550001"))
    client.configure(paced_fail_share=0.0, paced_release_ms=300)  # good feedback now, but the pause comes first
    client.send(template_body(to="+16505550002"))
    client.configure(paced_share=0.0)
    other = client.send(template_body(name="welcome_message", parameters=("Ann",)))

    wait_until(lambda: len(receiver.template_events()) == 1 and len(receiver.statuses()) >= 5)

    failures = {status["recipient_id"] for status in receiver.statuses() if status["status"] == "failed"}
    assert failures == {"16505550001", "16505550002"}
    assert other.status_code == 200
    assert client.stats()["templates_paused"] == 1


def test_good_feedback_releases_held_messages_and_keeps_the_template_approved(client, receiver):
    client.configure(paced_share=1.0, paced_fail_share=0.0, paced_release_ms=30)
    client.send(template_body())

    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())

    assert [status["status"] for status in statuses] == ["sent", "delivered", "read"]
    assert receiver.template_events() == []
    listed = client.get("/v25.0/200000000000001/message_templates?name=spring_sale").json()["data"]
    assert listed[0]["status"] == "APPROVED"


def test_unknown_media_id_in_the_header_is_accepted_then_fails_131053(client, receiver):
    response = client.send(_image_send({"id": "799999999999999"}))

    [failed] = wait_until(lambda: receiver.statuses())

    assert response.status_code == 200
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131053
    assert client.messages()[0]["outcome"] == "failed:131053"


def test_uploaded_media_id_and_links_are_delivered(client, receiver):
    uploaded = client.post(
        f"/v25.0/{PHONE_NUMBER_ID}/media",
        data={"messaging_product": "whatsapp", "type": "image/jpeg"},
        files={"file": ("photo.jpg", b"\xff\xd8\xff fake jpeg", "image/jpeg")},
    ).json()["id"]
    client.send(_image_send({"id": uploaded}))
    client.send(_image_send({"link": "https://cdn.example/spring.jpg"}))

    statuses = wait_until(lambda: len(receiver.statuses()) == 6 and receiver.statuses())

    assert {status["status"] for status in statuses} == {"sent", "delivered", "read"}
    assert [entry["outcome"] for entry in client.messages()] == ["delivered", "delivered"]
