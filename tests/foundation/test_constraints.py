"""The schema itself refuses bad data, whatever code writes it."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.models import Contact, MarketingConsent, Tag
from deliveries.models import Delivery, DeliveryStatus, SkipReason
from templates_app.models import MessageTemplate
from tests import factories
from wacampaigns.models import Campaign, CampaignStatus, PhoneNumber

pytestmark = pytest.mark.django_db


def _refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_duplicate_phone_is_refused():
    factories.contact(phone="+34612345678")
    _refused(lambda: factories.contact(phone="+34612345678"))
    assert Contact.objects.filter(phone="+34612345678").count() == 1


def test_contacts_without_phone_are_allowed_when_meta_identifies_them():
    factories.contact(phone=None, business_user_id="US.1349120865530274")
    factories.contact(phone=None, wa_id="5511987654321")
    _refused(lambda: factories.contact(phone=None))
    assert Contact.objects.filter(phone__isnull=True).count() == 2


def test_phone_must_be_e164():
    _refused(lambda: factories.contact(phone="612345678"))
    assert not Contact.objects.filter(phone="612345678").exists()


def test_tag_names_are_unique_ignoring_case():
    Tag.objects.create(name="VIP")
    _refused(lambda: Tag.objects.create(name="vip"))
    assert Tag.objects.count() == 1


def test_one_delivery_per_contact_per_campaign():
    campaign = factories.campaign()
    contact = factories.contact()
    factories.delivery(campaign=campaign, contact=contact)
    _refused(lambda: factories.delivery(campaign=campaign, contact=contact))
    # Sends without a campaign (the API) may repeat.
    factories.delivery(contact=contact, sender=campaign.sender)
    factories.delivery(contact=contact, sender=campaign.sender)
    # So may the rows of erased contacts (no contact any more) in one campaign.
    factories.delivery(campaign=campaign, contact=None)
    factories.delivery(campaign=campaign, contact=None)
    assert Delivery.objects.filter(campaign=campaign, contact=contact).count() == 1
    assert Delivery.objects.filter(campaign=campaign, contact__isnull=True).count() == 2
    assert Delivery.objects.filter(contact=contact, campaign__isnull=True).count() == 2


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (Delivery, "status", "lost"),
        (Campaign, "status", "finished"),
        (Contact, "marketing_consent", "maybe"),
        (MessageTemplate, "status", "WHATEVER"),
        (PhoneNumber, "quality_rating", "BLUE"),
    ],
)
def test_invalid_choice_values_are_refused(model, field, value):
    row = {
        Delivery: factories.delivery,
        Campaign: factories.campaign,
        Contact: factories.contact,
        MessageTemplate: factories.template,
        PhoneNumber: factories.phone_number,
    }[model]()
    _refused(lambda: model.objects.filter(pk=row.pk).update(**{field: value}))
    row.refresh_from_db()
    assert getattr(row, field) != value


def test_wamid_is_unique():
    factories.delivery(wamid="wamid.ABC", status=DeliveryStatus.ACCEPTED)
    _refused(lambda: factories.delivery(wamid="wamid.ABC", status=DeliveryStatus.ACCEPTED))
    assert Delivery.objects.filter(wamid="wamid.ABC").count() == 1


def test_skipped_rows_say_why_and_only_skipped_rows_do():
    _refused(lambda: factories.delivery(status=DeliveryStatus.SKIPPED))
    _refused(lambda: factories.delivery(status=DeliveryStatus.QUEUED, skip_reason=SkipReason.OPTED_OUT))
    row = factories.delivery(status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.OPTED_OUT)
    assert row.skip_reason == SkipReason.OPTED_OUT


def test_accepted_rows_carry_a_wamid_and_claimed_rows_a_claim():
    _refused(lambda: factories.delivery(status=DeliveryStatus.ACCEPTED))
    _refused(lambda: factories.delivery(status=DeliveryStatus.SENDING))
    assert not Delivery.objects.exists()


def test_campaign_schedule_and_launch_times_match_status():
    _refused(lambda: factories.campaign(status=CampaignStatus.SCHEDULED))
    _refused(lambda: factories.campaign(status=CampaignStatus.RUNNING))
    campaign = factories.campaign(status=CampaignStatus.RUNNING, launched_at=timezone.now())
    assert campaign.status == CampaignStatus.RUNNING


def test_throughput_limit_must_be_positive():
    _refused(lambda: factories.phone_number(throughput_limit=0))
    assert factories.phone_number().throughput_limit == 80


def test_template_names_follow_metas_pattern_and_are_unique_per_language():
    account = factories.business_account()
    factories.template(business_account=account, name="spring_sale", language="en_US")
    _refused(lambda: factories.template(business_account=account, name="spring_sale", language="en_US"))
    _refused(lambda: factories.template(business_account=account, name="Spring Sale", language="es"))
    factories.template(business_account=account, name="spring_sale", language="es")
    assert MessageTemplate.objects.filter(name="spring_sale").count() == 2


def test_opting_out_of_everything_implies_marketing_opt_out():
    contact = factories.contact()
    _refused(
        lambda: Contact.objects.filter(pk=contact.pk).update(
            opted_out_of_all_at=timezone.now(),
            marketing_consent=MarketingConsent.OPTED_IN,
            marketing_consent_at=timezone.now(),
        )
    )
    contact.refresh_from_db()
    assert contact.opted_out_of_all_at is None
