"""A template's components parsed once: header, body, footer, buttons and the parameters a send must fill.

Meta's `components` are kept verbatim on MessageTemplate; this is the read model rendering, preview and
mapping validation share. Parsing is cached per template instance and per (pk, updated_at), so the sending
engine pays for it once per template version, not once per recipient.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from templates_app.models import MessageTemplate, ParameterFormat

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
MEDIA_PARAMETER_NAME = "media"

# Content limits of a rendered template [M-COMP][M-UTIL] (reference §1.1).
HEADER_TEXT_MAX = 60
BODY_TEXT_MAX = 1024
FOOTER_TEXT_MAX = 60
BUTTON_TEXT_MAX = 25
BUTTON_URL_MAX = 2000


@dataclass(frozen=True)
class TemplateParameter:
    """One placeholder of a template: `key` is how a campaign's variable mapping names it."""

    key: str  # "header.1", "header.media", "body.first_name", "button.0"
    section: str  # header, body, button
    name: str  # "1", "first_name", "media"
    button_index: int | None = None
    example: str = ""
    media_format: str | None = None  # IMAGE, VIDEO or DOCUMENT for the "header.media" parameter

    @property
    def is_media(self) -> bool:
        """Whether the value is a media link or media id rather than text."""
        return self.media_format is not None


@dataclass(frozen=True)
class TemplateButton:
    """A button as Meta lists it; `url` keeps its `{{1}}` placeholder for a dynamic URL."""

    index: int
    type: str  # QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, ...
    text: str
    url: str = ""
    phone_number: str = ""

    @property
    def is_dynamic_url(self) -> bool:
        """A URL button whose suffix is filled per recipient."""
        return self.type == "URL" and bool(PLACEHOLDER.search(self.url))


@dataclass(frozen=True)
class TemplateStructure:
    """What a template shows and what a send must supply."""

    header_format: str | None  # None, TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION
    header_text: str
    body_text: str
    footer_text: str
    buttons: tuple[TemplateButton, ...]
    parameters: tuple[TemplateParameter, ...]
    named: bool
    by_key: dict[str, TemplateParameter] = field(default_factory=dict, compare=False)


def _placeholders(text: str, *, named: bool) -> list[str]:
    """Distinct placeholder names, by number for positional templates (Meta matches them by order)."""
    names = list(dict.fromkeys(PLACEHOLDER.findall(text or "")))
    if not named:
        return sorted((name for name in names if name.isdigit()), key=int)
    return names


def _body_examples(component: dict[str, Any], *, named: bool) -> dict[str, str]:
    example = component.get("example") or {}
    if named:
        return {
            str(item.get("param_name")): str(item.get("example", ""))
            for item in example.get("body_text_named_params") or []
            if isinstance(item, dict)
        }
    rows = example.get("body_text") or []
    first = rows[0] if rows and isinstance(rows[0], list) else []
    return {str(position): str(value) for position, value in enumerate(first, start=1)}


def _header_examples(component: dict[str, Any], *, named: bool) -> dict[str, str]:
    example = component.get("example") or {}
    if named:
        return {
            str(item.get("param_name")): str(item.get("example", ""))
            for item in example.get("header_text_named_params") or []
            if isinstance(item, dict)
        }
    values = example.get("header_text") or []
    return {str(position): str(value) for position, value in enumerate(values, start=1)}


def structure_parse(components: list[dict[str, Any]], *, named: bool) -> TemplateStructure:
    """Parse Meta's components (any letter case in `type`/`format`) into a TemplateStructure."""
    header_format, header_text, body_text, footer_text = None, "", "", ""
    buttons: list[TemplateButton] = []
    header: list[TemplateParameter] = []
    body: list[TemplateParameter] = []
    button_parameters: list[TemplateParameter] = []
    for component in components or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format == "TEXT":
                header_text = str(component.get("text", ""))
                examples = _header_examples(component, named=named)
                header = [
                    TemplateParameter(f"header.{name}", "header", name, example=examples.get(name, ""))
                    for name in _placeholders(header_text, named=named)
                ]
            elif header_format in MEDIA_HEADER_FORMATS:
                header = [
                    TemplateParameter(
                        f"header.{MEDIA_PARAMETER_NAME}", "header", MEDIA_PARAMETER_NAME, media_format=header_format
                    )
                ]
        elif kind == "BODY":
            body_text = str(component.get("text", ""))
            examples = _body_examples(component, named=named)
            body = [
                TemplateParameter(f"body.{name}", "body", name, example=examples.get(name, ""))
                for name in _placeholders(body_text, named=named)
            ]
        elif kind == "FOOTER":
            footer_text = str(component.get("text", ""))
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                parsed = TemplateButton(
                    index=index,
                    type=str(button.get("type", "")).upper(),
                    text=str(button.get("text", "")),
                    url=str(button.get("url", "")),
                    phone_number=str(button.get("phone_number", "")),
                )
                buttons.append(parsed)
                if parsed.is_dynamic_url:
                    example = button.get("example") or []
                    example_text = str(example[0]) if isinstance(example, list) and example else ""
                    button_parameters.append(
                        TemplateParameter(f"button.{index}", "button", "1", button_index=index, example=example_text)
                    )
    parameters = (*header, *body, *button_parameters)
    return TemplateStructure(
        header_format=header_format,
        header_text=header_text,
        body_text=body_text,
        footer_text=footer_text,
        buttons=tuple(buttons),
        parameters=parameters,
        named=named,
        by_key={parameter.key: parameter for parameter in parameters},
    )


_CACHE_SIZE = 512
_cache: OrderedDict[tuple, TemplateStructure] = OrderedDict()
_cache_lock = threading.Lock()


def template_structure(template: MessageTemplate) -> TemplateStructure:
    """The parsed structure of a template version, cached on the instance and per (pk, updated_at)."""
    cached = template.__dict__.get("_structure")
    if cached is not None and cached[0] is template.components:
        return cached[1]
    named = template.parameter_format == ParameterFormat.NAMED
    key = (template.pk, template.updated_at, named) if template.pk is not None and template.updated_at else None
    structure = None
    if key is not None:
        with _cache_lock:
            structure = _cache.get(key)
            if structure is not None:
                _cache.move_to_end(key)
    if structure is None:
        structure = structure_parse(template.components, named=named)
        if key is not None:
            with _cache_lock:
                _cache[key] = structure
                if len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
    template.__dict__["_structure"] = (template.components, structure)
    return structure
