"""Checks a `POST /{phone_number_id}/messages` body the way Meta does, before anything is accepted.

Top-level fields missing (`messaging_product`, `to`, `type`) answer 100 "The parameter X is required.";
fields missing inside the content object (template name, language code, a parameter's value) answer 131008.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .graph_errors import GraphError
from .template_catalog import StoredTemplate, TemplateCatalog

_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_PARAMETER_NAME = re.compile(r"^[a-z_]+$")
SUPPORTED_TYPES = ("template", "text")


@dataclass
class ValidSend:
    """A send that Meta would accept (a bad number is accepted here and fails later, like Meta)."""

    message_type: str
    to_input: str
    wa_id: str
    number_is_valid: bool
    template: StoredTemplate | None = None
    language: str | None = None
    components: list | None = None
    text_body: str | None = None
    biz_opaque_callback_data: str | None = None
    header_media_id: str | None = None  # a media header given by id (checked against uploads), not by link


def recipient_wa_id(to: str) -> tuple[str, bool]:
    """Digits of `to` without `+` and separators, and whether they look like a WhatsApp number."""
    digits = _PHONE_SEPARATORS.sub("", to)
    if digits.startswith("+"):
        digits = digits[1:]
    return digits, digits.isdigit() and 8 <= len(digits) <= 15


def _required(container: dict, key: str, code: int, where: str = ""):
    value = container.get(key)
    if value is None or value == "":
        if code == 100:
            raise GraphError(100, f"The parameter {where}{key} is required.")
        raise GraphError(131008, f"The parameter {where}{key} is required.")
    return value


def validate_send(body, catalog: TemplateCatalog, now: float) -> ValidSend:
    """Return what to accept, or raise the GraphError Meta would answer."""
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    if _required(body, "messaging_product", 100) != "whatsapp":
        raise GraphError(100, "The parameter messaging_product must be whatsapp.")
    to = _required(body, "to", 100)
    message_type = body.get("type", "text")
    if not isinstance(to, str):
        raise GraphError(100, "The parameter to must be a string.")
    if message_type not in SUPPORTED_TYPES:
        raise GraphError(100, f"Param type must be one of {{{', '.join(SUPPORTED_TYPES)}}} in this simulator.")
    content = body.get(message_type)
    if not isinstance(content, dict):
        raise GraphError(131008, f"The parameter {message_type} is required.")
    biz_opaque = body.get("biz_opaque_callback_data")
    if biz_opaque is not None and (not isinstance(biz_opaque, str) or len(biz_opaque) > 512):
        raise GraphError(100, "The parameter biz_opaque_callback_data must be a string of at most 512 characters.")
    wa_id, number_is_valid = recipient_wa_id(to)
    send = ValidSend(message_type, to, wa_id, number_is_valid, biz_opaque_callback_data=biz_opaque)
    if message_type == "text":
        text_body = _required(content, "body", 131008, "text.")
        if not isinstance(text_body, str) or len(text_body) > 4096:
            raise GraphError(100, "The parameter text.body must be a string of at most 4096 characters.")
        send.text_body = text_body
        return send
    name = _required(content, "name", 131008, "template.")
    language = content.get("language")
    code = _required(language, "code", 131008, "template.language.") if isinstance(language, dict) else None
    if code is None:
        raise GraphError(131008, "The parameter template.language is required.")
    template = catalog.get(name, code)
    status = template.status_at(now) if template is not None else None
    if status == "PAUSED":
        raise GraphError(132015, f"Template {name} in {code} is paused because of low quality.")
    if status != "APPROVED":
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")
    components = content.get("components", [])
    if not isinstance(components, list):
        raise GraphError(100, "The parameter template.components must be an array.")
    header_parameters = _check_components(template, components)
    send.template, send.language, send.components = template, code, components
    for parameter in header_parameters:
        media = parameter.get(parameter.get("type"))
        if isinstance(media, dict) and media.get("id") and not media.get("link"):
            send.header_media_id = str(media["id"])
    return send


def _check_components(template: StoredTemplate, components: list) -> list:
    """Check the components against the template; return the header parameters."""
    shape = template.shape
    body_parameters: list = []
    header_parameters: list = []
    for component in components:
        if not isinstance(component, dict):
            raise GraphError(100, "Each template component must be an object.")
        kind = component.get("type")
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list):
            raise GraphError(100, f"The parameter {kind}.parameters must be an array.")
        for parameter in parameters:
            _check_parameter(parameter)
        if kind == "body":
            body_parameters.extend(parameters)
        elif kind == "header":
            header_parameters.extend(parameters)
        elif kind == "button":
            _check_button(shape.button_types, component)
        else:
            raise GraphError(100, f"Invalid component type: {kind!r}.")
    if shape.named:
        _check_named_body(shape.body_names, body_parameters)
    elif len(body_parameters) != shape.body_positional_count:
        raise GraphError(
            132000,
            f"body: number of localizable_params ({len(body_parameters)}) does not match the expected number of "
            f"params ({shape.body_positional_count})",
        )
    _check_header(shape.header_format, shape.header_text_parameters, header_parameters)
    return header_parameters


def _check_parameter(parameter) -> None:
    if not isinstance(parameter, dict):
        raise GraphError(100, "Each parameter must be an object.")
    kind = _required(parameter, "type", 131008, "parameter.")
    if kind in ("text", "payload"):
        value = _required(parameter, kind, 131008, "parameter.")
        if not isinstance(value, str):
            raise GraphError(100, f"The parameter {kind} must be a string.")
    elif kind == "currency":
        currency = _required(parameter, "currency", 131008, "parameter.")
        for key in ("fallback_value", "code", "amount_1000"):
            _required(currency, key, 131008, "currency.")
    elif kind == "date_time":
        _required(_required(parameter, "date_time", 131008, "parameter."), "fallback_value", 131008, "date_time.")
    elif kind in ("image", "video", "document"):
        media = _required(parameter, kind, 131008, "parameter.")
        if not isinstance(media, dict) or not (media.get("id") or media.get("link")):
            raise GraphError(131008, f"The parameter {kind}.id or {kind}.link is required.")
    else:
        raise GraphError(100, f"Invalid parameter type: {kind!r}.")


def _check_named_body(names: tuple[str, ...], parameters: list) -> None:
    given = []
    for parameter in parameters:
        name = parameter.get("parameter_name")
        if not name:
            raise GraphError(100, "Parameter name is missing or empty")
        if not isinstance(name, str) or not _PARAMETER_NAME.match(name) or name not in names:
            raise GraphError(100, f"Parameter name ({name}) does not exist in the template")
        given.append(name)
    if len(given) != len(names) or set(given) != set(names):
        raise GraphError(
            132000,
            f"body: number of localizable_params ({len(given)}) does not match the expected number of "
            f"params ({len(names)})",
        )


def _check_header(header_format: str | None, text_parameters: int, parameters: list) -> None:
    if header_format in ("IMAGE", "VIDEO", "DOCUMENT"):
        wanted = header_format.lower()
        if len(parameters) != 1 or parameters[0].get("type") != wanted:
            raise GraphError(
                132000,
                f"header: number of localizable_params ({len(parameters)}) does not match the expected number "
                f"of params (1 {wanted})",
            )
    elif len(parameters) != text_parameters:
        raise GraphError(
            132000,
            f"header: number of localizable_params ({len(parameters)}) does not match the expected number of "
            f"params ({text_parameters})",
        )


def _check_button(button_types: tuple[str, ...], component: dict) -> None:
    sub_type = component.get("sub_type")
    index = component.get("index")
    try:
        position = int(index)
    except (TypeError, ValueError):
        raise GraphError(131008, "The parameter button.index is required.") from None
    expected = {"quick_reply": "QUICK_REPLY", "url": "URL"}.get(sub_type)
    if expected is None:
        raise GraphError(100, f"Invalid button sub_type: {sub_type!r}.")
    if not 0 <= position < len(button_types) or button_types[position] != expected:
        raise GraphError(132000, f"button at index {index}: the template has no {expected} button there")
