"""2026 business-scoped user ids and usernames in webhooks; automatic batching when webhooks fall behind."""

import json

from wacampaigns.simulator.webhook_payloads import MessageStatuses, status_item

from .conftest import GraphClient, template_body, wait_until


def test_statuses_and_replies_carry_the_business_scoped_user_id_with_the_phone_kept(client, receiver):
    client.configure(reply_text_share=1.0)
    wamid = client.send(template_body(to="+16505551234")).json()["messages"][0]["id"]

    [reply] = wait_until(lambda: receiver.inbound_messages())
    [contact] = receiver.contacts()
    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())

    user_id = contact["user_id"]
    assert user_id.startswith("US.")
    assert user_id[3:].isdigit()
    assert len(user_id) == 23
    assert contact["wa_id"] == "16505551234"
    assert "username" not in contact["profile"]
    assert reply["from"] == "16505551234"
    assert reply["from_user_id"] == user_id
    assert reply["context"]["id"] == wamid
    assert {status["recipient_user_id"] for status in statuses} == {user_id}
    assert {status["recipient_id"] for status in statuses} == {"16505551234"}


def test_user_ids_can_be_turned_off(client, receiver):
    client.configure(user_ids_enabled=False)
    client.post("/_sim/inbound", json={"from": "+447700900123", "text": "Hi"})
    client.send(template_body())

    [message] = wait_until(lambda: receiver.inbound_messages())
    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())

    assert "from_user_id" not in message
    assert "user_id" not in receiver.contacts()[0]
    assert all("recipient_user_id" not in status for status in statuses)


def test_username_users_without_a_phone_have_no_wa_id_nor_from(client, receiver):
    client.configure(phoneless_users=True)
    injected = client.post("/_sim/inbound", json={"from": "+447700900123", "text": "Hi"}).json()

    [message] = wait_until(lambda: receiver.inbound_messages())
    [contact] = receiver.contacts()

    assert "from" not in message
    assert "wa_id" not in contact
    assert message["from_user_id"] == contact["user_id"] == injected["user_id"]
    assert contact["user_id"].startswith("GB.")
    assert contact["profile"]["username"] == "customer_0123"


def test_inbound_injection_sets_a_username_or_withholds_the_phone_for_one_message(client, receiver):
    client.configure(usernames_enabled=True)
    client.post("/_sim/inbound", json={"from": "+16505551234", "text": "one", "username": "maria.shop"})
    wait_until(lambda: len(receiver.inbound_messages()) == 1)
    client.post("/_sim/inbound", json={"from": "+16505551234", "text": "two", "withhold_phone": True})

    first, second = wait_until(lambda: len(receiver.contacts()) == 2 and receiver.contacts())

    assert first["profile"]["username"] == "maria.shop"
    assert first["wa_id"] == "16505551234"
    assert "wa_id" not in second
    assert second["profile"]["username"] == "customer_1234"
    assert first["user_id"] == second["user_id"]


def test_status_item_bytes_equal_the_generic_encoding():
    for opaque, user_id, category in (
        ("d-1", "US.1", "marketing"),
        (None, None, "service"),
        ('q"é\\', None, "utility"),
    ):
        statuses = MessageStatuses(
            wamid="wamid.X",
            recipient_id="16505551234",
            biz_opaque_callback_data=opaque,
            pricing_category=category,
            recipient_user_id=user_id,
        )
        for status, priced, errors in (("sent", True, None), ("read", False, None), ("failed", False, [{"code": 1}])):
            expected = status_item(
                wamid="wamid.X",
                status=status,
                timestamp=1700000000,
                recipient_id="16505551234",
                biz_opaque_callback_data=opaque,
                pricing_category=category if priced else None,
                errors=errors,
                recipient_user_id=user_id,
            )
            encoded = statuses.item(status, 1700000000, priced=priced, errors=errors)
            assert encoded == json.dumps(expected, separators=(",", ":")).encode()


def test_statuses_that_fall_behind_are_batched_automatically_then_one_per_post_again(start_simulator, receiver):
    simulator = start_simulator(
        webhook_threads=1, webhook_auto_batch_lag_ms=0, read_share=0.0, sent_delay_ms=0, delivered_delay_ms=0
    )
    client = GraphClient(simulator.base_url)
    receiver.gate.clear()  # the app hangs on the first POST while the statuses of the next sends fall due
    for index in range(5):
        client.send(template_body(to=f"+1650555000{index}"))
    wait_until(lambda: receiver.arrived == 1)
    receiver.gate.set()
    wait_until(lambda: len(receiver.statuses()) == 10)
    client.configure(sent_delay_ms=5, delivered_delay_ms=30)
    client.send(template_body(to="+16505559999"))

    wait_until(lambda: len(receiver.statuses()) == 12)

    per_post = [len(document["entry"][0]["changes"][0]["value"]["statuses"]) for document in receiver.documents()]
    assert max(per_post) > 1
    assert per_post[-2:] == [1, 1]
    assert len({(status["id"], status["status"]) for status in receiver.statuses()}) == 12
    # A job stays pending until the simulator has read the app's answer, which comes after the receiver saw it.
    wait_until(lambda: client.stats()["webhooks_pending"] == 0)
    stats = client.stats()
    assert stats["webhook_auto_batched_posts"] >= 1
    assert stats["webhooks_pending"] == 0
