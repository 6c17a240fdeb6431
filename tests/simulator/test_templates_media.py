"""Templates (paging, submission and review webhook), phone number info, media and resumable uploads."""

from .conftest import PHONE_NUMBER_ID, WABA_ID, GraphClient, graph_error, template_body, wait_until

SEEDED = {
    ("hello_world", "en_US"),
    ("spring_sale", "en_US"),
    ("order_update", "en_US"),
    ("new_arrivals", "en_US"),
    ("welcome_message", "en_US"),
    ("welcome_message", "es"),
}


def test_template_list_pages_with_cursors_and_absolute_next(client):
    url = f"{client.base_url}/v25.0/{WABA_ID}/message_templates?limit=4"
    pages = []
    while url:
        page = client.session.get(url, timeout=5).json()
        pages.append(page)
        url = page["paging"].get("next")

    assert [len(page["data"]) for page in pages] == [4, 2]
    assert pages[0]["paging"]["next"].startswith(client.base_url)
    assert set(pages[0]["paging"]["cursors"]) == {"before", "after"}
    assert {(item["name"], item["language"]) for page in pages for item in page["data"]} == SEEDED
    marketing = next(item for item in pages[0]["data"] if item["name"] == "spring_sale")
    assert marketing["category"] == "MARKETING"
    assert marketing["components"][-1]["buttons"] == [{"type": "QUICK_REPLY", "text": "Stop promotions"}]
    named = next(item for item in pages[0]["data"] if item["name"] == "order_update")
    assert named["parameter_format"] == "NAMED"


NEW_TEMPLATE = {
    "name": "autumn_sale",
    "language": "en_US",
    "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hi {{1}}!", "example": {"body_text": [["Ann"]]}}],
}


def _template_updates(receiver) -> list[dict]:
    return [
        change["value"] | {"time": entry["time"], "field": change["field"]}
        for document in receiver.documents()
        for entry in document["entry"]
        for change in entry["changes"]
        if change["field"] == "message_template_status_update"
    ]


def test_submitted_template_is_pending_then_approved_by_a_signed_webhook(start_simulator, receiver):
    client = GraphClient(start_simulator(template_review_ms=300).base_url)

    created = client.post(f"/v25.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE).json()
    listed = client.get(f"/v25.0/{WABA_ID}/message_templates?name=autumn_sale").json()["data"]
    refused_while_pending = client.send(template_body(name="autumn_sale", parameters=("Ann",)))

    assert created["status"] == "PENDING"
    assert created["category"] == "MARKETING"
    assert [item["status"] for item in listed] == ["PENDING"]
    assert graph_error(refused_while_pending)["code"] == 132001
    [update] = wait_until(lambda: _template_updates(receiver))
    assert update["event"] == "APPROVED"
    assert update["message_template_id"] == int(created["id"])
    assert update["message_template_name"] == "autumn_sale"
    assert update["time"] > 0
    assert "metadata" not in update
    approved = client.get(f"/v25.0/{WABA_ID}/message_templates?name=autumn_sale").json()["data"]
    assert [item["status"] for item in approved] == ["APPROVED"]
    assert client.send(template_body(name="autumn_sale", parameters=("Ann",))).status_code == 200


def test_template_review_can_reject(client, receiver):
    client.configure(template_reject_share=1.0)
    client.post(f"/v25.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE)

    [update] = wait_until(lambda: _template_updates(receiver))

    assert update["event"] == "REJECTED"
    assert update["reason"] == "INVALID_FORMAT"
    assert client.get(f"/v25.0/{WABA_ID}/message_templates?status=REJECTED").json()["data"][0]["name"] == "autumn_sale"


def test_template_name_clash_and_bad_name_are_100(client):
    clash = client.post(f"/v25.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE | {"name": "spring_sale"})
    bad_name = client.post(f"/v25.0/{WABA_ID}/message_templates", json=NEW_TEMPLATE | {"name": "Bad Name"})

    assert (graph_error(clash)["code"], graph_error(clash)["error_subcode"]) == (100, 2388024)
    assert graph_error(bad_name)["code"] == 100


def test_phone_number_info_answers_the_requested_fields(client):
    fields = "throughput,whatsapp_business_manager_messaging_limit,quality_rating,display_phone_number,verified_name"
    info = client.get(f"/v25.0/{PHONE_NUMBER_ID}?fields={fields}").json()

    assert info == {
        "id": PHONE_NUMBER_ID,
        "throughput": {"level": "STANDARD"},
        "whatsapp_business_manager_messaging_limit": "TIER_10K",
        "quality_rating": "GREEN",
        "display_phone_number": "+1 555-010-0001",
        "verified_name": "Simulated Business",
    }


def test_media_upload_answers_an_id(client):
    uploaded = client.post(
        f"/v25.0/{PHONE_NUMBER_ID}/media",
        data={"messaging_product": "whatsapp", "type": "image/jpeg"},
        files={"file": ("photo.jpg", b"\xff\xd8\xff fake jpeg", "image/jpeg")},
    )
    missing_product = client.post(f"/v25.0/{PHONE_NUMBER_ID}/media", files={"file": ("a.jpg", b"x", "image/jpeg")})

    assert uploaded.status_code == 200
    assert uploaded.json()["id"].isdigit()
    assert graph_error(missing_product)["code"] == 100
    assert client.stats()["media_uploaded"] == 1


def test_resumable_upload_yields_a_header_handle(client):
    session = client.post("/v25.0/300000000000001/uploads?file_length=10&file_type=image/jpeg").json()
    first = client.post(f"/v25.0/{session['id']}", headers={"file_offset": "0"}, data=b"01234")
    wrong_offset = client.post(f"/v25.0/{session['id']}", headers={"file_offset": "0"}, data=b"56789")
    second = client.post(f"/v25.0/{session['id']}", headers={"file_offset": "5"}, data=b"56789")
    progress = client.get(f"/v25.0/{session['id']}").json()

    assert session["id"].startswith("upload:")
    assert first.status_code == 200
    assert graph_error(wrong_offset)["code"] == 100
    assert second.json()["h"].startswith("4::")
    assert progress == {"id": session["id"], "file_offset": 10}


def test_control_config_refuses_unknown_settings_and_reset_clears_the_log(client):
    client.send(template_body())
    unknown = client.post("/_sim/config", json={"no_such_setting": 1})
    client.post("/_sim/reset")

    assert unknown.status_code == 400
    assert client.messages() == []
    assert client.stats()["accepted"] == 0


def test_messages_since_returns_only_newer_entries(client):
    for index in range(3):
        client.send(template_body(to=f"+1650555000{index}"))

    assert [entry["index"] for entry in client.messages(since=1)] == [1, 2]
    assert client.messages(since=3) == []
