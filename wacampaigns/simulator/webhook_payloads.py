"""Webhook bodies as Meta posts them (reference/cloud-api.md §5), and their signature.

Status items are built as compact JSON bytes (`MessageStatuses`, byte for byte what
`json.dumps(status_item(...))` gives), so that a batch body is an envelope around joined items.
"""

from __future__ import annotations

import functools
import hmac
import json
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps's own (C) string encoder

_COMPACT = (",", ":")


def signature_header(app_secret: str, raw_body: bytes) -> str:
    """`X-Hub-Signature-256`: sha256= and the hex HMAC-SHA256 of the raw body keyed with the app secret."""
    return "sha256=" + hmac.digest(app_secret.encode(), raw_body, "sha256").hex()


def messages_envelope(waba_id: str, phone_number_id: str, display_phone_number: str, value: dict) -> dict:
    """The `messages` field envelope: one entry, one change, routed by `metadata.phone_number_id`."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def statuses_envelope_parts(waba_id: str, phone_number_id: str, display_phone_number: str) -> tuple[bytes, bytes]:
    """The bytes of a `statuses` envelope before and after the comma-joined status items."""
    empty = messages_envelope(waba_id, phone_number_id, display_phone_number, {"statuses": []})
    text = json.dumps(empty, separators=_COMPACT)
    before, _, after = text.partition('"statuses":[]')
    return (before + '"statuses":[').encode(), ("]" + after).encode()


def _pricing(category: str) -> dict:
    free = category == "service"
    return {
        "billable": not free,
        "pricing_model": "PMP",
        "type": "free_customer_service" if free else "regular",
        "category": category,
    }


@functools.lru_cache(maxsize=64)
def _pricing_json(category: str) -> str:
    """`,"pricing":{...}` for a category: the same few strings for every message, encoded once."""
    return ',"pricing":' + json.dumps(_pricing(category), separators=_COMPACT)


def status_item(
    *,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    biz_opaque_callback_data: str | None,
    pricing_category: str | None,
    errors: list | None = None,
    recipient_user_id: str | None = None,
) -> dict:
    """One `statuses[]` item in the v24+ shape: no `conversation`; `pricing` and `recipient_user_id` when given."""
    item: dict = {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": recipient_id}
    if recipient_user_id is not None:
        item["recipient_user_id"] = recipient_user_id
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if pricing_category is not None:
        item["pricing"] = _pricing(pricing_category)
    if errors:
        item["errors"] = errors
    return item


class MessageStatuses:
    """The `statuses[]` items of one message as compact JSON bytes, byte for byte `json.dumps(status_item(...))`.

    Built once per accepted message: its items share everything but status, timestamp, pricing and errors,
    so each item is one string format instead of a dict through the generic encoder.
    """

    __slots__ = ("_head", "_pricing", "_tail")

    def __init__(
        self,
        *,
        wamid: str,
        recipient_id: str,
        biz_opaque_callback_data: str | None,
        pricing_category: str,
        recipient_user_id: str | None = None,
    ):
        self._head = '{"id":' + _json_string(wamid) + ',"status":'
        tail = '","recipient_id":' + _json_string(recipient_id)
        if recipient_user_id is not None:
            tail += ',"recipient_user_id":' + _json_string(recipient_user_id)
        if biz_opaque_callback_data is not None:
            tail += ',"biz_opaque_callback_data":' + _json_string(biz_opaque_callback_data)
        self._tail = tail
        self._pricing = _pricing_json(pricing_category)

    def item(self, status: str, timestamp: int, *, priced: bool, errors: list | None = None) -> bytes:
        """One item; `priced` adds `pricing` (sent and one of delivered/read), `errors` makes a failure."""
        errors_part = ',"errors":' + json.dumps(errors, separators=_COMPACT) if errors else ""
        return (
            f'{self._head}{_json_string(status)},"timestamp":"{int(timestamp)}{self._tail}'
            f"{self._pricing if priced else ''}{errors_part}}}"
        ).encode()


def inbound_message_value(
    *,
    wa_id: str | None,
    profile_name: str,
    message: dict,
    user_id: str | None = None,
    username: str | None = None,
) -> dict:
    """The `value` of an inbound message: `contacts` plus one `messages[]` item.

    From 2026 a contact carries its business-scoped `user_id` and maybe `profile.username`; a user who
    adopted a username may withhold the phone number, so `wa_id` is then absent (reference §5.4).
    """
    profile = {"name": profile_name}
    if username is not None:
        profile["username"] = username
    contact: dict = {"profile": profile}
    if wa_id is not None:
        contact["wa_id"] = wa_id
    if user_id is not None:
        contact["user_id"] = user_id
    return {"contacts": [contact], "messages": [message]}


def inbound_message(
    *,
    wamid: str,
    wa_id: str | None,
    timestamp: int,
    text: str | None = None,
    button: tuple[str, str] | None = None,
    context: tuple[str, str] | None = None,
    from_user_id: str | None = None,
) -> dict:
    """A `messages[]` item: text, or a template quick-reply tap (`type: button`), with optional context.

    `from` is the phone number (absent for a user who withholds it), `from_user_id` the business-scoped id.
    """
    message: dict = {}
    if context is not None:
        message["context"] = {"from": context[0], "id": context[1]}
    if wa_id is not None:
        message["from"] = wa_id
    if from_user_id is not None:
        message["from_user_id"] = from_user_id
    message.update({"id": wamid, "timestamp": str(timestamp)})
    if button is not None:
        message["type"] = "button"
        message["button"] = {"payload": button[0], "text": button[1]}
    else:
        message["type"] = "text"
        message["text"] = {"body": text or ""}
    return message


def template_status_update(
    *, waba_id: str, time: int, template_id: str, name: str, language: str, category: str, event: str, reason: str
) -> dict:
    """A `message_template_status_update`: `entry[].time` present, no `metadata` in `value` (§5.5)."""
    value: dict = {
        "event": event,
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
        "message_template_category": category,
    }
    if event == "PAUSED":
        value["other_info"] = {
            "title": "FIRST_PAUSE",
            "description": f"Your WhatsApp message template {name} has been paused because of low quality "
            "(paced messages received negative feedback).",
        }
    if event == "REJECTED":
        value["rejection_info"] = {
            "reason": "The simulator rejected this template (template_reject_share).",
            "recommendation": "Submit it again; the simulator's reviews are random.",
        }
    return {
        "entry": [
            {"id": waba_id, "time": time, "changes": [{"value": value, "field": "message_template_status_update"}]}
        ],
        "object": "whatsapp_business_account",
    }
