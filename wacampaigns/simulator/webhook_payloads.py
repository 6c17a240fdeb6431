"""Webhook bodies as Meta posts them (reference/cloud-api.md §5), and their signature."""

from __future__ import annotations

import hashlib
import hmac


def signature_header(app_secret: str, raw_body: bytes) -> str:
    """`X-Hub-Signature-256`: sha256= and the hex HMAC-SHA256 of the raw body keyed with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


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


def status_item(
    *,
    wamid: str,
    status: str,
    timestamp: int,
    recipient_id: str,
    biz_opaque_callback_data: str | None,
    pricing_category: str | None,
    errors: list | None = None,
) -> dict:
    """One `statuses[]` item in the v24+ shape: no `conversation`; `pricing` only when given."""
    item: dict = {"id": wamid, "status": status, "timestamp": str(timestamp), "recipient_id": recipient_id}
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if pricing_category is not None:
        free = pricing_category == "service"
        item["pricing"] = {
            "billable": not free,
            "pricing_model": "PMP",
            "type": "free_customer_service" if free else "regular",
            "category": pricing_category,
        }
    if errors:
        item["errors"] = errors
    return item


def inbound_message_value(
    *,
    wa_id: str,
    profile_name: str,
    message: dict,
) -> dict:
    """The `value` of an inbound message: `contacts` plus one `messages[]` item."""
    return {"contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}], "messages": [message]}


def inbound_message(
    *,
    wamid: str,
    wa_id: str,
    timestamp: int,
    text: str | None = None,
    button: tuple[str, str] | None = None,
    context: tuple[str, str] | None = None,
) -> dict:
    """A `messages[]` item: text, or a template quick-reply tap (`type: button`), with optional context."""
    message: dict = {}
    if context is not None:
        message["context"] = {"from": context[0], "id": context[1]}
    message.update({"from": wa_id, "id": wamid, "timestamp": str(timestamp)})
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
