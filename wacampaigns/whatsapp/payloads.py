"""Builders for the JSON bodies of Cloud API sends: template components and message envelopes (reference §1)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

# Named template parameters are lowercase letters and underscores [M-UTIL][M-COMP]; digits after the first
# character are accepted too, as Meta's template editor allows them.
_PARAMETER_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_MAX_BUTTON_INDEX = 9  # "Position index of the button (0-9)" [OAS]

MediaKind = Literal["image", "document", "video"]


class PayloadError(ValueError):
    """A message body that Meta would reject was about to be built."""


def _named(parameter: dict[str, Any], name: str | None) -> dict[str, Any]:
    if name is None:
        return parameter
    if not _PARAMETER_NAME.match(name):
        raise PayloadError(f"parameter name {name!r} must be lowercase letters, digits and underscores")
    return {"type": parameter["type"], "parameter_name": name, **{k: v for k, v in parameter.items() if k != "type"}}


@dataclass(frozen=True, slots=True)
class TextParameter:
    """A `{{1}}` or `{{name}}` placeholder filled with text."""

    text: str
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this parameter."""
        return _named({"type": "text", "text": self.text}, self.name)


@dataclass(frozen=True, slots=True)
class CurrencyParameter:
    """A localized amount; `amount_1000` is the amount multiplied by 1000."""

    fallback_value: str
    code: str
    amount_1000: int
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this parameter."""
        currency = {"fallback_value": self.fallback_value, "code": self.code, "amount_1000": self.amount_1000}
        return _named({"type": "currency", "currency": currency}, self.name)


@dataclass(frozen=True, slots=True)
class DateTimeParameter:
    """A date and time; Cloud API always renders `fallback_value` [OAS], the other fields are optional."""

    fallback_value: str
    name: str | None = None
    calendar: str | None = None
    year: int | None = None
    month: int | None = None
    day_of_month: int | None = None
    day_of_week: int | None = None
    hour: int | None = None
    minute: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this parameter."""
        date_time: dict[str, Any] = {"fallback_value": self.fallback_value}
        for field_name in ("calendar", "year", "month", "day_of_month", "day_of_week", "hour", "minute"):
            value = getattr(self, field_name)
            if value is not None:
                date_time[field_name] = value
        return _named({"type": "date_time", "date_time": date_time}, self.name)


@dataclass(frozen=True, slots=True)
class MediaParameter:
    """An image, document or video header, by uploaded media id or by link (exactly one)."""

    kind: MediaKind
    media_id: str | None = None
    link: str | None = None
    filename: str | None = None  # documents only: the name shown to the recipient

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this parameter."""
        if (self.media_id is None) == (self.link is None):
            raise PayloadError("a media parameter takes exactly one of media_id and link")
        if self.kind not in ("image", "document", "video"):
            raise PayloadError(f"unsupported media header kind {self.kind!r}")
        media: dict[str, Any] = {"id": self.media_id} if self.media_id is not None else {"link": self.link}
        if self.filename is not None:
            if self.kind != "document":
                raise PayloadError("only a document header takes a filename")
            media["filename"] = self.filename
        return {"type": self.kind, self.kind: media}


BodyParameter = TextParameter | CurrencyParameter | DateTimeParameter
HeaderParameter = TextParameter | MediaParameter


@dataclass(frozen=True, slots=True)
class HeaderComponent:
    """The header's one parameter: text, or media."""

    parameter: HeaderParameter

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this component."""
        return {"type": "header", "parameters": [self.parameter.to_dict()]}


@dataclass(frozen=True, slots=True)
class BodyComponent:
    """The body's parameters, in order for positional templates, by name for named ones."""

    parameters: Sequence[BodyParameter]

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this component."""
        return {"type": "body", "parameters": [parameter.to_dict() for parameter in self.parameters]}


def _button_index(index: int) -> str:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= _MAX_BUTTON_INDEX:
        raise PayloadError(f"button index must be an integer from 0 to {_MAX_BUTTON_INDEX}, not {index!r}")
    return str(index)  # Meta's examples send the index as a string: "0"


@dataclass(frozen=True, slots=True)
class QuickReplyButton:
    """A quick-reply button's payload, echoed back in the inbound `button.payload` when tapped."""

    index: int
    payload: str

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this component."""
        return {
            "type": "button",
            "sub_type": "quick_reply",
            "index": _button_index(self.index),
            "parameters": [{"type": "payload", "payload": self.payload}],
        }


@dataclass(frozen=True, slots=True)
class UrlButton:
    """The suffix appended to a dynamic URL button's base URL (percent-encode special characters [M-COMP])."""

    index: int
    suffix: str

    def to_dict(self) -> dict[str, Any]:
        """The wire form of this component."""
        return {
            "type": "button",
            "sub_type": "url",
            "index": _button_index(self.index),
            "parameters": [{"type": "text", "text": self.suffix}],
        }


Component = HeaderComponent | BodyComponent | QuickReplyButton | UrlButton


def template_components(components: Sequence[Component]) -> list[dict[str, Any]]:
    """The `template.components` list; empty components (a body without parameters) are left out."""
    built = []
    for component in components:
        wire = component.to_dict()
        if wire["parameters"]:
            built.append(wire)
    return built


def _envelope(*, to: str, message_type: str, biz_opaque_callback_data: str) -> dict[str, Any]:
    if not to:
        raise PayloadError("a message needs a recipient")
    if not biz_opaque_callback_data:
        # design.md decision 3: the delivery id rides along so status webhooks can be matched without a wamid.
        raise PayloadError("every send carries biz_opaque_callback_data (the delivery id)")
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": message_type,
        "biz_opaque_callback_data": biz_opaque_callback_data,
    }


def template_message(
    *,
    to: str,
    template_name: str,
    language_code: str,
    components: Sequence[Component] = (),
    biz_opaque_callback_data: str,
) -> dict[str, Any]:
    """The full body of a template send."""
    template: dict[str, Any] = {"name": template_name, "language": {"code": language_code}}
    built_components = template_components(components)
    if built_components:
        template["components"] = built_components
    body = _envelope(to=to, message_type="template", biz_opaque_callback_data=biz_opaque_callback_data)
    body["template"] = template
    return body


def text_message(
    *,
    to: str,
    text: str,
    biz_opaque_callback_data: str,
    preview_url: bool = False,
    reply_to_wamid: str | None = None,
) -> dict[str, Any]:
    """The full body of a free-form text send (only inside the 24 h customer service window)."""
    body = _envelope(to=to, message_type="text", biz_opaque_callback_data=biz_opaque_callback_data)
    body["text"] = {"preview_url": preview_url, "body": text}
    if reply_to_wamid is not None:
        body["context"] = {"message_id": reply_to_wamid}
    return body
