"""Rules for a campaign's variable mapping: every parameter of the template mapped, values within Meta's limits."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.db.models.functions import Length
from django.urls import reverse

from contacts.models import Contact
from templates_app.models import MessageTemplate
from templates_app.rendering import (
    CONTACT_FIELDS,
    LINK_SOURCES,
    ParameterValueInvalid,
    button_link_suffix,
    parameter_value,
    rendered_limits_check,
)
from templates_app.structure import BUTTON_URL_MAX, PLACEHOLDER, template_structure
from wacampaigns.models import VariableSource

_ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")
# The longest opt-out link: PUBLIC_BASE_URL + the opt-out path with a signed token (about 60 characters).
_OPT_OUT_URL_SAMPLE_LENGTH = 72


class VariableMappingInvalid(ValueError):
    """A campaign's variable mapping leaves parameters unmapped or renders values over Meta's limits."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def variable_mapping_normalize(*, template: MessageTemplate, variable_mapping: dict[str, Any]) -> dict[str, dict]:
    """The mapping restricted to the template's parameters, with string values and no empty keys."""
    normalized = {}
    for parameter in template_structure(template).parameters:
        entry = variable_mapping.get(parameter.key) or {}
        if not isinstance(entry, dict):
            continue
        cleaned = {
            "source": str(entry.get("source") or ""),
            "value": str(entry.get("value") or "").strip(),
            "default": str(entry.get("default") or "").strip(),
        }
        if entry.get("filename"):
            cleaned["filename"] = str(entry["filename"]).strip()
        normalized[parameter.key] = cleaned
    return normalized


def _longest_contact_values() -> dict[str, int]:
    """The longest value of each contact field over all contacts (one query): the worst case a send renders."""
    lengths = Contact.objects.aggregate(**{field: Max(Length(field)) for field in CONTACT_FIELDS})
    return {field: length or 0 for field, length in lengths.items()}


def _mapping_problems(key: str, entry: dict[str, Any], *, is_media: bool) -> list[str]:
    source, value, default = entry.get("source"), entry.get("value", ""), entry.get("default", "")
    if source not in VariableSource.values:
        return [f"{key}: choose where its value comes from."]
    if is_media:
        if source != VariableSource.CONSTANT or not value:
            return [f"{key}: give the header's media as a constant: an https:// link or an uploaded media id."]
        if not value.startswith("https://") and not value.isdigit():
            return [f"{key}: {value!r} is neither an https:// link nor a media id."]
        return []
    if source == VariableSource.CONSTANT and not value:
        return [f"{key}: enter the constant text."]
    if source == VariableSource.CONTACT_FIELD and value not in CONTACT_FIELDS:
        return [f"{key}: the contact field must be one of {', '.join(CONTACT_FIELDS)}."]
    if source == VariableSource.ATTRIBUTE and not _ATTRIBUTE_KEY.match(value):
        return [f"{key}: enter the name of the custom attribute (e.g. city)."]
    if default and PLACEHOLDER.search(default):
        return [f"{key}: the default can't contain {{{{…}}}}."]
    return []


# The recipient links a URL button can carry, as a sample of each (the token part varies per recipient).
_LINK_ROUTES = {VariableSource.OPT_OUT_LINK: "contacts:opt_out", VariableSource.TRACKED_LINK: "deliveries:click"}


def _button_link_problems(key: str, button_url: str, entry: dict) -> list[str]:
    sample = settings.PUBLIC_BASE_URL + reverse(_LINK_ROUTES[entry["source"]], kwargs={"token": "TOKEN"})
    if button_link_suffix(button_url, sample) is None:
        fixed_start = sample.split("TOKEN", 1)[0]
        return [
            f"{key}: to carry this link the button's approved URL must be {fixed_start}{{{{1}}}}, not {button_url}."
        ]
    return []


def variable_mapping_check(*, template: MessageTemplate, variable_mapping: dict[str, Any]) -> dict[str, dict]:
    """The normalized mapping if every parameter is mapped and renders within Meta's limits for every
    contact (the longest contact field values are checked); raises VariableMappingInvalid otherwise."""
    structure = template_structure(template)
    mapping = variable_mapping_normalize(template=template, variable_mapping=variable_mapping)
    problems = []
    for parameter in structure.parameters:
        entry = mapping.get(parameter.key)
        if entry is None or not entry["source"]:
            problems.append(f"{parameter.key}: not mapped; every parameter of {template.name} needs a value.")
            continue
        problems += _mapping_problems(parameter.key, entry, is_media=parameter.is_media)
        if parameter.section == "button" and entry["source"] in LINK_SOURCES:
            problems += _button_link_problems(parameter.key, structure.buttons[parameter.button_index].url, entry)
    if problems:
        raise VariableMappingInvalid(problems)
    if not structure.parameters:
        return mapping
    longest = (
        _longest_contact_values()
        if any(entry["source"] == VariableSource.CONTACT_FIELD for entry in mapping.values())
        else {}
    )
    worst: dict[str, str] = {}
    for parameter in structure.parameters:
        entry = mapping[parameter.key]
        source = entry["source"]
        if source == VariableSource.CONTACT_FIELD:
            length = max(longest.get(entry["value"], 0), len(entry["default"]), 1)
            worst[parameter.key] = "x" * length
        elif source in (VariableSource.OPT_OUT_LINK, VariableSource.TRACKED_LINK):
            worst[parameter.key] = "x" * max(_OPT_OUT_URL_SAMPLE_LENGTH, len(settings.PUBLIC_BASE_URL) + 60)
        else:
            worst[parameter.key] = parameter_value(entry, None) or "x"
    try:
        rendered_limits_check(structure, worst)
    except ParameterValueInvalid as err:
        raise VariableMappingInvalid([f"{err.parameter_key}: {err.reason} with the longest values mapped."]) from err
    for parameter in structure.parameters:
        if (
            parameter.section == "button"
            and len(structure.buttons[parameter.button_index].url) + len(worst[parameter.key]) > BUTTON_URL_MAX
        ):
            raise VariableMappingInvalid([f"{parameter.key}: the button URL would exceed {BUTTON_URL_MAX} characters."])
    return mapping
