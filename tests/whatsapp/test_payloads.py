"""Payload builders refuse bodies Meta would reject."""

import pytest

from wacampaigns.whatsapp import payloads


@pytest.mark.parametrize(
    "build",
    [
        lambda: payloads.MediaParameter("image").to_dict(),
        lambda: payloads.MediaParameter("image", media_id="1", link="https://x").to_dict(),
        lambda: payloads.MediaParameter("image", media_id="1", filename="a.png").to_dict(),
        lambda: payloads.MediaParameter("audio", media_id="1").to_dict(),
        lambda: payloads.TextParameter("x", name="First Name").to_dict(),
        lambda: payloads.QuickReplyButton(10, "p").to_dict(),
        lambda: payloads.UrlButton(-1, "s").to_dict(),
        lambda: payloads.QuickReplyButton(True, "p").to_dict(),
        lambda: payloads.template_message(to="", template_name="t", language_code="en", biz_opaque_callback_data="1"),
        lambda: payloads.template_message(to="+1", template_name="t", language_code="en", biz_opaque_callback_data=""),
        lambda: payloads.text_message(to="+1", text="hi", biz_opaque_callback_data=""),
    ],
)
def test_invalid_input_raises_payload_error(build):
    with pytest.raises(payloads.PayloadError):
        build()


def test_document_header_by_link_with_filename():
    header = payloads.HeaderComponent(
        payloads.MediaParameter("document", link="https://cdn.example.com/i.pdf", filename="invoice.pdf")
    )

    assert header.to_dict() == {
        "type": "header",
        "parameters": [
            {"type": "document", "document": {"link": "https://cdn.example.com/i.pdf", "filename": "invoice.pdf"}}
        ],
    }


def test_positional_date_time_with_calendar_fields():
    parameter = payloads.DateTimeParameter("May 10th, 2023", calendar="GREGORIAN", year=2023, month=5, day_of_month=10)

    assert parameter.to_dict() == {
        "type": "date_time",
        "date_time": {
            "fallback_value": "May 10th, 2023",
            "calendar": "GREGORIAN",
            "year": 2023,
            "month": 5,
            "day_of_month": 10,
        },
    }


def test_empty_body_component_is_left_out_and_indexes_are_strings():
    components = payloads.template_components(
        [payloads.BodyComponent([]), payloads.QuickReplyButton(2, "p"), payloads.UrlButton(9, "x")]
    )

    assert [(component["type"], component["index"]) for component in components] == [("button", "2"), ("button", "9")]
