"""Fixtures for the sending engine: the simulator in-process on a loopback port, and a campaign pointed at it."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource, Tag
from contacts.services import contact_consent_record
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from tests import factories
from wacampaigns.models import Campaign
from wacampaigns.simulator.server import Simulator

TOKEN = "simulator-access-token"
PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
SPRING_SALE = [
    {"type": "HEADER", "format": "TEXT", "text": "Spring Sale"},
    {
        "type": "BODY",
        "text": "Hi {{1}}, our Spring Sale is on! Use promo code {{2}} for an extra 20% off.",
        "example": {"body_text": [["Mark", "SPRING20"]]},
    },
    {"type": "FOOTER", "text": "Not interested? Tap Stop promotions"},
    {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
]


class SimulatorHandle:
    def __init__(self, simulator: Simulator):
        self.simulator = simulator
        self.base_url = simulator.base_url

    def messages(self) -> list[dict]:
        return requests.get(f"{self.base_url}/_sim/messages", timeout=5).json()

    def stats(self) -> dict:
        return requests.get(f"{self.base_url}/_sim/stats", timeout=5).json()

    def configure(self, **changes) -> None:
        requests.post(f"{self.base_url}/_sim/config", json=changes, timeout=5).raise_for_status()


@pytest.fixture
def simulator_defaults():
    return {
        "webhooks_enabled": False,
        "throughput_per_second": 10_000.0,
        "fail_131026_share": 0.0,
        "fail_131049_share": 0.0,
        "fail_131050_share": 0.0,
    }


@pytest.fixture
def start_simulator(start_simulator):
    """The root fixture's simulators, with the handle these tests use."""

    def start(**overrides) -> SimulatorHandle:
        return SimulatorHandle(start_simulator(**overrides))

    return start


@pytest.fixture
def simulator(start_simulator) -> SimulatorHandle:
    return start_simulator()


@pytest.fixture
def sending_settings(settings):
    settings.SENDER_TIME_BOX_SECONDS = 10
    settings.SENDER_THREADS = 4
    settings.SENDER_BATCH_SIZE = 50
    settings.GRAPH_API_READ_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def phone_number(simulator, sending_settings):
    account = factories.business_account(
        waba_id=WABA_ID,
        access_token=TOKEN,
        graph_api_base_url=simulator.base_url,
        graph_api_version="v23.0",
        messaging_limit_tier="TIER_UNLIMITED",
    )
    return factories.phone_number(business_account=account, phone_number_id=PHONE_NUMBER_ID, throughput_limit=1000)


@pytest.fixture
def spring_sale(phone_number) -> MessageTemplate:
    return MessageTemplate.objects.create(
        business_account=phone_number.business_account,
        name="spring_sale",
        language="en_US",
        category=TemplateCategory.MARKETING,
        status=TemplateStatus.APPROVED,
        components=SPRING_SALE,
    )


def opted_in(**overrides):
    contact = factories.contact(**overrides)
    contact_consent_record(
        contact=contact,
        kind=ConsentKind.OPT_IN,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.IMPORT,
        occurred_at=timezone.now(),
    )
    return contact


@pytest.fixture
def campaign_for(phone_number, spring_sale):
    def make(contacts: int = 5, **overrides) -> Campaign:
        tag = Tag.objects.create(name=f"audience-{Campaign.objects.count()}")
        for _ in range(contacts):
            opted_in().tags.add(tag)
        fields = {
            "sender": phone_number,
            "template_name": "spring_sale",
            "fallback_language": "en_US",
            "variable_mapping": {
                "body.1": {"source": "contact_field", "value": "name"},
                "body.2": {"source": "constant", "value": "SPRING20"},
            },
            **overrides,
        }
        campaign = factories.campaign(**fields)
        campaign.include_tags.add(tag)
        return campaign

    return make
