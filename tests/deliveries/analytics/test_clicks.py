"""Tracked links: a valid token counts the click and redirects to the campaign's target; nothing else redirects."""

import pytest
from django.urls import reverse

from deliveries.analytics.clicks import delivery_click_token, delivery_click_url
from tests import factories

pytestmark = pytest.mark.django_db

TARGET = "https://shop.example.com/autumn?utm_source=whatsapp"


@pytest.fixture
def delivery():
    campaign = factories.campaign(click_target_url=TARGET)
    return factories.delivery(campaign=campaign)


def test_a_valid_token_records_the_click_and_redirects_to_the_campaign_target(client, delivery, settings):
    settings.PUBLIC_BASE_URL = "https://wa.example.org"
    url = delivery_click_url(delivery)
    assert url.startswith("https://wa.example.org/t/")
    path = url.removeprefix("https://wa.example.org")
    first = client.get(path)
    second = client.get(path, {"next": "https://evil.example/"})  # extra parameters change nothing
    assert (first.status_code, first["Location"]) == (302, TARGET)
    assert (second.status_code, second["Location"]) == (302, TARGET)
    delivery.refresh_from_db()
    assert delivery.click_count == 2
    assert delivery.clicked_at is not None


def test_link_previews_are_redirected_but_not_counted(client, delivery):
    response = client.get(
        reverse("deliveries:click", args=[delivery_click_token(delivery)]), headers={"User-Agent": "WhatsApp/2.23.20 A"}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.click_count, delivery.clicked_at) == (0, None)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
        lambda token: ("3" if token[0] == "2" else "2") + token[1:],  # delivery id changed
        lambda token: "https://evil.example/",  # a URL instead of a token
        lambda token: token.split(".")[0],  # no signature
    ],
)
def test_tampered_tokens_get_a_404_and_no_redirect(client, delivery, tamper):
    token = tamper(delivery_click_token(delivery))
    response = client.get(f"/t/{token}/")
    assert response.status_code == 404
    assert "Location" not in response
    delivery.refresh_from_db()
    assert delivery.click_count == 0


@pytest.mark.parametrize("target", ["", "javascript:alert(1)", "//evil.example/"])
def test_a_campaign_without_an_http_target_redirects_nowhere(client, target):
    campaign = factories.campaign()
    campaign.__class__.objects.filter(pk=campaign.pk).update(click_target_url=target)
    delivery = factories.delivery(campaign=campaign)
    response = client.get(reverse("deliveries:click", args=[delivery_click_token(delivery)]))
    assert response.status_code == 404
    assert "Location" not in response


def test_an_api_send_has_no_tracked_link(client):
    delivery = factories.delivery()
    response = client.get(reverse("deliveries:click", args=[delivery_click_token(delivery)]))
    assert response.status_code == 404
