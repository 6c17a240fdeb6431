"""The integration API end to end on loopback: gunicorn, qcluster, the simulator and the event dispatcher.

An API send with an Idempotency-Key, posted twice, reaches the simulator once; a subscriber that is down at
first receives, once up, the signed status events of that message in order of occurrence.
"""

import json
import sys
from datetime import datetime

import pytest
import requests

from tests.deliveries.api.subscriber import Subscriber
from tests.e2e.processes import MANAGE, free_port, wait_until
from tests.e2e.test_sending_campaigns import Stack

pytestmark = pytest.mark.e2e

SECRET = "e2e-subscriber-secret"
TO = "+34600000042"
SETUP = """
import json, os
from deliveries.api.events.dispatch import subscription_cursor_to_head
from deliveries.api.keys import api_key_create
from deliveries.api.models import EventSubscription
from templates_app.models import MessageTemplate
from wacampaigns.models import BusinessAccount
p = json.loads(os.environ["E2E_API"])
account = BusinessAccount.objects.get()
MessageTemplate.objects.create(business_account=account, name="order_update", language="en_US", category="UTILITY",
    status="APPROVED", parameter_format="NAMED",
    components=[{"type": "BODY", "text": "Hello {{first_name}}, your order {{order_number}} has shipped."}])
subscription = EventSubscription(name="shop", business_account=account, url=p["url"], secret=p["secret"])
subscription_cursor_to_head(subscription)
subscription.save()
print(api_key_create(name="shop", business_account=account)[1])
"""


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path, env={"API_EVENTS_BACKOFF_BASE_SECONDS": "0.5", "API_EVENTS_BACKOFF_MAX_SECONDS": "1"})
    yield stack
    stack.close()


def test_api_send_once_and_signed_status_events_in_order_after_the_subscriber_was_down(stack):
    subscriber_port = free_port()
    stack.start(simulator_flags=[], qclusters=1)
    stack.setup(contacts=0, opted_out=set(), throughput=80)
    key = stack.shell(
        SETUP, E2E_API=json.dumps({"url": f"http://127.0.0.1:{subscriber_port}/events", "secret": SECRET})
    ).splitlines()[-1]
    stack._spawn([sys.executable, MANAGE, "dispatch_api_events"], "dispatcher")
    api = f"http://127.0.0.1:{stack.web_port}/api/v1"
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "order-860198"}
    body = {
        "to": TO,
        "template": {"name": "order_update"},
        "parameters": {"first_name": "Ana", "order_number": "860198"},
    }

    first = requests.post(f"{api}/messages", json=body, headers=headers, timeout=10)
    again = requests.post(f"{api}/messages", json=body, headers=headers, timeout=10)

    assert first.status_code == again.status_code == 202, first.text
    assert first.json() == again.json()
    message_id = first.json()["id"]
    wait_until(
        lambda: requests.get(f"{api}/messages/{message_id}", headers=headers, timeout=5).json()["read_at"],
        timeout=60,
        what="the message to be read",
        interval=0.5,
    )
    # The subscriber is down: the dispatcher keeps retrying the first event.
    wait_until(
        lambda: stack.query("SELECT COUNT(*) FROM deliveries_eventdeliveryattempt WHERE outcome = 'failed'")[0][0] >= 2,
        timeout=30,
        what="failed attempts while the subscriber is down",
        interval=0.5,
    )
    with Subscriber(SECRET, port=subscriber_port) as subscriber:
        wait_until(lambda: "message.read" in subscriber.types(), timeout=30, what="the read event", interval=0.2)

    recipients = [entry["to"].lstrip("+") for entry in stack.messages()]
    assert recipients.count(TO.lstrip("+")) == 1, "sent exactly once"
    events = [event for event, _ in subscriber.received]
    assert [event["type"] for event in events] == [
        "message.accepted",
        "message.sent",
        "message.delivered",
        "message.read",
    ]
    assert all(valid for _, valid in subscriber.received), "every event is signed with the subscription's secret"
    assert {event["data"]["message_id"] for event in events} == {message_id}
    # Meta's timestamps have whole seconds; `accepted` is our clock's.
    occurred = [int(datetime.fromisoformat(event["data"]["occurred_at"]).timestamp()) for event in events]
    assert occurred == sorted(occurred)
