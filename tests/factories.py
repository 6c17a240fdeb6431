"""Small builders for test rows; each takes overrides as keyword arguments."""

import itertools

from django.utils import timezone

from contacts.models import Contact
from deliveries.models import Delivery
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from wacampaigns.models import BusinessAccount, Campaign, MetaApp, PhoneNumber

_sequence = itertools.count(1)


def meta_app(**overrides) -> MetaApp:
    n = next(_sequence)
    fields = {
        "name": f"App {n}",
        "app_id": f"9{n:014d}",
        "app_secret": f"app-secret-{n}",
        "webhook_verify_token": f"verify-{n}",
    }
    return MetaApp.objects.create(**{**fields, **overrides})


def business_account(**overrides) -> BusinessAccount:
    n = next(_sequence)
    fields = {"name": f"Account {n}", "waba_id": f"8{n:014d}", "access_token": f"token-{n}"}
    if "meta_app" not in overrides:
        fields["meta_app"] = meta_app()
    return BusinessAccount.objects.create(**{**fields, **overrides})


def phone_number(**overrides) -> PhoneNumber:
    n = next(_sequence)
    fields = {"phone_number_id": f"7{n:014d}", "display_phone_number": f"+1 555 01{n:04d}"}
    if "business_account" not in overrides:
        fields["business_account"] = business_account()
    return PhoneNumber.objects.create(**{**fields, **overrides})


def contact(**overrides) -> Contact:
    n = next(_sequence)
    return Contact.objects.create(**{"phone": f"+3461{n:07d}", "name": f"Contact {n}", **overrides})


def template(**overrides) -> MessageTemplate:
    fields = {
        "name": f"template_{next(_sequence)}",
        "language": "en_US",
        "category": TemplateCategory.MARKETING,
        "status": TemplateStatus.APPROVED,
        "components": [{"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Ana"]]}}],
    }
    if "business_account" not in overrides:
        fields["business_account"] = business_account()
    return MessageTemplate.objects.create(**{**fields, **overrides})


def campaign(**overrides) -> Campaign:
    fields = {"name": f"Campaign {next(_sequence)}", "template_name": "spring_sale"}
    if "sender" not in overrides:
        fields["sender"] = phone_number()
    return Campaign.objects.create(**{**fields, **overrides})


def delivery(**overrides) -> Delivery:
    fields = {"not_before": timezone.now()}
    if "sender" not in overrides:
        fields["sender"] = overrides["campaign"].sender if "campaign" in overrides else phone_number()
    if "contact" not in overrides:
        fields["contact"] = contact()
    return Delivery.objects.create(**{**fields, **overrides})
