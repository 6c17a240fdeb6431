"""The bubble preview (positional, named, media header, buttons, escaping) and the campaign mapping form."""

import pytest
from django.urls import reverse

from templates_app.models import ParameterFormat
from templates_app.preview import template_preview_html
from tests import factories
from wacampaigns.models import Campaign

pytestmark = pytest.mark.django_db

SPRING = [
    {"type": "HEADER", "format": "TEXT", "text": "Spring Sale"},
    {"type": "BODY", "text": "Hi {{1}}, use code {{2}} today.", "example": {"body_text": [["Mark", "SPRING20"]]}},
    {"type": "FOOTER", "text": "Not interested? Tap Stop promotions"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Stop promotions"},
            {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}", "example": ["spring"]},
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15551234567"},
        ],
    },
]


def test_preview_shows_header_body_with_examples_footer_and_buttons_with_the_opt_out_mark():
    template = factories.template(components=SPRING, opt_out_button_texts=["Stop promotions"])

    html = template_preview_html(template)

    assert '<div class="wa-header">Spring Sale</div>' in html
    assert 'Hi <span class="wa-value">Mark</span>, use code <span class="wa-value">SPRING20</span> today.' in html
    assert "Not interested? Tap Stop promotions" in html
    assert 'title="https://shop.example/spring">Shop<' in html
    assert 'Stop promotions <span class="wa-opt-out">opt-out</span>' in html
    assert 'title="+15551234567">Call us<' in html
    assert "templates_app/bubble.css" in html


def test_preview_of_a_named_template_with_a_media_header_and_a_missing_value():
    template = factories.template(
        parameter_format=ParameterFormat.NAMED,
        components=[
            {"type": "HEADER", "format": "VIDEO", "example": {"header_handle": ["4::x"]}},
            {"type": "BODY", "text": "Hello {{first_name}}, see {{product}}."},
        ],
    )

    html = template_preview_html(
        template, values={"header.media": "https://cdn.example/v.mp4", "body.first_name": "Eva"}
    )

    assert '<span class="wa-media-kind">Video</span>' in html
    assert "https://cdn.example/v.mp4" in html
    assert '<span class="wa-value">Eva</span>' in html
    assert '<span class="wa-value wa-missing">{{product}}</span>' in html


def test_admin_preview_with_a_contact_under_a_campaign_mapping_escapes_contact_data(admin_client):
    template = factories.template(name="spring_sale", components=SPRING)
    sender = factories.phone_number(business_account=template.business_account)
    campaign = factories.campaign(
        sender=sender,
        template_name="spring_sale",
        variable_mapping={
            "body.1": {"source": "contact_field", "value": "name"},
            "body.2": {"source": "attribute", "value": "code"},
            "button.1": {"source": "constant", "value": "vip"},
        },
    )
    contact = factories.contact(name='<script>alert("x")</script>', attributes={"code": "<b>C1</b>"})
    url = reverse("admin:templates_app_messagetemplate_preview", args=[template.pk])

    page = admin_client.get(url, {"campaign": campaign.pk, "contact": contact.phone}).content.decode()

    assert "<script>alert" not in page
    assert '<span class="wa-value">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</span>' in page
    assert "&lt;b&gt;C1&lt;/b&gt;" in page
    assert 'title="https://shop.example/vip"' in page


def _campaign_post(sender, template_name, mapping_fields):
    data = {
        "name": "Spring",
        "sender": sender.pk,
        "template_name": template_name,
        "fallback_language": "en_US",
        "attribute_filters": "[]",
        "concurrency": 2,
    }
    for key, (source, value, default) in mapping_fields.items():
        data |= {
            f"variable_mapping__{key}__source": source,
            f"variable_mapping__{key}__value": value,
            f"variable_mapping__{key}__default": default,
        }
    return data


@pytest.fixture
def spring(db):
    template = factories.template(name="spring_sale", components=SPRING)
    return factories.phone_number(business_account=template.business_account)


def test_campaign_form_saves_a_complete_mapping(admin_client, spring):
    data = _campaign_post(
        spring,
        "spring_sale",
        {
            "body.1": ("contact_field", "name", "friend"),
            "body.2": ("opt_out_link", "", ""),
            "button.1": ("constant", "spring", ""),
        },
    )

    response = admin_client.post(reverse("admin:wacampaigns_campaign_add"), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.variable_mapping == {
        "body.1": {"source": "contact_field", "value": "name", "default": "friend"},
        "body.2": {"source": "opt_out_link", "value": "", "default": ""},
        "button.1": {"source": "constant", "value": "spring", "default": ""},
    }


def test_campaign_form_refuses_a_link_on_a_button_that_cannot_carry_it(admin_client, spring):
    data = _campaign_post(
        spring,
        "spring_sale",
        {
            "body.1": ("contact_field", "name", "friend"),
            "body.2": ("constant", "SPRING20", ""),
            "button.1": ("opt_out_link", "", ""),
        },
    )

    response = admin_client.post(reverse("admin:wacampaigns_campaign_add"), data)

    assert response.status_code == 200
    assert "button&#x27;s approved URL must be" in response.content.decode()
    assert not Campaign.objects.filter(name="Spring").exists()


def test_campaign_form_refuses_unmapped_parameters_and_values_over_meta_limits(admin_client, spring):
    url = reverse("admin:wacampaigns_campaign_add")
    factories.contact(name="N" * 200)

    first_time = admin_client.post(url, _campaign_post(spring, "spring_sale", {}))
    unmapped = admin_client.post(
        url,
        _campaign_post(spring, "spring_sale", {"body.1": ("constant", "Ann", ""), "button.1": ("constant", "x", "")}),
    )
    too_long = admin_client.post(
        url,
        _campaign_post(
            spring,
            "spring_sale",
            {
                "body.1": ("contact_field", "name", ""),
                "body.2": ("constant", "X" * 850, ""),
                "button.1": ("constant", "x", ""),
            },
        ),
    )
    bad_field = admin_client.post(
        url,
        _campaign_post(
            spring,
            "spring_sale",
            {
                "body.1": ("contact_field", "age", ""),
                "body.2": ("constant", "X", ""),
                "button.1": ("constant", "x", ""),
            },
        ),
    )

    assert "Map the parameters of spring_sale [en_US]: body.1, body.2, button.1." in first_time.content.decode()
    assert 'name="variable_mapping__body.1__source"' in first_time.content.decode()
    assert "body.2: not mapped" in unmapped.content.decode()
    assert "body.2: the body would be" in too_long.content.decode()
    assert "the contact field must be one of name, phone, language, username" in bad_field.content.decode()
    assert not Campaign.objects.exists()
