"""The WhatsApp-like message bubble of a template: sample values, or one contact's values under a mapping.

Everything shown is escaped by the Django template engine; placeholders become separate segments so that a
contact's data can never inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from contacts.models import Contact
from templates_app.models import MessageTemplate
from templates_app.rendering import parameter_value
from templates_app.structure import PLACEHOLDER, TemplateButton, template_structure


@dataclass(frozen=True)
class Segment:
    """A run of a text: literal, or a placeholder's value (`missing` when there is none)."""

    text: str
    is_value: bool = False
    missing: bool = False


def _segments(text: str, values: dict[str, str], section: str) -> list[Segment]:
    segments, position = [], 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > position:
            segments.append(Segment(text[position : match.start()]))
        value = values.get(f"{section}.{match.group(1)}", "")
        segments.append(Segment(value or match.group(0), is_value=True, missing=not value))
        position = match.end()
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments


def template_sample_values(template: MessageTemplate) -> dict[str, str]:
    """The example values Meta holds for each parameter (what reviewers saw)."""
    return {parameter.key: parameter.example for parameter in template_structure(template).parameters}


def template_contact_values(
    template: MessageTemplate, *, variable_mapping: dict[str, dict], contact: Contact, opt_out_url: str = ""
) -> dict[str, str]:
    """Each parameter's value for one contact under a campaign's mapping ("" where it has none)."""
    return {
        parameter.key: parameter_value(variable_mapping.get(parameter.key) or {}, contact, opt_out_url)
        for parameter in template_structure(template).parameters
    }


def _button_view(button: TemplateButton, values: dict[str, str], opt_out_texts: list[str]) -> dict:
    target = button.url or button.phone_number
    if button.is_dynamic_url:
        suffix = values.get(f"button.{button.index}", "")
        target = PLACEHOLDER.sub(suffix or "{{1}}", button.url)
    return {"type": button.type, "text": button.text, "target": target, "opt_out": button.text in opt_out_texts}


def template_preview_html(template: MessageTemplate, *, values: dict[str, str] | None = None) -> SafeString:
    """The bubble as HTML; `values` by parameter key (default: the template's examples)."""
    structure = template_structure(template)
    values = template_sample_values(template) if values is None else values
    media_value = values.get("header.media", "")
    context = {
        "template": template,
        "header_format": structure.header_format,
        "header_segments": _segments(structure.header_text, values, "header"),
        "media_value": media_value,
        "body_segments": _segments(structure.body_text, values, "body"),
        "footer": structure.footer_text,
        "buttons": [_button_view(button, values, template.opt_out_button_texts or []) for button in structure.buttons],
    }
    return render_to_string("templates_app/bubble.html", context)
