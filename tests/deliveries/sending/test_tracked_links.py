"""A campaign that maps a parameter to the tracked link sends each recipient their own redirect."""

import pytest

from deliveries.models import Delivery
from deliveries.sending.materialization import campaign_materialize
from deliveries.sending.sender import Sender
from wacampaigns.services import campaign_launch

pytestmark = pytest.mark.django_db


def test_each_recipient_gets_a_tracked_link_that_counts_their_click_and_leads_to_the_target(
    simulator, campaign_for, client, settings
):
    settings.PUBLIC_BASE_URL = "https://campaigns.example.com"
    campaign = campaign_for(
        contacts=2,
        click_target_url="https://shop.example.com/spring",
        variable_mapping={
            "body.1": {"source": "contact_field", "value": "name"},
            "body.2": {"source": "tracked_link", "value": ""},
        },
    )
    campaign_launch(campaign=campaign)
    campaign_materialize(campaign_id=campaign.pk)
    Sender(phone_number_id=campaign.sender_id).run()

    sent = {entry["biz_opaque_callback_data"]: entry for entry in simulator.messages()}
    deliveries = list(Delivery.objects.filter(campaign=campaign))
    links = {}
    for delivery in deliveries:
        body = next(c for c in sent[str(delivery.pk)]["components"] if c["type"] == "body")
        links[delivery.pk] = body["parameters"][1]["text"]
    assert len(set(links.values())) == 2
    assert all(link.startswith("https://campaigns.example.com/t/") for link in links.values())

    clicked = deliveries[0]
    response = client.get(links[clicked.pk].removeprefix("https://campaigns.example.com"))
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example.com/spring"
    clicked.refresh_from_db()
    assert clicked.click_count == 1
    assert Delivery.objects.filter(campaign=campaign, click_count=0).count() == 1
