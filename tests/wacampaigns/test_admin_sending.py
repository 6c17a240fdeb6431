"""The campaign admin: pre-flight page, launch, controls, progress, permissions."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from contacts.models import ConsentKind, ConsentScope, ConsentSource
from contacts.services import contact_consent_record
from deliveries.models import Delivery, DeliveryStatus
from deliveries.sending.materialization import campaign_materialize
from deliveries.sending.sender import Sender
from tests import factories
from wacampaigns.models import CampaignStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def test_the_preflight_page_counts_the_audience_and_its_exclusions(staff, campaign_for, settings):
    settings.STAFF_TEST_PHONE_NUMBERS = []
    campaign = campaign_for(contacts=4)
    tag = campaign.include_tags.get()
    leaver = tag.contacts.first()
    contact_consent_record(
        contact=leaver, kind=ConsentKind.OPT_OUT, scope=ConsentScope.MARKETING, source=ConsentSource.KEYWORD
    )
    factories.contact(phone="+12025550123").tags.add(tag)  # never opted in

    page = staff.get(reverse("admin:wacampaigns_campaign_launch", args=[campaign.pk]))

    assert page.status_code == 200
    body = page.content.decode()
    assert page.context["preflight"].audience_total == 5
    assert page.context["preflight"].eligible == 3
    assert dict(page.context["preflight"].exclusions) == {"Opted out": 1, "No opt-in": 1}
    assert "Launch now" in body
    assert "SPRING20" in body  # the sample message, rendered
    assert '<div class="wa-bubble">' in body  # as the recipient will see it


def test_the_preflight_refuses_an_unapproved_template_and_warns_over_the_tier(staff, campaign_for, spring_sale):
    campaign = campaign_for(contacts=3)
    account = campaign.sender.business_account
    account.messaging_limit_tier = "TIER_250"
    account.save()
    factories.delivery(
        sender=campaign.sender,
        recipient="+34600000000",
        accepted_at="2099-01-01T00:00:00Z",
        status=DeliveryStatus.ACCEPTED,
        wamid="wamid.x",
    )
    preflight = staff.get(reverse("admin:wacampaigns_campaign_launch", args=[campaign.pk])).context["preflight"]
    assert preflight.can_launch
    assert preflight.unique_recipients_24h == 1
    assert preflight.tier_limit == 250
    spring_sale.status = "PENDING"
    spring_sale.save()
    page = staff.get(reverse("admin:wacampaigns_campaign_launch", args=[campaign.pk]))
    assert not page.context["preflight"].can_launch
    assert "Launch now" not in page.content.decode()


def test_confirming_launches_in_the_background_and_controls_work(staff, campaign_for, simulator):
    campaign = campaign_for(contacts=3)
    response = staff.post(reverse("admin:wacampaigns_campaign_launch", args=[campaign.pk]), {"when": "now"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.LAUNCHING
    assert campaign.deliveries.count() == 0  # materialization runs in a task

    campaign_materialize(campaign_id=campaign.pk)
    control = lambda name: staff.post(reverse("admin:wacampaigns_campaign_control", args=[campaign.pk, name]))  # noqa: E731
    control("pause")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    control("resume")
    Sender(phone_number_id=campaign.sender_id).run()
    change = staff.get(reverse("admin:wacampaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "accepted" in change
    assert "Current rate" in change
    Delivery.objects.filter(campaign=campaign).update(status=DeliveryStatus.FAILED, error_class="retryable")
    control("retry_failed")
    assert campaign.deliveries.filter(status=DeliveryStatus.QUEUED).count() == 3
    control("cancel")
    assert campaign.deliveries.filter(status=DeliveryStatus.CANCELLED).count() == 3


def test_send_test_goes_to_staff_numbers_first(staff, campaign_for, simulator, settings):
    settings.STAFF_TEST_PHONE_NUMBERS = ["+34699000001"]
    campaign = campaign_for(contacts=2)
    staff.post(reverse("admin:wacampaigns_campaign_control", args=[campaign.pk, "send_test"]))
    test_row = Delivery.objects.get(test_for_campaign=campaign)
    assert (test_row.recipient, test_row.priority) == ("+34699000001", 0)
    Sender(phone_number_id=campaign.sender_id).run()
    (entry,) = simulator.messages()
    assert entry["to"] == "+34699000001"
    assert entry["template"] == "spring_sale"


def test_staff_without_the_launch_permission_cannot_launch(client, campaign_for):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    campaign = campaign_for(contacts=1)
    assert client.post(reverse("admin:wacampaigns_campaign_launch", args=[campaign.pk])).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
