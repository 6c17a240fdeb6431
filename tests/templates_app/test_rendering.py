"""Rendering of per-recipient components: ordering, named parameters, media headers, URL suffixes, limits."""

import pytest

from templates_app.models import ParameterFormat
from templates_app.rendering import (
    MissingVariable,
    ParameterValueInvalid,
    template_components_render,
    template_parameters,
)
from templates_app.selectors import template_for_recipient
from tests import factories

pytestmark = pytest.mark.django_db

NAME = {"source": "contact_field", "value": "name", "default": "friend"}


def _template(**overrides):
    return factories.template(**overrides)


def test_positional_parameters_are_ordered_by_number_and_repeats_count_once():
    template = _template(
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "For {{1}}"},
            {"type": "BODY", "text": "Code {{2}} for {{1}}; again {{2}}."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop promotions"},
                    {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}", "example": ["x"]},
                ],
            },
        ]
    )
    contact = factories.contact(name="Ana María", attributes={"code": "a b/ü&?"})
    mapping = {
        "header.1": NAME,
        "body.1": NAME,
        "body.2": {"source": "constant", "value": "SPRING20"},
        "button.1": {"source": "attribute", "value": "code"},
    }

    components = template_components_render(template=template, variable_mapping=mapping, contact=contact)

    assert [parameter.key for parameter in template_parameters(template)] == [
        "header.1",
        "body.1",
        "body.2",
        "button.1",
    ]
    assert components == [
        {"type": "header", "parameters": [{"type": "text", "text": "Ana María"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana María"}, {"type": "text", "text": "SPRING20"}]},
        {
            "type": "button",
            "sub_type": "url",
            "index": "1",
            "parameters": [{"type": "text", "text": "a%20b/%C3%BC%26%3F"}],
        },
    ]


def test_named_parameters_carry_their_names_and_defaults_fill_gaps():
    template = _template(
        parameter_format=ParameterFormat.NAMED,
        components=[{"type": "BODY", "text": "Hello {{first_name}}, order {{order_number}} shipped."}],
    )
    contact = factories.contact(name="", attributes={"order": "  860198\n230332 "})
    mapping = {"body.first_name": NAME, "body.order_number": {"source": "attribute", "value": "order"}}

    components = template_components_render(template=template, variable_mapping=mapping, contact=contact)

    assert components == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "friend"},
                {"type": "text", "parameter_name": "order_number", "text": "860198 230332"},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("value", "media"),
    [("https://cdn.example/a.jpg", {"link": "https://cdn.example/a.jpg"}), ("1234567", {"id": "1234567"})],
)
def test_a_media_header_takes_a_link_or_a_media_id(value, media):
    template = _template(
        components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::x"]}},
            {"type": "BODY", "text": "New arrivals, {{1}}!"},
        ]
    )
    mapping = {"header.media": {"source": "constant", "value": value}, "body.1": NAME}

    components = template_components_render(template=template, variable_mapping=mapping, contact=factories.contact())

    assert components[0] == {"type": "header", "parameters": [{"type": "image", "image": media}]}


def test_missing_value_without_default_and_values_over_meta_limits_stop_the_recipient():
    template = _template(
        components=[{"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"}, {"type": "BODY", "text": "Body {{1}} x"}]
    )
    contact = factories.contact(name="")

    with pytest.raises(MissingVariable) as missing:
        template_components_render(
            template=template,
            variable_mapping={"header.1": {"source": "contact_field", "value": "name"}},
            contact=contact,
        )
    with pytest.raises(ParameterValueInvalid) as too_long:
        template_components_render(
            template=template,
            variable_mapping={"header.1": {"source": "constant", "value": "x" * 60}, "body.1": NAME},
            contact=contact,
        )

    assert missing.value.parameter_key == "header.1"
    assert too_long.value.parameter_key == "header.1"
    assert isinstance(too_long.value, MissingVariable)


def test_rendering_makes_no_query_once_the_template_is_loaded(django_assert_num_queries):
    template = _template(components=[{"type": "BODY", "text": "Hi {{1}} and {{2}}"}])
    contact = factories.contact(name="Eva")
    mapping = {"body.1": NAME, "body.2": {"source": "constant", "value": "x"}}

    with django_assert_num_queries(0):
        for _ in range(3):
            components = template_components_render(template=template, variable_mapping=mapping, contact=contact)

    assert components[0]["parameters"][0] == {"type": "text", "text": "Eva"}


def test_each_recipient_gets_their_language_else_the_fallback_and_a_stopped_language_stops_only_them():
    account = factories.business_account()
    factories.template(business_account=account, name="promo", language="en_US")
    factories.template(business_account=account, name="promo", language="es")
    factories.template(business_account=account, name="promo", language="fr", status="PAUSED")
    factories.template(business_account=account, name="promo", language="de", status="PENDING")

    def chosen(language):
        template = template_for_recipient(
            business_account=account, name="promo", contact_language=language, fallback_language="en_US"
        )
        return template.language if template else None

    assert chosen("es") == "es"
    assert chosen("es_MX") == "es"
    assert chosen("de") == "en_US"
    assert chosen("it") == "en_US"
    assert chosen("") == "en_US"
    assert chosen("fr") is None


def _link_button_template(button_url):
    return _template(
        components=[
            {"type": "BODY", "text": "New arrivals: {{1}}"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop", "url": button_url, "example": ["x"]}]},
        ]
    )


def test_tracked_and_opt_out_links_fill_body_text_whole_and_buttons_with_their_suffix(settings):
    settings.PUBLIC_BASE_URL = "https://campaigns.example.com"
    template = _link_button_template("https://campaigns.example.com/t/{{1}}")
    mapping = {
        "body.1": {"source": "opt_out_link", "value": "", "default": ""},
        "button.0": {"source": "tracked_link", "value": "", "default": ""},
    }
    components = template_components_render(
        template=template,
        variable_mapping=mapping,
        contact=factories.contact(),
        opt_out_url="https://campaigns.example.com/opt-out/abc.def/",
        click_url="https://campaigns.example.com/t/Zx.sig/",
    )
    assert components == [
        {"type": "body", "parameters": [{"type": "text", "text": "https://campaigns.example.com/opt-out/abc.def/"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "Zx.sig/"}]},
    ]


def test_a_button_whose_approved_url_cannot_carry_the_link_stops_the_recipient_and_the_mapping():
    from templates_app.mapping import VariableMappingInvalid, variable_mapping_check

    template = _link_button_template("https://shop.example/{{1}}")
    mapping = {
        "body.1": {"source": "constant", "value": "today", "default": ""},
        "button.0": {"source": "tracked_link", "value": "", "default": ""},
    }
    with pytest.raises(ParameterValueInvalid) as stopped:
        template_components_render(
            template=template,
            variable_mapping=mapping,
            contact=factories.contact(),
            click_url="https://campaigns.example.com/t/Zx.sig/",
        )
    assert stopped.value.parameter_key == "button.0"
    with pytest.raises(VariableMappingInvalid) as refused:
        variable_mapping_check(template=template, variable_mapping=mapping)
    assert "/t/{{1}}" in str(refused.value.args[0] if refused.value.args else refused.value)
