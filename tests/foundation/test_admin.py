"""Admin list pages stay cheap as tables grow; secrets are write-only."""

import uuid

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import (
    ConsentEvent,
    ConsentKind,
    ConsentScope,
    ConsentSource,
    Contact,
    ContactImport,
    ErasedNumber,
    Tag,
)
from contacts.services import contact_consent_record
from deliveries.api.models import (
    ApiEvent,
    ApiEventKind,
    ApiKey,
    EventDeliveryAttempt,
    EventDeliveryOutcome,
    EventSubscription,
)
from deliveries.models import Delivery, InboundMessage, WebhookEvent
from templates_app.models import MessageTemplate
from tests import factories
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber

pytestmark = pytest.mark.django_db


def _consent_event():
    return contact_consent_record(
        contact=factories.contact(), kind=ConsentKind.OPT_IN, scope=ConsentScope.MARKETING, source=ConsentSource.ADMIN
    )


def _webhook_event():
    return WebhookEvent.objects.create(
        raw_body="{}", signature_valid=True, business_account=factories.business_account()
    )


def _inbound_message():
    sender = factories.phone_number()
    return InboundMessage.objects.create(
        wamid=f"wamid.{timezone.now().timestamp()}{Contact.objects.count()}",
        business_account=sender.business_account,
        phone_number=sender,
        contact=factories.contact(),
        from_phone="34600000000",
        message_type="text",
        text="hello",
        sent_at=timezone.now(),
    )


def _campaign_delivery():
    campaign = factories.campaign()
    return factories.delivery(campaign=campaign, template=factories.template())


def _contact_import():
    return ContactImport.objects.create(original_name="contacts.csv")


def _api_key():
    return ApiKey.objects.create(
        name="Shop",
        business_account=factories.business_account(),
        prefix=uuid.uuid4().hex[:16],
        key_hash=uuid.uuid4().hex * 2,
    )


def _event_subscription():
    return EventSubscription.objects.create(
        name="CRM", business_account=factories.business_account(), url="https://crm.example.com/hooks", secret="s"
    )


def _api_event():
    return ApiEvent.objects.create(kind=ApiEventKind.values[0], status="sent", created_at=timezone.now())


def _event_delivery_attempt():
    return EventDeliveryAttempt.objects.create(
        subscription=_event_subscription(),
        event=_api_event(),
        attempted_at=timezone.now(),
        outcome=EventDeliveryOutcome.values[0],
    )


BUILDERS = {
    ContactImport: _contact_import,
    ApiKey: _api_key,
    EventSubscription: _event_subscription,
    ApiEvent: _api_event,
    EventDeliveryAttempt: _event_delivery_attempt,
    MetaApp: factories.meta_app,
    BusinessAccount: factories.business_account,
    PhoneNumber: factories.phone_number,
    Campaign: factories.campaign,
    Contact: factories.contact,
    Tag: lambda: Tag.objects.create(name=f"tag {Tag.objects.count()}"),
    ConsentEvent: _consent_event,
    ErasedNumber: lambda: ErasedNumber.objects.create(number_hash=f"{ErasedNumber.objects.count():064d}"),
    MessageTemplate: factories.template,
    Delivery: _campaign_delivery,
    WebhookEvent: _webhook_event,
    InboundMessage: _inbound_message,
}


def test_every_product_model_has_an_admin():
    product_models = {
        m
        for m in admin.site._registry
        if m._meta.app_label in ("contacts", "wacampaigns", "templates_app", "deliveries")
    }
    assert product_models == set(BUILDERS)


def _changelist_queries(client, model) -> list[str]:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("model", list(BUILDERS), ids=lambda m: m.__name__)
def test_list_pages_run_a_fixed_number_of_queries_as_rows_grow(admin_client, model):
    for _ in range(3):
        BUILDERS[model]()
    few = _changelist_queries(admin_client, model)
    for _ in range(12):
        BUILDERS[model]()
    many = _changelist_queries(admin_client, model)
    assert len(many) == len(few), "\n".join(many)


@pytest.mark.parametrize("model", [Delivery, Contact, ConsentEvent, WebhookEvent, InboundMessage])
def test_large_tables_never_count_every_row(admin_client, model):
    BUILDERS[model]()
    counts = [sql for sql in _changelist_queries(admin_client, model) if "COUNT(" in sql.upper()]
    assert counts, "the page shows a (bounded) result count"
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_system_written_rows_are_read_only(admin_client):
    delivery = _campaign_delivery()
    assert admin_client.get(reverse("admin:deliveries_delivery_add")).status_code == 403
    response = admin_client.post(reverse("admin:deliveries_delivery_change", args=[delivery.pk]), {"status": "read"})
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "queued"


def test_secrets_are_never_shown_and_blank_keeps_them(admin_client):
    app = factories.meta_app(app_secret="s3cret-app-value", webhook_verify_token="verify-value-123")
    url = reverse("admin:wacampaigns_metaapp_change", args=[app.pk])
    page = admin_client.get(url).content.decode()
    assert "s3cret-app-value" not in page
    assert "verify-value-123" not in page

    response = admin_client.post(
        url, {"name": "Renamed", "app_id": app.app_id, "app_secret": "", "webhook_verify_token": "new-verify-token"}
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert (app.name, app.app_secret, app.webhook_verify_token) == ("Renamed", "s3cret-app-value", "new-verify-token")


def test_secrets_are_encrypted_at_rest():
    account = factories.business_account(access_token="EAAG-plain-token")
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM wacampaigns_businessaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert "EAAG-plain-token" not in stored
    assert BusinessAccount.objects.get(pk=account.pk).access_token == "EAAG-plain-token"


def test_consent_recorded_in_the_admin_goes_through_the_service(admin_client, admin_user):
    contact = factories.contact()
    response = admin_client.post(
        reverse("admin:contacts_consentevent_add"),
        {
            "contact": contact.pk,
            "kind": "opt_in",
            "scope": "marketing",
            "source": "admin",
            "occurred_at_0": "2026-01-02",
            "occurred_at_1": "10:00:00",
            "evidence": "Asked at the counter",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.marketing_consent == "opted_in"
    assert contact.consent_events.get().recorded_by == admin_user
