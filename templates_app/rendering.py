"""Per-recipient template parameters: a campaign's variable mapping applied to one contact, as the exact
`components` the Cloud API takes, checked against Meta's content limits.

The sending engine calls `template_components_render` for every recipient at claim time: it does no
database query (the template structure is parsed once per template version, see `structure`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from contacts.models import Contact
from templates_app.models import MessageTemplate
from templates_app.structure import (
    BODY_TEXT_MAX,
    BUTTON_URL_MAX,
    HEADER_TEXT_MAX,
    PLACEHOLDER,
    TemplateParameter,
    TemplateStructure,
    template_structure,
)
from wacampaigns.models import VariableSource
from wacampaigns.whatsapp.payloads import MediaParameter

__all__ = [
    "CONTACT_FIELDS",
    "MissingVariable",
    "ParameterValueInvalid",
    "TemplateParameter",
    "parameter_value",
    "rendered_limits_check",
    "template_components_render",
    "template_parameters",
    "template_text_render",
]

CONTACT_FIELDS = ("name", "phone", "language", "username")
_WHITESPACE_RUN = re.compile(r"\s+")
# Characters left as they are in a URL-button suffix; everything else is percent-encoded [M-COMP].
_URL_SUFFIX_SAFE = "-._~/"


class MissingVariable(ValueError):
    """A required template parameter has no value for this contact and no default."""

    def __init__(self, parameter_key: str):
        super().__init__(f"no value for {parameter_key}")
        self.parameter_key = parameter_key


class ParameterValueInvalid(MissingVariable):
    """A parameter's value breaks Meta's limits for this contact (a MissingVariable: the recipient can't be sent)."""

    def __init__(self, parameter_key: str, reason: str):
        ValueError.__init__(self, f"{parameter_key}: {reason}")
        self.parameter_key = parameter_key
        self.reason = reason


def template_parameters(template: MessageTemplate) -> list[TemplateParameter]:
    """The parameters a send of this template must fill: text header or media header, body, URL-button
    suffixes; positional ones ordered by number, named ones in order of appearance."""
    return list(template_structure(template).parameters)


def parameter_value(
    mapping: dict[str, Any], contact: Contact | None, opt_out_url: str = "", click_url: str = ""
) -> str:
    """The mapped value for one contact (falling back to the mapping's default); "" when there is none.

    Whitespace runs become one space: Meta refuses parameters with new lines, tabs or more than four
    consecutive spaces (132018).
    """
    source, value = mapping.get("source"), mapping.get("value", "")
    text = ""
    if source == VariableSource.CONSTANT:
        text = "" if value is None else str(value)
    elif source == VariableSource.OPT_OUT_LINK:
        text = opt_out_url
    elif source == VariableSource.TRACKED_LINK:
        text = click_url
    elif contact is not None and source == VariableSource.CONTACT_FIELD and value in CONTACT_FIELDS:
        text = str(getattr(contact, value) or "")
    elif contact is not None and source == VariableSource.ATTRIBUTE:
        attribute = (contact.attributes or {}).get(value)
        text = "" if attribute is None else str(attribute)
    text = _WHITESPACE_RUN.sub(" ", text).strip()
    if not text:
        text = _WHITESPACE_RUN.sub(" ", str(mapping.get("default") or "")).strip()
    return text


def template_text_render(text: str, values: dict[str, str]) -> str:
    """`text` with each `{{name}}` replaced by its value (unknown placeholders are left as they are)."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _media_parameter(parameter: TemplateParameter, value: str, mapping: dict[str, Any]) -> dict[str, Any]:
    kind = parameter.media_format.lower()
    is_link = value.lower().startswith(("https://", "http://"))
    filename = str(mapping.get("filename") or "") or None if kind == "document" else None
    return MediaParameter(
        kind=kind, media_id=None if is_link else value, link=value if is_link else None, filename=filename
    ).to_dict()


def _values_for(
    structure: TemplateStructure,
    variable_mapping: dict[str, dict],
    contact: Contact | None,
    opt_out_url: str,
    click_url: str,
) -> dict[str, str]:
    values = {}
    for parameter in structure.parameters:
        mapping = variable_mapping.get(parameter.key) or {}
        value = parameter_value(mapping, contact, opt_out_url, click_url)
        if not value:
            raise MissingVariable(parameter.key)
        values[parameter.key] = value
    return values


def rendered_limits_check(structure: TemplateStructure, values: dict[str, str]) -> None:
    """Meta's limits on the rendered header, body and button URLs [M-COMP][M-UTIL]."""
    header_values = {p.name: values[p.key] for p in structure.parameters if p.section == "header" and not p.is_media}
    if header_values:
        header = template_text_render(structure.header_text, header_values)
        if len(header) > HEADER_TEXT_MAX:
            key = next(iter(f"header.{name}" for name in header_values))
            raise ParameterValueInvalid(key, f"the header would be {len(header)} characters (max {HEADER_TEXT_MAX})")
    body_values = {p.name: values[p.key] for p in structure.parameters if p.section == "body"}
    if body_values:
        body = template_text_render(structure.body_text, body_values)
        if len(body) > BODY_TEXT_MAX:
            longest = max(body_values, key=lambda name: len(body_values[name]))
            raise ParameterValueInvalid(
                f"body.{longest}", f"the body would be {len(body)} characters (max {BODY_TEXT_MAX})"
            )


def button_link_suffix(button_url: str, link: str) -> str | None:
    """The part of `link` a URL button whose approved URL is `button_url` (`https://host/t/{{1}}`) carries as
    its dynamic suffix; None when the button's fixed start does not lead to that link."""
    fixed_start = button_url.split("{{", 1)[0]
    if not fixed_start or not link.startswith(fixed_start):
        return None
    return link[len(fixed_start) :]


LINK_SOURCES = (VariableSource.OPT_OUT_LINK, VariableSource.TRACKED_LINK)


def template_components_render(
    *,
    template: MessageTemplate,
    variable_mapping: dict[str, dict],
    contact: Contact,
    opt_out_url: str = "",
    click_url: str = "",
) -> list[dict[str, Any]]:
    """The `components` to send this contact.

    `opt_out_url` and `click_url` are the recipient's links; on a URL button they become the suffix after
    the button's approved fixed start (a button approved as `https://host/t/{{1}}` carries the click token).

    Raises MissingVariable for a parameter with no value and no default, and ParameterValueInvalid (a
    MissingVariable) when the rendered header or body would exceed Meta's limits.
    """
    structure = template_structure(template)
    if not structure.parameters:
        return []
    values = _values_for(structure, variable_mapping, contact, opt_out_url, click_url)
    rendered_limits_check(structure, values)
    named = structure.named
    header: list[dict[str, Any]] = []
    body: list[dict[str, Any]] = []
    buttons: list[dict[str, Any]] = []
    for parameter in structure.parameters:
        value = values[parameter.key]
        if parameter.is_media:
            header.append(_media_parameter(parameter, value, variable_mapping.get(parameter.key) or {}))
        elif parameter.section in ("header", "body"):
            wire = {"type": "text", "parameter_name": parameter.name, "text": value} if named else None
            (header if parameter.section == "header" else body).append(wire or {"type": "text", "text": value})
        else:
            button = structure.buttons[parameter.button_index]
            if (variable_mapping.get(parameter.key) or {}).get("source") in LINK_SOURCES:
                suffix = button_link_suffix(button.url, value)
                if suffix is None:
                    raise ParameterValueInvalid(
                        parameter.key, f"the button's URL {button.url} does not start like the link {value}"
                    )
            else:
                suffix = quote(value, safe=_URL_SUFFIX_SAFE)
            if len(template_text_render(button.url, {"1": suffix})) > BUTTON_URL_MAX:
                raise ParameterValueInvalid(parameter.key, f"the button URL would exceed {BUTTON_URL_MAX} characters")
            buttons.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(parameter.button_index),
                    "parameters": [{"type": "text", "text": suffix}],
                }
            )
    components: list[dict[str, Any]] = []
    if header:
        components.append({"type": "header", "parameters": header})
    if body:
        components.append({"type": "body", "parameters": body})
    return components + buttons
