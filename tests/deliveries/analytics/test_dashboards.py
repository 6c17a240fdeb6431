"""Dashboard pages: access, the numbers shown, JSON for polling, keyset drill-down, streamed CSV, overview."""

import csv
import io
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from deliveries.analytics.recipients import recipients_page
from deliveries.models import DeliveryStatus, SkipReason
from tests import factories
from wacampaigns.models import CampaignStatus, QualityRating

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    campaign = factories.campaign(name="Autumn sale", template_name="autumn_sale")
    now = timezone.now()
    states = [
        {"status": DeliveryStatus.READ, "sent_at": now, "delivered_at": now, "read_at": now, "replied_at": now},
        {"status": DeliveryStatus.READ, "sent_at": now, "read_at": now},  # read without delivered
        {"status": DeliveryStatus.DELIVERED, "sent_at": now, "delivered_at": now, "clicked_at": now, "click_count": 3},
        {"status": DeliveryStatus.SENT, "sent_at": now},
        {"status": DeliveryStatus.FAILED, "failed_at": now, "error_code": 131026, "error_title": "Undeliverable"},
        {"status": DeliveryStatus.SKIPPED, "skip_reason": SkipReason.NO_OPT_IN},
        {"status": DeliveryStatus.QUEUED},
    ]
    for fields in states:
        factories.delivery(campaign=campaign, **fields)
    return campaign


def _figure(html: str, key: str) -> int:
    return int(re.search(rf'data-figure="{re.escape(key)}"[^>]*>(\d+)<', html).group(1))


def test_dashboard_needs_staff_and_the_dashboard_permission(client, django_user_model, campaign):
    url = reverse("deliveries:campaign_dashboard", args=[campaign.pk])
    assert client.get(url).status_code == 302  # to the admin login
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    assert client.get(reverse("deliveries:campaign_export", args=[campaign.pk])).status_code == 403


def test_dashboard_shows_the_counted_numbers_with_meta_error_meanings(dashboard_client, campaign):
    response = dashboard_client.get(reverse("deliveries:campaign_dashboard", args=[campaign.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    expected = {"targeted": 7, "sent": 4, "delivered": 3, "read": 2, "failed": 1, "skipped": 1, "in_flight": 1}
    expected |= {"replied": 1, "clicked": 1, "opted_out": 0, "failed:131026": 1, "skipped:no_opt_in": 1}
    assert {key: _figure(html, key) for key in expected} == expected
    assert "Undeliverable: not on WhatsApp" in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert 'id="site-name"' in html  # the admin's header: the page extends the admin's base

    data = dashboard_client.get(reverse("deliveries:campaign_dashboard_data", args=[campaign.pk])).json()
    assert data["figures"]["delivered"] == {"count": 3, "rate": 75.0}
    assert data["funnel"]["counts"] == [7, 4, 3, 2, 1, 1]
    assert sum(data["timeline"]["sent"]) == 4
    assert sum(data["timeline"]["delivered"]) == 3
    assert data["live"] is False


def test_drill_down_pages_by_keyset_across_statuses(dashboard_client, campaign):
    delivered = recipients_page(campaign_id=campaign.pk, metric="delivered", size=2)
    assert [row.status for row in delivered.rows] == [DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    older = recipients_page(campaign_id=campaign.pk, metric="delivered", size=2, before=delivered.next_before)
    assert [row.status for row in older.rows] == [DeliveryStatus.READ]
    assert older.next_before is None

    url = reverse("deliveries:campaign_recipients", args=[campaign.pk])
    failed = dashboard_client.get(url, {"metric": "failed", "value": "131026"})
    assert failed.status_code == 200
    assert failed.content.decode().count("Undeliverable") >= 1
    assert len(failed.context["page"].rows) == 1
    clicked = dashboard_client.get(url, {"metric": "clicked"})
    assert [row.click_count for row in clicked.context["page"].rows] == [3]
    assert dashboard_client.get(url, {"metric": "nonsense"}).status_code == 404
    assert dashboard_client.get(url, {"metric": "failed", "value": "x"}).status_code == 404


def test_export_streams_every_recipient_with_formulas_neutralized(dashboard_client, campaign):
    evil = factories.contact(name='=HYPERLINK("http://evil.example")')
    factories.delivery(campaign=campaign, contact=evil, status=DeliveryStatus.QUEUED)
    response = dashboard_client.get(reverse("deliveries:campaign_export", args=[campaign.pk]))
    assert response.status_code == 200
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 8
    assert [int(row["id"]) for row in rows] == sorted(int(row["id"]) for row in rows)
    assert {row["contact__name"] for row in rows} >= {'\'=HYPERLINK("http://evil.example")'}
    assert all(row["contact__phone"].startswith("'+") for row in rows)
    failed = next(row for row in rows if row["status"] == "failed")
    assert failed["error_meaning"].startswith("Undeliverable")
    clicked = next(row for row in rows if row["click_count"] == "3")
    assert clicked["clicked_at"]


def test_overview_lists_templates_failures_and_account_limits(dashboard_client, campaign):
    campaign.status = CampaignStatus.RUNNING
    campaign.launched_at = timezone.now()
    campaign.save()
    number = campaign.sender
    number.quality_rating = QualityRating.YELLOW
    number.save()
    response = dashboard_client.get(reverse("deliveries:analytics_overview"))
    assert response.status_code == 200
    html = response.content.decode()
    templates = response.context["overview"].templates
    assert [(t.template_name, t.numbers.targeted, t.numbers.delivered) for t in templates] == [("autumn_sale", 7, 3)]
    assert "Medium (yellow)" in html
    assert number.business_account.get_messaging_limit_tier_display() in html
    assert re.search(r"<td>131026</td><td>Undeliverable", html)
    assert reverse("deliveries:campaign_dashboard", args=[campaign.pk]) in html
    assert json.loads(json.dumps(response.context["overview"].totals.failed_by_code)) == {"131026": 1}


def test_the_campaign_page_links_its_dashboard_and_edits_the_click_target(admin_client, campaign):
    response = admin_client.get(reverse("admin:wacampaigns_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("deliveries:campaign_dashboard", args=[campaign.pk]) in html
    assert 'name="click_target_url"' in html
