"""Helpers for webhook tests: a Meta app whose secret signs the posts, accounts matching the samples.

`post_webhook` posts to the real endpoint (which only stores the raw row) and then drains the pending rows in
this process, as the drainer task does under qcluster, so a test sees the effects when the call returns.
"""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from deliveries.webhooks.draining import webhook_events_drain_pending
from tests import factories
from wacampaigns.whatsapp.signatures import SIGNATURE_HEADER, compute_signature

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "whatsapp"
WEBHOOK_SAMPLES = sorted(path.name for path in SAMPLES.glob("*.json") if path.name.startswith(("webhook_", "v24_")))
APP_SECRET = "webhook-test-app-secret"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def meta_app(db):
    return factories.meta_app(app_secret=APP_SECRET, webhook_verify_token="the-verify-token")


@pytest.fixture
def post_webhook(client, meta_app):
    """POSTs a payload (dict or raw bytes) signed with the app secret (or `secret=None`: unsigned), then drains.

    `drain=False` leaves the stored rows pending, as they are between the POST and the drainer's next look.
    """

    def post(payload, *, secret: str | None = APP_SECRET, signature: str | None = None, drain: bool = True):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        elif secret is not None:
            headers[SIGNATURE_HEADER] = compute_signature(body, secret)
        response = client.post(
            reverse("deliveries:whatsapp_webhook"), data=body, content_type="application/json", headers=headers
        )
        if drain:
            webhook_events_drain_pending()
        return response

    return post


@pytest.fixture
def sender(meta_app):
    """The account and number most samples name (WABA 5467539754836534, phone number id 1122334455667)."""
    account = factories.business_account(meta_app=meta_app, waba_id="5467539754836534")
    return factories.phone_number(business_account=account, phone_number_id="1122334455667")


def status_payload(*statuses: dict, phone_number_id: str = "1122334455667", waba_id: str = "5467539754836534") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                            "statuses": list(statuses),
                        },
                    }
                ],
            }
        ],
    }


def status(wamid: str, name: str, timestamp: int, **extra) -> dict:
    return {"id": wamid, "status": name, "timestamp": str(timestamp), "recipient_id": "34611111111", **extra}


def inbound_payload(*messages: dict, contacts=None, phone_number_id="1122334455667", waba_id="5467539754836534"):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
                            "contacts": contacts or [],
                            "messages": list(messages),
                        },
                    }
                ],
            }
        ],
    }
