"""Demo data for `make demo`: an account pointed at the simulator, contacts with consent and tags,
templates and a draft campaign. Idempotent: running it again changes nothing that exists."""

import random
from dataclasses import dataclass
from datetime import timedelta

import phonenumbers
from django.db import transaction
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact, Tag
from contacts.services import contact_consent_record
from templates_app.models import MessageTemplate, ParameterFormat, TemplateCategory, TemplateStatus
from wacampaigns.models import BusinessAccount, Campaign, MessagingLimitTier, MetaApp, PhoneNumber, VariableSource

# The simulator's defaults (`python manage.py simulate_cloud_api --help`).
SIMULATOR_APP_ID = "100000000000000"
SIMULATOR_APP_SECRET = "simulator-app-secret"  # noqa: S105 - a well-known value of the local simulator
SIMULATOR_ACCESS_TOKEN = "simulator-access-token"  # noqa: S105
SIMULATOR_WABA_ID = "200000000000001"
SIMULATOR_PHONE_NUMBER_ID = "100000000000001"
DEMO_VERIFY_TOKEN = "demo-verify-token"  # noqa: S105

# (region, template language, share): where the demo audience lives.
_REGIONS = [("ES", "es", 0.35), ("BR", "pt_BR", 0.25), ("GB", "en_US", 0.2), ("MX", "es", 0.1), ("IN", "en_US", 0.1)]
_FIRST_NAMES = [
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elena",
    "Felipe",
    "Grace",
    "Hugo",
    "Inés",
    "João",
    "Kiran",
    "Lucía",
    "Mateo",
    "Nadia",
    "Óscar",
    "Priya",
    "Raúl",
    "Sofia",
    "Tomás",
    "Valentina",
]
_CITIES = {"ES": "Madrid", "BR": "São Paulo", "GB": "London", "MX": "Guadalajara", "IN": "Mumbai"}


@dataclass(frozen=True)
class DemoSummary:
    contacts: int
    templates: int
    campaign: Campaign


def _demo_templates(account: BusinessAccount) -> int:
    definitions = [
        (
            "spring_sale",
            "en_US",
            TemplateCategory.MARKETING,
            ParameterFormat.POSITIONAL,
            [
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, our spring sale is on: {{2}} off everything until Sunday.",
                    "example": {"body_text": [["Ana", "20%"]]},
                },
                {"type": "FOOTER", "text": "Reply STOP to stop promotions"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
            ],
        ),
        (
            "spring_sale",
            "es",
            TemplateCategory.MARKETING,
            ParameterFormat.POSITIONAL,
            [
                {
                    "type": "BODY",
                    "text": "Hola {{1}}, nuestras rebajas de primavera: {{2}} en todo hasta el domingo.",
                    "example": {"body_text": [["Ana", "20%"]]},
                },
                {"type": "FOOTER", "text": "Responde STOP para no recibir promociones"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
            ],
        ),
        (
            "order_update",
            "en_US",
            TemplateCategory.UTILITY,
            ParameterFormat.NAMED,
            [
                {
                    "type": "BODY",
                    "text": "Hello {{first_name}}, your order {{order_number}} has shipped.",
                    "example": {
                        "body_text_named_params": [
                            {"param_name": "first_name", "example": "Ana"},
                            {"param_name": "order_number", "example": "A-1001"},
                        ]
                    },
                },
            ],
        ),
    ]
    for name, language, category, parameter_format, components in definitions:
        MessageTemplate.objects.get_or_create(
            business_account=account,
            name=name,
            language=language,
            defaults={
                "category": category,
                "status": TemplateStatus.APPROVED,
                "parameter_format": parameter_format,
                "components": components,
                "opt_out_button_texts": ["Stop promotions"] if category == TemplateCategory.MARKETING else [],
            },
        )
    return len(definitions)


def _demo_numbers(count: int, rng: random.Random):
    """Valid, fictional-looking mobile numbers spread over a few countries."""
    made = 0
    while made < count:
        region, language, _ = rng.choices(_REGIONS, weights=[share for *_, share in _REGIONS])[0]
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        national = str(example.national_number)
        # Keep the leading digits (the mobile prefix), randomize the rest.
        keep = max(2, len(national) - 6)
        candidate = national[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
        number = phonenumbers.parse(candidate, region)
        if phonenumbers.is_valid_number(number):
            made += 1
            yield region, language, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def demo_data_load(*, simulator_base_url: str, contacts: int = 300, seed: int = 7) -> DemoSummary:
    """Creates what is missing of the demo setup."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    with transaction.atomic():
        app, _ = MetaApp.objects.get_or_create(
            app_id=SIMULATOR_APP_ID,
            defaults={
                "name": "Demo app (simulator)",
                "app_secret": SIMULATOR_APP_SECRET,
                "webhook_verify_token": DEMO_VERIFY_TOKEN,
            },
        )
        account, _ = BusinessAccount.objects.get_or_create(
            waba_id=SIMULATOR_WABA_ID,
            defaults={
                "meta_app": app,
                "name": "Demo shop",
                "access_token": SIMULATOR_ACCESS_TOKEN,
                "graph_api_base_url": simulator_base_url,
                # As the simulator reports it (`--messaging-limit-tier`).
                "messaging_limit_tier": MessagingLimitTier.TIER_10K,
            },
        )
        sender, _ = PhoneNumber.objects.get_or_create(
            phone_number_id=SIMULATOR_PHONE_NUMBER_ID,
            defaults={
                "business_account": account,
                "display_phone_number": "+1 555-010-0001",
                "verified_name": "Demo shop",
            },
        )
        templates = _demo_templates(account)
        tags = {name: Tag.objects.get_or_create(name=name)[0] for name in ["customers", "vip", "newsletter", "lapsed"]}

    now = timezone.now()
    for index, (region, language, phone) in enumerate(list(_demo_numbers(contacts, rng))):
        if Contact.objects.filter(phone=phone).exists():
            continue
        rng = random.Random(seed * 100_003 + index)  # noqa: S311 - each contact's own draws, stable across runs
        with transaction.atomic():
            contact = Contact.objects.create(
                phone=phone,
                name=f"{_FIRST_NAMES[index % len(_FIRST_NAMES)]} {chr(65 + index % 26)}.",
                language=language,
                attributes={"city": _CITIES[region], "discount": rng.choice(["10%", "15%", "20%"])},
            )
            contact.tags.add(
                tags["customers"], *[tags[t] for t in ("vip", "newsletter", "lapsed") if rng.random() < 0.3]
            )
            # Most opted in at signup; a few later opted out, a few never gave consent.
            roll = rng.random()
            if roll < 0.9:
                contact_consent_record(
                    contact=contact,
                    kind=ConsentKind.OPT_IN,
                    scope=ConsentScope.MARKETING,
                    source=ConsentSource.WEB_FORM,
                    occurred_at=now - timedelta(days=rng.randrange(30, 400)),
                    evidence="Checkout form: 'Send me offers on WhatsApp' ticked",
                )
            if roll < 0.05:
                contact_consent_record(
                    contact=contact,
                    kind=ConsentKind.OPT_OUT,
                    scope=ConsentScope.MARKETING,
                    source=ConsentSource.KEYWORD,
                    occurred_at=now - timedelta(days=rng.randrange(1, 29)),
                    evidence="Replied STOP",
                )

    campaign, _ = Campaign.objects.get_or_create(
        name="Spring sale (demo)",
        defaults={
            "sender": sender,
            "template_name": "spring_sale",
            "fallback_language": "en_US",
            "variable_mapping": {
                "body.1": {"source": VariableSource.CONTACT_FIELD, "value": "name", "default": "there"},
                "body.2": {"source": VariableSource.ATTRIBUTE, "value": "discount", "default": "10%"},
            },
        },
    )
    if not campaign.include_tags.exists():
        campaign.include_tags.add(tags["customers"])
    return DemoSummary(contacts=Contact.objects.count(), templates=templates, campaign=campaign)
