"""The bodies the client builds validate against Meta's OpenAPI spec (v23.0), patched where the spec is wrong."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import referencing
import responses
import yaml
from referencing.jsonschema import DRAFT202012

from wacampaigns.whatsapp import payloads
from wacampaigns.whatsapp.client import CloudApiClient, build_session

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
SPEC_PATH = FIXTURES / "openapi" / "business-messaging-api_v23.0.yaml"  # copied from shared/reference/openapi (MIT)
SPEC_URI = "urn:meta:business-messaging-api:v23.0"
BASE = "https://graph.example.test"


def _patch_spec(spec):
    """Fix the v23.0 spec's known faults; each patch says what is wrong and what Meta actually documents."""
    schemas = spec["components"]["schemas"]
    ref = {name: {"$ref": f"#/components/schemas/{name}"} for name in schemas}

    # 1. LanguageObject requires `policy`, but Meta's send examples omit it; it is optional ("deterministic"
    #    is the only value) [WA-NODE; reference §1.1].
    schemas["LanguageObject"]["required"] = ["code"]

    # 2. The button `index` pattern "^[2-6, 11-14]$" is a character class that rejects Meta's own "0"; the
    #    description says "Position index of the button (0-9)".
    for name in ("TemplateComponent", "ButtonComponent"):
        target = schemas[name] if name == "TemplateComponent" else schemas[name]["allOf"][1]
        target["properties"]["index"] = {"type": "string", "pattern": "^[0-9]$"}

    # 3. Named template parameters carry `parameter_name` (lowercase letters, digits, underscores) [M-UTIL][M-COMP];
    #    the spec lacks the property.
    parameter_name = {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}
    for name in ("TextParameter", "CurrencyParameter", "DateTimeParameter"):
        schemas[name]["allOf"][1]["properties"]["parameter_name"] = parameter_name

    # 4. `biz_opaque_callback_data` is echoed in status webhooks [M-STATUS] but missing from message bodies.
    base = schemas["BaseMessageProperties"]["properties"]
    base["biz_opaque_callback_data"] = {"type": "string", "maxLength": 512}
    # 5. `messaging_product` has an example but no constraint; "whatsapp" is the only value [M-SEND].
    base["messaging_product"] = {"const": "whatsapp"}

    # 6. DateTimeObject lists only `fallback_value`; Meta documents the optional calendar fields [OAS example][WA-NODE].
    date_time = schemas["DateTimeObject"]["properties"]
    date_time["calendar"] = {"type": "string"}
    for field in ("year", "month", "day_of_month", "day_of_week", "hour", "minute"):
        date_time[field] = {"type": "integer"}
    # 7. A document header may name the file the recipient sees.
    schemas["MediaObject"]["properties"] = {"filename": {"type": "string"}}

    # 8. The spec picks component and parameter schemas with OpenAPI `discriminator`, which JSON Schema ignores:
    #    without these oneOf lists, any object with a known `type` would pass.
    schemas["TemplateObject"]["properties"]["components"]["items"] = {
        "oneOf": [ref["HeaderComponent"], ref["BodyComponent"], ref["ButtonComponent"]]
    }
    schemas["HeaderComponent"]["allOf"][1]["properties"]["parameters"]["items"] = {
        "oneOf": [ref["TextParameter"], ref["ImageParameter"], ref["DocumentParameter"], ref["VideoParameter"]]
    }
    schemas["BodyComponent"]["allOf"][1]["properties"]["parameters"]["items"] = {
        "oneOf": [ref["TextParameter"], ref["CurrencyParameter"], ref["DateTimeParameter"]]
    }
    schemas["ButtonComponent"]["allOf"][1]["properties"]["parameters"]["items"] = {
        "oneOf": [ref["ButtonPayloadParameter"], ref["ButtonTextParameter"]]
    }

    # 9. The spec allows unknown properties everywhere (and TextMessage's `additionalProperties: false` inside one
    #    allOf branch rejects even the base properties). `unevaluatedProperties: false` at each composed schema
    #    rejects what no branch declares, as Meta does (#100 "Unexpected key").
    schemas["TextMessage"]["allOf"][1].pop("additionalProperties")
    for name in (
        "TemplateMessage",
        "TextMessage",
        "TemplateObject",
        "LanguageObject",
        "HeaderComponent",
        "BodyComponent",
        "ButtonComponent",
        "TextParameter",
        "CurrencyParameter",
        "DateTimeParameter",
        "ImageParameter",
        "DocumentParameter",
        "VideoParameter",
        "ButtonPayloadParameter",
        "ButtonTextParameter",
        "CurrencyObject",
        "DateTimeObject",
        "MediaObject",
    ):
        schemas[name]["unevaluatedProperties"] = False
    return spec


@pytest.fixture(scope="module")
def raw_spec():
    """Meta's spec as published (1 MB of YAML: loaded once per module)."""
    return yaml.load(SPEC_PATH.read_text(), Loader=yaml.CSafeLoader)


@pytest.fixture(scope="module")
def message_validator(raw_spec):
    """A validator for `POST /{phone-number-id}/messages` bodies, from the request body schema of that operation."""
    spec = _patch_spec(copy.deepcopy(raw_spec))
    operation = spec["paths"]["/{Version}/{Phone-Number-ID}/messages"]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    registry = referencing.Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec))
    return jsonschema.Draft202012Validator({"$ref": SPEC_URI + schema_ref}, registry=registry)


def _errors(validator, body):
    return list(validator.iter_errors(body))


def _full_template_body():
    return payloads.template_message(
        to="+16505551234",
        template_name="spring_sale",
        language_code="en_US",
        components=[
            payloads.HeaderComponent(payloads.MediaParameter("image", link="https://cdn.example.com/a.png")),
            payloads.BodyComponent(
                [
                    payloads.TextParameter("Pablo", name="first_name"),
                    payloads.CurrencyParameter("$100.99", "USD", 100990, name="amount"),
                    payloads.DateTimeParameter("February 25, 1977", name="deadline", year=1977, month=2),
                ]
            ),
            payloads.QuickReplyButton(0, "stop-42"),
            payloads.UrlButton(1, "orders/42"),
        ],
        biz_opaque_callback_data="42",
    )


BUILT_BODIES = {
    "named parameters, image link, both buttons": _full_template_body,
    "positional text header and body": lambda: payloads.template_message(
        to="+4915112345678",
        template_name="order_update",
        language_code="de",
        components=[
            payloads.HeaderComponent(payloads.TextParameter("Bestellung")),
            payloads.BodyComponent([payloads.TextParameter("Ana"), payloads.TextParameter("A-17")]),
        ],
        biz_opaque_callback_data="7",
    ),
    "document header by id with filename": lambda: payloads.template_message(
        to="+16505551234",
        template_name="invoice",
        language_code="en_US",
        components=[
            payloads.HeaderComponent(payloads.MediaParameter("document", media_id="123", filename="invoice.pdf")),
        ],
        biz_opaque_callback_data="8",
    ),
    "video header, no body parameters": lambda: payloads.template_message(
        to="+16505551234",
        template_name="promo_video",
        language_code="en_US",
        components=[
            payloads.HeaderComponent(payloads.MediaParameter("video", media_id="456")),
            payloads.BodyComponent([]),
        ],
        biz_opaque_callback_data="9",
    ),
    "template without components": lambda: payloads.template_message(
        to="+16505551234", template_name="hello_world", language_code="en_US", biz_opaque_callback_data="10"
    ),
    "text reply": lambda: payloads.text_message(
        to="+16505551234", text="Thanks!", biz_opaque_callback_data="11", reply_to_wamid="wamid.x"
    ),
}


@pytest.mark.parametrize("name", sorted(BUILT_BODIES))
def test_built_bodies_are_valid(message_validator, name):
    assert _errors(message_validator, BUILT_BODIES[name]()) == []


@responses.activate
def test_the_body_the_client_sends_is_valid(message_validator):
    responses.post(f"{BASE}/v23.0/1/messages", json={"messages": [{"id": "wamid.1"}]})
    client = CloudApiClient(
        base_url=BASE, api_version="v23.0", access_token="t", phone_number_id="1", waba_id="2", session=build_session()
    )

    client.send_template(
        to="+16505551234",
        template_name="spring_sale",
        language_code="en_US",
        components=[payloads.BodyComponent([payloads.TextParameter("Pablo", name="first_name")])],
        biz_opaque_callback_data="42",
    )

    sent = json.loads(responses.calls[0].request.body)
    assert _errors(message_validator, sent) == []


def test_meta_sample_requests(message_validator):
    official = json.loads((FIXTURES / "send_template_request_media_header_currency_datetime_official.json").read_text())
    assert _errors(message_validator, official) == []

    for name in (
        "send_template_request_body_params_and_quick_reply_payload.json",
        "send_template_request_image_header_date_time.json",
    ):
        sample = json.loads((FIXTURES / name).read_text())
        # These come from a Java library that writes `index` as a number; Meta documents a string ("0").
        assert _errors(message_validator, sample) != []
        for component in sample["template"]["components"]:
            if "index" in component:
                component["index"] = str(component["index"])
        assert _errors(message_validator, sample) == []


def _broken(change):
    body = copy.deepcopy(_full_template_body())
    change(body)
    return body


def _set(path, value):
    def change(body):
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path):
    def change(body):
        target = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


NEGATIVE_CASES = {
    "missing to": _delete(("to",)),
    "missing messaging_product": _delete(("messaging_product",)),
    "wrong messaging_product": _set(("messaging_product",), "sms"),
    "unknown top-level property": _set(("templat",), {}),
    "missing template name": _delete(("template", "name")),
    "missing language code": _delete(("template", "language", "code")),
    "unknown template property": _set(("template", "namespace_typo"), "x"),
    "wrong component type": _set(("template", "components", 1, "type"), "footer"),
    "body parameter of header-only type": _set(
        ("template", "components", 1, "parameters", 0), {"type": "image", "image": {"id": "1"}}
    ),
    "unknown parameter property": _set(("template", "components", 1, "parameters", 0, "value"), "x"),
    "text parameter without text": _delete(("template", "components", 1, "parameters", 0, "text")),
    "uppercase parameter name": _set(("template", "components", 1, "parameters", 0, "parameter_name"), "FirstName"),
    "currency without amount": _delete(("template", "components", 1, "parameters", 1, "currency", "amount_1000")),
    "currency amount as text": _set(("template", "components", 1, "parameters", 1, "currency", "amount_1000"), "100"),
    "media with id and link": _set(("template", "components", 0, "parameters", 0, "image", "id"), "123"),
    "media with neither id nor link": _delete(("template", "components", 0, "parameters", 0, "image", "link")),
    "button index out of range": _set(("template", "components", 2, "index"), "10"),
    "button index as number": _set(("template", "components", 2, "index"), 0),
    "button without sub_type": _delete(("template", "components", 2, "sub_type")),
    "button with unknown sub_type": _set(("template", "components", 2, "sub_type"), "phone"),
    "quick reply without payload": _set(("template", "components", 2, "parameters"), [{"type": "payload"}]),
    "biz_opaque_callback_data as number": _set(("biz_opaque_callback_data",), 42),
    "template type without template": _delete(("template",)),
}


@pytest.mark.parametrize("case", sorted(NEGATIVE_CASES))
def test_malformed_bodies_fail_validation(message_validator, case):
    assert _errors(message_validator, _broken(NEGATIVE_CASES[case])) != []


def test_the_unpatched_spec_rejects_meta_examples_and_accepts_garbage(raw_spec):
    """Why the patches exist: each fault shown on the raw spec."""
    registry = referencing.Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(raw_spec))
    raw_validator = jsonschema.Draft202012Validator(
        {"$ref": SPEC_URI + "#/components/schemas/TemplateMessage"}, registry=registry
    )
    meta_example = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "template",
        "template": {
            "name": "n",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "p"}],
                }
            ],
        },
    }
    garbage = {
        **meta_example,
        "anything": True,
        "template": {"name": "n", "language": {"code": "x", "policy": "deterministic"}},
    }

    messages = [error.message for error in raw_validator.iter_errors(meta_example)]
    assert any("'policy' is a required property" in message for message in messages)
    assert any("does not match '^[2-6, 11-14]$'" in message for message in messages)
    assert list(raw_validator.iter_errors(garbage)) == []
