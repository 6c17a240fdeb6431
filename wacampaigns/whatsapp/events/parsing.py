"""Turn a webhook POST body into normalized events (reference/cloud-api.md §5.3 to §5.5)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from wacampaigns.whatsapp.errors import GraphApiError, classify_graph_error
from wacampaigns.whatsapp.events.types import (
    AccountUpdateEvent,
    BusinessCapabilityEvent,
    Conversation,
    DeliveryStatus,
    InboundMessageEvent,
    MarketingPreference,
    MessageStatusEvent,
    PhoneNumberQualityEvent,
    Pricing,
    TemplateCategoryEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
    UnknownEvent,
    UserPreferenceEvent,
    WebhookErrorsEvent,
    WebhookEvent,
    WebhookPayloadError,
)

logger = logging.getLogger(__name__)

_KNOWN_STATUSES = {status.value for status in DeliveryStatus} - {DeliveryStatus.UNKNOWN.value}
_KNOWN_PREFERENCES = {preference.value for preference in MarketingPreference} - {MarketingPreference.UNKNOWN.value}


def parse_webhook_body(body: bytes) -> list[WebhookEvent]:
    """Decode the raw POST body and parse it; invalid JSON raises `WebhookPayloadError`."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise WebhookPayloadError(f"webhook body is not JSON: {err}") from err
    return parse_webhook(payload)


def parse_webhook(payload: Any) -> list[WebhookEvent]:
    """Every event of a decoded webhook payload, in order: all entries, changes and items (batches included)."""
    root = _mapping(payload, "payload")
    if root.get("object") != "whatsapp_business_account":
        logger.warning("Webhook object %r is not whatsapp_business_account; parsing it anyway", root.get("object"))
    events: list[WebhookEvent] = []
    for entry_index, entry_value in enumerate(_list(root.get("entry"), "entry")):
        where = f"entry[{entry_index}]"
        entry = _mapping(entry_value, where)
        waba_id = _required_str(entry, "id", where)
        occurred_at = _optional_timestamp(entry.get("time"), f"{where}.time")
        for change_index, change_value in enumerate(_list(entry.get("changes"), f"{where}.changes")):
            change_where = f"{where}.changes[{change_index}]"
            change = _mapping(change_value, change_where)
            field_name = _required_str(change, "field", change_where)
            value = change.get("value")
            parser = _FIELD_PARSERS.get(field_name)
            if parser is None:
                logger.warning("Unknown webhook field %r kept as an unknown event: %r", field_name, value)
                events.append(UnknownEvent(waba_id=waba_id, field_name=field_name, occurred_at=occurred_at, raw=value))
                continue
            change_value_mapping = _mapping(value, f"{change_where}.value")
            events.extend(parser(waba_id, occurred_at, change_value_mapping, f"{change_where}.value"))
    return events


# --- messages field ----------------------------------------------------------------------------------

_MESSAGE_VALUE_LISTS = ("statuses", "messages", "errors", "user_preferences")


def _messages_value(waba_id: str, occurred_at: datetime | None, value: Mapping, where: str) -> Iterator[WebhookEvent]:
    metadata_where = f"{where}.metadata"
    metadata = _optional_mapping(value.get("metadata"), metadata_where) or {}
    phone_number_id = _optional_str(metadata, "phone_number_id", metadata_where)
    display_phone_number = _optional_str(metadata, "display_phone_number", metadata_where)
    contacts = _Contacts(
        [_mapping(c, f"{where}.contacts[]") for c in _list(value.get("contacts"), f"{where}.contacts")]
    )
    common = {"waba_id": waba_id, "phone_number_id": phone_number_id, "display_phone_number": display_phone_number}

    for index, item in enumerate(_list(value.get("statuses"), f"{where}.statuses")):
        item_where = f"{where}.statuses[{index}]"
        yield _status(_mapping(item, item_where), contacts, common, item_where)
    for index, item in enumerate(_list(value.get("messages"), f"{where}.messages")):
        item_where = f"{where}.messages[{index}]"
        yield _inbound(_mapping(item, item_where), contacts, common, item_where)
    for index, item in enumerate(_list(value.get("user_preferences"), f"{where}.user_preferences")):
        item_where = f"{where}.user_preferences[{index}]"
        yield _user_preference(_mapping(item, item_where), contacts, common, item_where)
    errors = _errors(value.get("errors"), f"{where}.errors")
    if errors:
        yield WebhookErrorsEvent(waba_id=waba_id, phone_number_id=phone_number_id, errors=errors, raw=dict(value))
    if not any(key in value for key in _MESSAGE_VALUE_LISTS):
        logger.warning("Webhook messages value without a known list kept as an unknown event: %r", value)
        yield UnknownEvent(waba_id=waba_id, field_name="messages", occurred_at=occurred_at, raw=dict(value))


class _Contacts:
    """`value.contacts[]`, looked up by phone number or business-scoped user id."""

    def __init__(self, contacts: list[Mapping]) -> None:
        self._contacts = contacts

    def find(self, *, phone: str | None, user_id: str | None) -> Mapping:
        """The contact naming this phone or user id; the only contact when the item names neither."""
        for contact in self._contacts:
            if (phone and contact.get("wa_id") == phone) or (user_id and contact.get("user_id") == user_id):
                return contact
        if phone is None and user_id is None and len(self._contacts) == 1:
            return self._contacts[0]
        return {}


def _status(item: Mapping, contacts: _Contacts, common: dict, where: str) -> MessageStatusEvent:
    raw_status = _required_str(item, "status", where)
    status = DeliveryStatus(raw_status) if raw_status in _KNOWN_STATUSES else DeliveryStatus.UNKNOWN
    if status is DeliveryStatus.UNKNOWN:
        logger.warning("Unknown message status %r kept as unknown: %r", raw_status, item)
    recipient_id = _optional_str(item, "recipient_id", where)
    recipient_user_id = _optional_str(item, "recipient_user_id", where)
    contact = contacts.find(phone=recipient_id, user_id=recipient_user_id)
    errors, pricing, conversation = item.get("errors"), item.get("pricing"), item.get("conversation")
    return MessageStatusEvent(
        **common,
        wamid=_required_str(item, "id", where),
        status=status,
        raw_status=raw_status,
        timestamp=_timestamp(item.get("timestamp"), where, ".timestamp"),
        recipient_id=recipient_id,
        recipient_user_id=recipient_user_id
        or (_optional_str(contact, "user_id", f"{where} contact") if contact else None),
        recipient_parent_user_id=_optional_str(item, "recipient_parent_user_id", where)
        or (_optional_str(contact, "parent_user_id", f"{where} contact") if contact else None),
        biz_opaque_callback_data=_optional_str(item, "biz_opaque_callback_data", where),
        # The locations of the rarer parts are built only when the part is there.
        errors=_errors(errors, f"{where}.errors") if errors is not None else (),
        pricing=_pricing(pricing, f"{where}.pricing") if pricing is not None else None,
        conversation=_conversation(conversation, f"{where}.conversation") if conversation is not None else None,
        raw=dict(item),
    )


def _pricing(value: Any, where: str) -> Pricing | None:
    pricing = _optional_mapping(value, where)
    if pricing is None:
        return None
    billable = pricing.get("billable")
    if billable is not None and not isinstance(billable, bool):
        raise WebhookPayloadError(f"{where}.billable must be a boolean, not {billable!r}")
    return Pricing(
        billable=billable,
        pricing_model=_optional_str(pricing, "pricing_model", where),
        category=_optional_str(pricing, "category", where),
        type=_optional_str(pricing, "type", where),
    )


def _conversation(value: Any, where: str) -> Conversation | None:
    conversation = _optional_mapping(value, where)
    if conversation is None:
        return None
    origin = _optional_mapping(conversation.get("origin"), f"{where}.origin") or {}
    return Conversation(
        id=_optional_str(conversation, "id", where),
        origin_type=_optional_str(origin, "type", f"{where}.origin"),
        expires_at=_optional_timestamp(conversation.get("expiration_timestamp"), f"{where}.expiration_timestamp"),
    )


def _inbound(item: Mapping, contacts: _Contacts, common: dict, where: str) -> InboundMessageEvent:
    message_type = _optional_str(item, "type", where) or "unknown"
    from_phone = _optional_str(item, "from", where)
    from_user_id = _optional_str(item, "from_user_id", where)
    contact = contacts.find(phone=from_phone, user_id=from_user_id)
    profile = _optional_mapping(contact.get("profile"), f"{where} contact.profile") or {}
    text = _optional_mapping(item.get("text"), f"{where}.text") or {}
    button = _optional_mapping(item.get("button"), f"{where}.button") or {}
    interactive = _optional_mapping(item.get("interactive"), f"{where}.interactive") or {}
    interactive_type = _optional_str(interactive, "type", f"{where}.interactive")
    reply = (
        _optional_mapping(interactive.get(interactive_type), f"{where}.interactive.{interactive_type}")
        if interactive_type
        else None
    ) or {}
    context = _optional_mapping(item.get("context"), f"{where}.context") or {}
    return InboundMessageEvent(
        **common,
        wamid=_required_str(item, "id", where),
        type=message_type,
        timestamp=_timestamp(item.get("timestamp"), f"{where}.timestamp"),
        from_phone=from_phone,
        from_user_id=from_user_id or _optional_str(contact, "user_id", f"{where} contact"),
        from_parent_user_id=_optional_str(item, "from_parent_user_id", where)
        or _optional_str(contact, "parent_user_id", f"{where} contact"),
        profile_name=_optional_str(profile, "name", f"{where} contact.profile"),
        username=_optional_str(profile, "username", f"{where} contact.profile"),
        text=_optional_str(text, "body", f"{where}.text"),
        button_payload=_optional_str(button, "payload", f"{where}.button"),
        button_text=_optional_str(button, "text", f"{where}.button"),
        interactive_type=interactive_type,
        interactive_reply_id=_optional_str(reply, "id", f"{where}.interactive"),
        interactive_reply_title=_optional_str(reply, "title", f"{where}.interactive"),
        context_wamid=_optional_str(context, "id", f"{where}.context"),
        context_from=_optional_str(context, "from", f"{where}.context"),
        errors=_errors(item.get("errors"), f"{where}.errors"),
        raw=dict(item),
    )


def _user_preference(item: Mapping, contacts: _Contacts, common: dict, where: str) -> UserPreferenceEvent:
    raw_value = _required_str(item, "value", where)
    wa_id = _optional_str(item, "wa_id", where)
    user_id = _optional_str(item, "user_id", where)
    contact = contacts.find(phone=wa_id, user_id=user_id)
    preference = MarketingPreference(raw_value) if raw_value in _KNOWN_PREFERENCES else MarketingPreference.UNKNOWN
    if preference is MarketingPreference.UNKNOWN:
        logger.warning("Unknown user preference %r kept as unknown: %r", raw_value, item)
    return UserPreferenceEvent(
        **common,
        wa_id=wa_id,
        user_id=user_id or _optional_str(contact, "user_id", f"{where} contact"),
        category=_optional_str(item, "category", where),
        preference=preference,
        raw_value=raw_value,
        detail=_optional_str(item, "detail", where),
        timestamp=_optional_timestamp(item.get("timestamp"), f"{where}.timestamp"),
        raw=dict(item),
    )


def _user_preferences_value(
    waba_id: str, occurred_at: datetime | None, value: Mapping, where: str
) -> Iterator[WebhookEvent]:
    # Same envelope as `messages` (metadata, contacts, user_preferences[]) [M-UP].
    yield from _messages_value(waba_id, occurred_at, value, where)


def _errors(value: Any, where: str) -> tuple[GraphApiError, ...]:
    return tuple(
        classify_graph_error(_mapping(error, f"{where}[{index}]")) for index, error in enumerate(_list(value, where))
    )


# --- WABA management fields -------------------------------------------------------------------------


def _template_status(waba_id: str, occurred_at: datetime | None, value: Mapping, where: str) -> Iterator[WebhookEvent]:
    other_info = _optional_mapping(value.get("other_info"), f"{where}.other_info") or {}
    rejection_info = _optional_mapping(value.get("rejection_info"), f"{where}.rejection_info") or {}
    yield TemplateStatusEvent(
        waba_id=waba_id,
        occurred_at=occurred_at,
        event=_required_str(value, "event", where),
        template_id=_required_str(value, "message_template_id", where),
        template_name=_optional_str(value, "message_template_name", where),
        language=_optional_str(value, "message_template_language", where),
        category=_optional_str(value, "message_template_category", where),
        reason=_optional_str(value, "reason", where),
        other_info_title=_optional_str(other_info, "title", f"{where}.other_info"),
        other_info_description=_optional_str(other_info, "description", f"{where}.other_info"),
        rejection_reason=_optional_str(rejection_info, "reason", f"{where}.rejection_info"),
        rejection_recommendation=_optional_str(rejection_info, "recommendation", f"{where}.rejection_info"),
        raw=dict(value),
    )


def _template_quality(waba_id: str, occurred_at: datetime | None, value: Mapping, where: str) -> Iterator[WebhookEvent]:
    yield TemplateQualityEvent(
        waba_id=waba_id,
        occurred_at=occurred_at,
        template_id=_required_str(value, "message_template_id", where),
        template_name=_optional_str(value, "message_template_name", where),
        language=_optional_str(value, "message_template_language", where),
        previous_quality_score=_optional_str(value, "previous_quality_score", where),
        new_quality_score=_optional_str(value, "new_quality_score", where),
        raw=dict(value),
    )


def _template_category(
    waba_id: str, occurred_at: datetime | None, value: Mapping, where: str
) -> Iterator[WebhookEvent]:
    yield TemplateCategoryEvent(
        waba_id=waba_id,
        occurred_at=occurred_at,
        template_id=_required_str(value, "message_template_id", where),
        template_name=_optional_str(value, "message_template_name", where),
        language=_optional_str(value, "message_template_language", where),
        previous_category=_optional_str(value, "previous_category", where),
        new_category=_optional_str(value, "new_category", where),
        correct_category=_optional_str(value, "correct_category", where),
        raw=dict(value),
    )


def _phone_number_quality(
    waba_id: str, occurred_at: datetime | None, value: Mapping, where: str
) -> Iterator[WebhookEvent]:
    yield PhoneNumberQualityEvent(
        waba_id=waba_id,
        occurred_at=occurred_at,
        display_phone_number=_optional_str(value, "display_phone_number", where),
        event=_optional_str(value, "event", where),
        current_limit=_optional_str(value, "current_limit", where),
        raw=dict(value),
    )


def _account_update(waba_id: str, occurred_at: datetime | None, value: Mapping, where: str) -> Iterator[WebhookEvent]:
    yield AccountUpdateEvent(
        waba_id=waba_id, occurred_at=occurred_at, event=_optional_str(value, "event", where), raw=dict(value)
    )


def _business_capability(
    waba_id: str, occurred_at: datetime | None, value: Mapping, where: str
) -> Iterator[WebhookEvent]:
    # v24+ names the limit per business, v23 and older per phone (reference §4.2).
    limit = value.get("max_daily_conversations_per_business", value.get("max_daily_conversation_per_phone"))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | str)):
        raise WebhookPayloadError(f"{where}: the daily conversation limit must be a number or a string")
    yield BusinessCapabilityEvent(
        waba_id=waba_id, occurred_at=occurred_at, max_daily_conversations=limit, raw=dict(value)
    )


_FieldParser = Callable[[str, datetime | None, Mapping, str], Iterator[WebhookEvent]]

_FIELD_PARSERS: dict[str, _FieldParser] = {
    "messages": _messages_value,
    "user_preferences": _user_preferences_value,
    "message_template_status_update": _template_status,
    "message_template_quality_update": _template_quality,
    "template_category_update": _template_category,
    "phone_number_quality_update": _phone_number_quality,
    "account_update": _account_update,
    "business_capability_update": _business_capability,
}


# --- typed readers: a wrong type is a WebhookPayloadError, never a KeyError or TypeError ------------


def _mapping(value: Any, where: str) -> Mapping:
    # `type(…) is` first: what json.loads returns passes without the slower ABC check.
    if type(value) is not dict and not isinstance(value, Mapping):
        raise WebhookPayloadError(f"{where} must be an object, not {type(value).__name__}")
    return value


def _optional_mapping(value: Any, where: str) -> Mapping | None:
    return None if value is None else _mapping(value, where)


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookPayloadError(f"{where} must be a list, not {type(value).__name__}")
    return value


def _optional_str(mapping: Mapping, key: str, where: str) -> str | None:
    value = mapping.get(key)
    if value is None or type(value) is str:
        return value
    # Ids arrive as strings or numbers (message_template_id is a number) [M-TSU].
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise WebhookPayloadError(f"{where}.{key} must be a string, not {type(value).__name__}")
    return str(value)


def _required_str(mapping: Mapping, key: str, where: str) -> str:
    value = _optional_str(mapping, key, where)
    if value is None or value == "":
        raise WebhookPayloadError(f"{where}.{key} is required")
    return value


def _timestamp(value: Any, where: str, suffix: str = "") -> datetime:
    """Meta's Unix timestamps: a string in `messages` values, a number in `entry.time` and `user_preferences`.

    The location of an error is `where` and `suffix`, joined only when one is raised.
    """
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookPayloadError(f"{where}{suffix} must be a Unix timestamp, not {value!r}")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise WebhookPayloadError(f"{where}{suffix} is out of range: {value!r}") from err


def _optional_timestamp(value: Any, where: str) -> datetime | None:
    return None if value is None else _timestamp(value, where)
