"""Per-recipient template parameters: a campaign's variable mapping applied to one contact, as the exact
`components` the Cloud API takes."""

import re
from dataclasses import dataclass
from typing import Any

from contacts.models import Contact
from templates_app.models import MessageTemplate, ParameterFormat
from wacampaigns.models import VariableSource
from wacampaigns.whatsapp.payloads import BodyComponent, HeaderComponent, TextParameter, UrlButton, template_components

PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
CONTACT_FIELDS = ("name", "phone", "language", "username")


class MissingVariable(ValueError):
    """A required template parameter has no value for this contact and no default."""

    def __init__(self, parameter_key: str):
        super().__init__(f"no value for {parameter_key}")
        self.parameter_key = parameter_key


@dataclass(frozen=True)
class TemplateParameter:
    """One placeholder of a template: `key` is how a campaign's variable mapping names it."""

    key: str  # "header.1", "body.first_name", "button.0"
    section: str  # header, body, button
    name: str  # "1" or "first_name"
    button_index: int | None = None


def template_parameters(template: MessageTemplate) -> list[TemplateParameter]:
    """The placeholders of a template's text header, body and URL buttons, in order."""
    found: list[TemplateParameter] = []
    for component in template.components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER" and str(component.get("format", "TEXT")).upper() == "TEXT":
            found += [
                TemplateParameter(f"header.{n}", "header", n) for n in PLACEHOLDER.findall(component.get("text", ""))
            ]
        elif kind == "BODY":
            found += [TemplateParameter(f"body.{n}", "body", n) for n in PLACEHOLDER.findall(component.get("text", ""))]
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons", [])):
                if str(button.get("type", "")).upper() == "URL" and PLACEHOLDER.search(button.get("url", "")):
                    found.append(TemplateParameter(f"button.{index}", "button", "1", button_index=index))
    return found


def _mapped_value(mapping: dict[str, Any], contact: Contact, opt_out_url: str) -> str:
    source, value = mapping.get("source"), mapping.get("value", "")
    if source == VariableSource.CONSTANT:
        return str(value)
    if source == VariableSource.OPT_OUT_LINK:
        return opt_out_url
    if source == VariableSource.CONTACT_FIELD and value in CONTACT_FIELDS:
        return str(getattr(contact, value) or "")
    if source == VariableSource.ATTRIBUTE:
        attribute = (contact.attributes or {}).get(value)
        return "" if attribute is None else str(attribute)
    return ""


def template_components_render(
    *, template: MessageTemplate, variable_mapping: dict[str, dict], contact: Contact, opt_out_url: str = ""
) -> list[dict[str, Any]]:
    """The `components` to send this contact; raises MissingVariable for a parameter with no value."""
    named = template.parameter_format == ParameterFormat.NAMED
    header, body, buttons = [], [], []
    for parameter in template_parameters(template):
        mapping = variable_mapping.get(parameter.key, {})
        text = _mapped_value(mapping, contact, opt_out_url).strip() or str(mapping.get("default", "")).strip()
        if not text:
            raise MissingVariable(parameter.key)
        name = parameter.name if named and parameter.section != "button" else None
        if parameter.section == "header":
            header.append(TextParameter(text, name))
        elif parameter.section == "body":
            body.append(TextParameter(text, name))
        else:
            buttons.append(UrlButton(parameter.button_index, text))
    components = [HeaderComponent(parameter) for parameter in header]
    if body:
        components.append(BodyComponent(tuple(body)))
    return template_components([*components, *buttons])
