"""A send per contact through the simulator: the version and parameters it records match each contact."""

import pytest

from templates_app.rendering import template_components_render
from templates_app.selectors import template_for_recipient
from templates_app.services import business_account_client, business_account_templates_sync
from tests import factories
from wacampaigns.whatsapp import payloads

from .conftest import sim_get

pytestmark = pytest.mark.django_db


def _send(client, contact, template, components, delivery_id):
    body = payloads.template_message(
        to=contact.phone,
        template_name=template.name,
        language_code=template.language,
        biz_opaque_callback_data=delivery_id,
    )
    if components:
        body["template"]["components"] = components
    return client.send_message(body)


def test_each_contact_gets_their_language_and_their_own_values(sim_account, simulator):
    business_account_templates_sync(business_account=sim_account)
    client = business_account_client(sim_account)
    contacts = [
        factories.contact(phone="+34611000001", name="Ana", language="en_US"),
        factories.contact(phone="+34611000002", name="Beatriz", language="es"),
        factories.contact(phone="+34611000003", name="Carla", language="es_MX"),
        factories.contact(phone="+34611000004", name="", language="fr"),
    ]
    campaigns = {
        "welcome_message": {"body.1": {"source": "contact_field", "value": "name", "default": "friend"}},
        "order_update": {
            "body.first_name": {"source": "contact_field", "value": "name", "default": "friend"},
            "body.order_number": {"source": "attribute", "value": "order", "default": "pending"},
        },
    }
    contacts[1].attributes = {"order": "A-77"}
    contacts[1].save()

    sent = []
    for name, mapping in campaigns.items():
        for contact in contacts:
            template = template_for_recipient(
                business_account=sim_account, name=name, contact_language=contact.language, fallback_language="en_US"
            )
            components = template_components_render(template=template, variable_mapping=mapping, contact=contact)
            _send(client, contact, template, components, f"{name}-{contact.pk}")
            sent.append((name, contact))

    log = sim_get(simulator, "/_sim/messages")
    recorded = [(entry["template"], entry["language"], entry["recipient"], entry["parameters"]) for entry in log]
    assert recorded == [
        ("welcome_message", "en_US", "34611000001", ["Ana"]),
        ("welcome_message", "es", "34611000002", ["Beatriz"]),
        ("welcome_message", "es", "34611000003", ["Carla"]),
        ("welcome_message", "en_US", "34611000004", ["friend"]),
        (
            "order_update",
            "en_US",
            "34611000001",
            [{"name": "first_name", "value": "Ana"}, {"name": "order_number", "value": "pending"}],
        ),
        (
            "order_update",
            "en_US",
            "34611000002",
            [{"name": "first_name", "value": "Beatriz"}, {"name": "order_number", "value": "A-77"}],
        ),
        (
            "order_update",
            "en_US",
            "34611000003",
            [{"name": "first_name", "value": "Carla"}, {"name": "order_number", "value": "pending"}],
        ),
        (
            "order_update",
            "en_US",
            "34611000004",
            [{"name": "first_name", "value": "friend"}, {"name": "order_number", "value": "pending"}],
        ),
    ]
    assert [entry["biz_opaque_callback_data"] for entry in log] == [f"{name}-{contact.pk}" for name, contact in sent]


def test_a_media_header_template_is_accepted_with_the_rendered_header(sim_account, simulator):
    business_account_templates_sync(business_account=sim_account)
    contact = factories.contact(phone="+34611000009", name="Eva", language="en_US")
    template = template_for_recipient(
        business_account=sim_account, name="new_arrivals", contact_language="en_US", fallback_language="en_US"
    )
    mapping = {
        "header.media": {"source": "constant", "value": "https://cdn.example/spring.jpg"},
        "body.1": {"source": "contact_field", "value": "name"},
    }

    components = template_components_render(template=template, variable_mapping=mapping, contact=contact)
    result = _send(business_account_client(sim_account), contact, template, components, "media-1")

    [entry] = sim_get(simulator, "/_sim/messages")
    assert entry["wamid"] == result.wamid
    assert entry["components"][0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": "https://cdn.example/spring.jpg"}}],
    }
    assert entry["parameters"] == ["Eva"]
