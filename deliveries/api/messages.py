"""Transactional sends through the API: one queued Delivery row without a campaign, rendered up front.

The row is claimed by the sending engine ahead of campaign rows (priority TRANSACTIONAL) and goes through the
same claim path, rate limits and retry rules; the request never calls the Cloud API itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from contacts.models import Contact, MarketingConsent
from deliveries.api import lookups
from deliveries.api.contacts import api_phone_check_not_suppressed, api_phone_normalize, contact_upsert_from_api
from deliveries.api.errors import (
    ApiError,
    ContactOptedOut,
    InvalidParameter,
    MarketingToUsNumber,
    MessageNotFound,
    MissingParameter,
    NoMarketingConsent,
    SendingStopped,
    TemplateLanguageRequired,
    TemplateNotApproved,
    UnknownParameter,
    UnknownSender,
    UnknownTemplate,
)
from deliveries.api.idempotency import (
    ConcurrentDuplicate,
    Replay,
    idempotency_record,
    idempotency_replay,
)
from deliveries.api.models import ApiKey
from deliveries.api.schemas import MessageOut
from deliveries.api.waking import sender_wake
from deliveries.models import Delivery, DeliveryPriority, DeliveryStatus
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from templates_app.rendering import (
    MissingVariable,
    ParameterValueInvalid,
    TemplateParameter,
    template_components_render,
    template_parameters,
)
from wacampaigns.models import BusinessAccount, PhoneNumber, SendingState, VariableSource
from wacampaigns.row_inserts import row_insert
from wacampaigns.sqlite_writes import sqlite_write_turn


@dataclass(frozen=True)
class MessageRequest:
    to: str
    template_name: str
    language: str | None = None
    parameters: dict[str, str] | list[str] = field(default_factory=dict)
    sender: str | None = None
    contact_name: str | None = None
    contact_language: str | None = None
    contact_attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class SendReads:
    """What a send reads and checks that no consent or suppression rule depends on, before the transaction opens
    (on SQLite the transaction holds the write lock, so the shorter it is the more sends commit per second)."""

    phone: str
    sender: PhoneNumber
    versions: dict[str, MessageTemplate]


def _reads(api_key: ApiKey, request: MessageRequest) -> SendReads:
    account = api_key.business_account
    phone = api_phone_normalize(request.to)
    sender = _sender(account, request.sender, lookups.account_number(account, request.sender or None))
    if account.sending_state != SendingState.ACTIVE:
        raise SendingStopped(
            f"Sending is stopped on this WhatsApp account: {account.stop_reason}",
            details={"reason": account.stop_reason},
        )
    return SendReads(phone, sender, lookups.account_template_versions(account, request.template_name))


def _sender(account: BusinessAccount, phone_number_id: str | None, sender: PhoneNumber | None) -> PhoneNumber:
    if sender is None:
        numbers = PhoneNumber.objects.filter(business_account=account).order_by("id")
        known = list(numbers.values_list("phone_number_id", flat=True)[:20])
        raise UnknownSender(
            f"Phone number id {phone_number_id!r} is not one of this account's numbers: use one of {known}."
            if phone_number_id
            else "This WhatsApp account has no phone number to send from: add one in the admin.",
            details={"sender": phone_number_id, "phone_number_ids": known},
        )
    return sender


def _template(
    versions: dict[str, MessageTemplate], name: str, language: str | None, contact: Contact
) -> MessageTemplate:
    if not versions:
        raise UnknownTemplate(
            f"No template named {name!r} in this WhatsApp account: check the name, or sync templates in the admin.",
            details={"template": name},
        )
    languages = sorted(versions)
    if language:
        chosen = versions.get(language)
        if chosen is None:
            raise UnknownTemplate(
                f"Template {name!r} has no {language} version: use one of {languages}.",
                details={"template": name, "language": language, "languages": languages},
            )
    else:
        own = contact.language
        chosen = versions.get(own) or (versions.get(own.split("_", 1)[0]) if own else None)
        if chosen is None:
            approved = [code for code, version in versions.items() if version.status == TemplateStatus.APPROVED]
            if len(approved) != 1:
                raise TemplateLanguageRequired(
                    f"Template {name!r} has several languages and the contact has none of them: set "
                    f"`template.language` to one of {sorted(approved) or languages}.",
                    details={"template": name, "languages": languages},
                )
            chosen = versions[approved[0]]
    if chosen.status != TemplateStatus.APPROVED:
        raise TemplateNotApproved(
            f"Template {name!r} [{chosen.language}] is {chosen.get_status_display().lower()} at Meta, not approved.",
            details={"template": name, "language": chosen.language, "status": chosen.status},
        )
    return chosen


def _parameters_for(name: str, by_key: dict[str, TemplateParameter]) -> list[TemplateParameter]:
    """A full key ("body.1", "button.0") names one parameter; a bare name every header and body one of that name."""
    if name in by_key:
        return [by_key[name]]
    return [by_key[key] for key in (f"header.{name}", f"body.{name}") if key in by_key]


def _variable_mapping(template: MessageTemplate, parameters: dict[str, str] | list[str]) -> dict[str, dict]:
    """The request's parameters as constant values of a variable mapping (the renderer's input)."""
    expected = template_parameters(template)
    by_key = {parameter.key: parameter for parameter in expected}
    keys = [parameter.key for parameter in expected]
    values: dict[str, str] = {}
    if isinstance(parameters, list):
        if len(parameters) > len(expected):
            raise UnknownParameter(
                f"Template {template.name!r} takes {len(expected)} parameters, {len(parameters)} were given.",
                details={"expected": keys},
            )
        values = {parameter.key: value for parameter, value in zip(expected, parameters, strict=False)}
    else:
        for name, value in parameters.items():
            named = _parameters_for(name, by_key)
            if not named:
                raise UnknownParameter(
                    f"Template {template.name!r} [{template.language}] has no parameter {name!r}: it takes {keys}.",
                    details={"parameter": name, "expected": keys},
                )
            values.update({parameter.key: value for parameter in named})
    missing = [key for key in keys if not str(values.get(key, "")).strip()]
    if missing:
        raise MissingParameter(
            f"Template {template.name!r} [{template.language}] needs a value for {', '.join(missing)}.",
            details={"missing": missing, "expected": keys},
        )
    return {key: {"source": VariableSource.CONSTANT, "value": value} for key, value in values.items()}


def _components(template: MessageTemplate, parameters: dict[str, str] | list[str], contact: Contact) -> list[dict]:
    mapping = _variable_mapping(template, parameters)
    try:
        return template_components_render(template=template, variable_mapping=mapping, contact=contact)
    except ParameterValueInvalid as err:
        raise InvalidParameter(
            f"Parameter {err.parameter_key}: {err.reason}.", details={"parameter": err.parameter_key}
        ) from err
    except MissingVariable as err:
        raise MissingParameter(
            f"Parameter {err.parameter_key} has no usable value.", details={"missing": [err.parameter_key]}
        ) from err


def _consent_check(template: MessageTemplate, contact: Contact, phone: str) -> None:
    """MARKETING needs an opt-in and no opt-out; UTILITY and AUTHENTICATION need no opt-out of everything."""
    if contact.opted_out_of_all_at is not None:
        raise ContactOptedOut(
            f"{phone} opted out of all messages: nothing may be sent to them until they opt in again.",
            details={"phone": phone},
        )
    if template.category == TemplateCategory.MARKETING:
        if contact.marketing_consent != MarketingConsent.OPTED_IN:
            raise NoMarketingConsent(
                f"{template.name!r} is a MARKETING template and {phone} has "
                f"{'opted out of' if contact.marketing_consent == MarketingConsent.OPTED_OUT else 'no opt-in to'} "
                "marketing: record their opt-in with PUT /api/v1/contacts/{phone} first, or use a UTILITY template.",
                details={"phone": phone, "category": template.category, "marketing": contact.marketing_consent},
            )
        if phone.startswith("+1"):
            raise MarketingToUsNumber(
                "Meta does not deliver MARKETING templates to +1 (United States) numbers.", details={"phone": phone}
            )


def _queue(request: MessageRequest, reads: SendReads) -> Delivery:
    """In the send's transaction: the checks that read the contact, the contact upsert and the queued row."""
    phone = reads.phone
    api_phone_check_not_suppressed(phone)
    contact, _ = contact_upsert_from_api(
        phone=phone,
        name=request.contact_name,
        language=request.contact_language,
        attributes=request.contact_attributes,
        merge_attributes=True,
    )
    template = _template(reads.versions, request.template_name, request.language, contact)
    components = _components(template, request.parameters, contact)
    _consent_check(template, contact, phone)
    delivery = Delivery(
        sender=reads.sender,
        contact=contact,
        priority=DeliveryPriority.TRANSACTIONAL,
        template=template,
        template_name=template.name,
        language=template.language,
        recipient=phone,
        parameters=components,
        status=DeliveryStatus.QUEUED,
        not_before=timezone.now(),
    )
    row_insert(delivery)
    return delivery


def _send_once(api_key: ApiKey, request: MessageRequest, idempotency_key: str | None, fingerprint: str) -> Replay:
    reads = _reads(api_key, request)
    with sqlite_write_turn(), transaction.atomic():
        delivery = _queue(request, reads)
        body = MessageOut(**message_representation(delivery)).model_dump(mode="json")
        if idempotency_key is not None:
            idempotency_record(api_key=api_key, key=idempotency_key, fingerprint=fingerprint, status=202, body=body)
    # After the commit (a sender task still waiting in the queue then certainly finds the committed row), and after
    # the write turn, which the next writer waits for.
    transaction.on_commit(lambda: sender_wake(phone_number=reads.sender))
    return Replay(202, body)


def api_message_send(
    *, api_key: ApiKey, request: MessageRequest, idempotency_key: str | None = None, fingerprint: str = ""
) -> Replay:
    """Validates everything, then queues one transactional Delivery and wakes the number's sender; all or nothing.
    Returns the status and the JSON body to answer.

    With an idempotency key the answer is recorded in the row's transaction, and the first answer is looked up
    only when that record conflicts or the request is refused: a repeat then rolls back and answers the first
    answer (or IdempotencyKeyReused), so it queues nothing, and a new key costs no lookup."""
    if idempotency_key is None:
        return _send_once(api_key, request, None, "")
    for _attempt in range(2):
        try:
            return _send_once(api_key, request, idempotency_key, fingerprint)
        except (ApiError, ConcurrentDuplicate) as err:
            replay = idempotency_replay(api_key=api_key, key=idempotency_key, fingerprint=fingerprint)
            if replay is not None:
                return replay
            if isinstance(err, ApiError):
                raise
            # The record in the way had expired and is deleted now: the request is new, once more.
    raise ConcurrentDuplicate(idempotency_key)


def api_message_get(*, api_key: ApiKey, message_id: int) -> Delivery:
    """A message sent from this key's WhatsApp account; raises MessageNotFound."""
    delivery = (
        Delivery.objects.select_related("sender")
        .filter(pk=message_id, sender__business_account_id=api_key.business_account_id)
        .first()
    )
    if delivery is None:
        raise MessageNotFound(
            f"No message {message_id} was sent from this key's WhatsApp account.", details={"id": message_id}
        )
    return delivery


def message_representation(delivery: Delivery) -> dict[str, Any]:
    failed = delivery.error_code is not None or delivery.error_title
    return {
        "id": delivery.pk,
        "status": delivery.status,
        "to": delivery.recipient,
        "sender": delivery.sender.phone_number_id,
        "template": {"name": delivery.template_name, "language": delivery.language},
        "created_at": delivery.created_at,
        "accepted_at": delivery.accepted_at,
        "held_at": delivery.held_at,
        "sent_at": delivery.sent_at,
        "delivered_at": delivery.delivered_at,
        "read_at": delivery.read_at,
        "failed_at": delivery.failed_at,
        "finished_at": delivery.finished_at,
        "skip_reason": delivery.skip_reason or None,
        "error": {
            "code": delivery.error_code,
            "title": delivery.error_title,
            "details": delivery.error_details or delivery.skip_details,
            "error_class": delivery.error_class,
        }
        if failed
        else None,
    }
