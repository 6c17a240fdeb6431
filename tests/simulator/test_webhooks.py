"""The webhook stream: signed statuses, failures, replies, duplicates, order, batches and retries."""

from .conftest import GraphClient, template_body, wait_until


def _wamid(response) -> str:
    return response.json()["messages"][0]["id"]


def test_statuses_are_signed_and_shaped_like_v24(client, receiver):
    wamid = _wamid(client.send(template_body(opaque="delivery-7")))

    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())

    assert [status["status"] for status in statuses] == ["sent", "delivered", "read"]
    for status in statuses:
        assert status["id"] == wamid
        assert status["recipient_id"] == "16505551234"
        assert status["biz_opaque_callback_data"] == "delivery-7"
        assert "conversation" not in status
    assert statuses[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "marketing",
    }
    assert "pricing" in statuses[1]
    assert "pricing" not in statuses[2]
    document = receiver.documents()[0]
    assert document["object"] == "whatsapp_business_account"
    assert document["entry"][0]["id"] == "200000000000001"
    assert document["entry"][0]["changes"][0]["field"] == "messages"
    assert document["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] == "100000000000001"
    assert wait_until(lambda: client.stats()["webhooks_pending"] == 0 and client.stats())["webhooks_posted"] == 3


def test_configured_failure_share_sends_a_failed_status_with_errors(client, receiver):
    client.configure(fail_131050_share=1.0)
    client.send(template_body())

    [failed] = wait_until(lambda: receiver.statuses())

    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131050
    assert set(failed["errors"][0]) == {"code", "title", "message", "error_data", "href"}
    assert "pricing" not in failed


def test_stop_reply_quotes_the_campaign_message(client, receiver):
    client.configure(reply_stop_share=1.0)
    wamid = _wamid(client.send(template_body()))

    [reply] = wait_until(lambda: receiver.inbound_messages())

    assert reply["type"] == "text"
    assert reply["text"] == {"body": "STOP"}
    assert reply["context"] == {"from": "15550100001", "id": wamid}
    assert reply["from"] == "16505551234"


def test_quick_reply_tap_carries_the_button_payload_and_context(client, receiver):
    client.configure(button_tap_share=1.0)
    wamid = _wamid(client.send(template_body()))

    [tap] = wait_until(lambda: receiver.inbound_messages())

    assert tap["type"] == "button"
    assert tap["button"] == {"payload": "Stop promotions", "text": "Stop promotions"}
    assert tap["context"]["id"] == wamid


def test_duplicate_webhooks_post_the_same_body_twice(client, receiver):
    client.configure(webhook_duplicate_share=1.0)
    client.send(template_body())

    wait_until(lambda: len(receiver.documents()) == 6)

    bodies = [post["raw"] for post in receiver.posts]
    assert len(set(bodies)) == 3
    assert all(bodies.count(body) == 2 for body in bodies)
    assert wait_until(lambda: client.stats()["webhook_duplicates_posted"] == 3)


def test_out_of_order_webhooks_arrive_reversed_with_true_timestamps(start_simulator, receiver):
    client = GraphClient(start_simulator(webhook_threads=1, webhook_out_of_order_share=1.0, read_delay_ms=40).base_url)
    client.send(template_body())

    statuses = wait_until(lambda: len(receiver.statuses()) == 3 and receiver.statuses())

    assert [status["status"] for status in statuses] == ["read", "delivered", "sent"]
    assert int(statuses[0]["timestamp"]) >= int(statuses[2]["timestamp"])


def test_batched_webhooks_carry_several_statuses_per_post(client, receiver):
    client.configure(webhook_batch_max=10, webhook_batch_window_ms=300)
    for index in range(3):
        client.send(template_body(to=f"+1650555000{index}"))

    wait_until(lambda: len(receiver.statuses()) == 9)

    per_post = [len(document["entry"][0]["changes"][0]["value"]["statuses"]) for document in receiver.documents()]
    assert max(per_post) > 1
    assert sum(per_post) == 9
    assert len({(status["id"], status["status"]) for status in receiver.statuses()}) == 9


def test_webhooks_answered_500_are_retried_until_200(start_simulator, receiver):
    client = GraphClient(start_simulator(webhook_threads=1, webhook_retry_base_ms=20).base_url)
    receiver.answers = [500, 500]
    client.send(template_body())

    stats = wait_until(lambda: (s := client.stats())["webhooks_pending"] == 0 and s["webhooks_posted"] == 3 and s)

    assert stats["webhooks_failed"] == 2
    assert stats["webhooks_retried"] == 2
    assert stats["webhook_answers"] == {"500": 2, "200": 3}
    assert sorted(status["status"] for status in receiver.statuses()) == ["delivered", "read", "sent"]


def test_retries_are_bounded(start_simulator, receiver):
    client = GraphClient(start_simulator(webhook_threads=1, webhook_max_retries=1, webhook_retry_base_ms=5).base_url)
    receiver.answers = [500] * 6  # every status and its one retry
    client.send(template_body())

    stats = wait_until(lambda: (s := client.stats())["webhooks_pending"] == 0 and s)

    assert stats["webhooks_given_up"] == 3
    assert stats["webhooks_failed"] == 6
    assert stats["webhooks_posted"] == 0
    assert len(receiver.posts) == 6


def test_dropped_webhooks_are_never_posted_but_counted(client, receiver):
    client.configure(webhook_drop_share=1.0)
    client.send(template_body())

    stats = wait_until(lambda: (s := client.stats())["webhooks_dropped_by_fault"] == 3 and s)

    assert stats["webhooks_pending"] == 0
    assert receiver.posts == []
