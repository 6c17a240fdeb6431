"""Admin: "Sync templates now" on business accounts, template page with preview and opt-out marks."""

import pytest
from django.urls import reverse

from templates_app.models import MessageTemplate

pytestmark = pytest.mark.django_db


def test_sync_templates_now_action_on_business_accounts(admin_client, sim_account):
    response = admin_client.post(
        reverse("admin:wacampaigns_businessaccount_changelist"),
        {"action": "business_accounts_templates_sync", "_selected_action": [sim_account.pk]},
        follow=True,
    )

    assert "6 new, 0 updated, 0 gone at Meta" in response.content.decode()
    assert MessageTemplate.objects.filter(business_account=sim_account).count() == 6


def test_template_page_shows_the_bubble_and_marks_a_synced_quick_reply_as_opt_out(admin_client, sim_account):
    admin_client.post(
        reverse("admin:wacampaigns_businessaccount_changelist"),
        {"action": "business_accounts_templates_sync", "_selected_action": [sim_account.pk]},
    )
    template = MessageTemplate.objects.get(name="spring_sale")
    url = reverse("admin:templates_app_messagetemplate_change", args=[template.pk])

    page = admin_client.get(url).content.decode()
    saved = admin_client.post(url, {"opt_out_button_texts": ["Stop promotions"]})

    assert 'class="wa-bubble"' in page
    assert saved.status_code == 302
    template.refresh_from_db()
    assert template.opt_out_button_texts == ["Stop promotions"]
