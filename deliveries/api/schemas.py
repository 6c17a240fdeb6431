"""Request and response shapes of the integration API, as published in /api/v1/openapi.json."""

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime, StringConstraints

from contacts.models import MarketingConsent
from deliveries.models import DeliveryStatus, SkipReason


def _storable(text: str) -> str:
    """Text both databases can store: no NUL character (PostgreSQL refuses it) and valid UTF-8."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from err
    return text


Text = Annotated[str, AfterValidator(_storable)]
ParameterValue = Annotated[Text, StringConstraints(max_length=2000)]
Key = Annotated[Text, StringConstraints(min_length=1, max_length=100)]
AttributeValue = Annotated[Text, StringConstraints(max_length=2000)] | int | float | bool | None
TagName = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
PHONE_PATTERN = r"^\+?[0-9]{6,15}$"
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$", max_length=15)]

SEND_DESCRIPTION = """Queues a template message to one phone number and answers at once with 202 and the message id;
a worker sends it ahead of campaign messages.

The contact is created (or updated with `contact`) from the phone number. **Consent rule**: a MARKETING template
needs the contact's marketing opt-in and no opt-out (record it first with `PUT /api/v1/contacts/{phone}`); a UTILITY
or AUTHENTICATION template may be sent to anyone who has not opted out of all messages. A refused send creates
nothing.

**Template version**: `template.language` if given, else the contact's language (or the same language without the
region), else the only approved language of the template.

**Parameters**: by name, as an object (`{"first_name": "Ana"}`; `"body.1"`, `"header.1"`, `"header.media"`
(a media link or media id) and `"button.0"` (a URL-button suffix) name a section's parameter), or by position, as a
list that fills the header, body and URL-button parameters in that order.

**Idempotency**: with an `Idempotency-Key` header, a repeat of the same request within 24 hours returns the first
answer and sends nothing more; the same key with a different body answers 422 `idempotency_key_reused`."""


class Error(Schema):
    """Every error: `code` is stable and machine-readable, `message` says what to fix."""

    code: str = Field(..., examples=["missing_parameter"])
    message: str
    details: dict = Field(default_factory=dict)


class TemplateRef(Schema):
    name: str = Field(..., min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$", examples=["order_confirmation"])
    language: LanguageCode | None = Field(None, description="e.g. en_US; default: the contact's language.")


class ContactFields(Schema):
    name: Text | None = Field(None, max_length=200)
    language: LanguageCode | None = None
    attributes: dict[Key, AttributeValue] | None = Field(None, description="Merged into the contact's attributes.")


class MessageCreate(Schema):
    to: Text = Field(..., min_length=1, max_length=32, description="E.164 phone number.", examples=["+34612345678"])
    template: TemplateRef
    parameters: dict[Key, ParameterValue] | list[ParameterValue] = Field(default_factory=dict)
    sender: Text | None = Field(
        None, max_length=32, description="Phone number id to send from; default: the account's first number."
    )
    contact: ContactFields | None = None


class MessageError(Schema):
    code: int | None
    title: str
    details: str
    error_class: str


class MessageTemplateOut(Schema):
    name: str
    language: str


class MessageOut(Schema):
    id: int
    status: Literal[tuple(DeliveryStatus.values)]  # type: ignore[valid-type]
    to: str
    sender: str = Field(..., description="The phone number id it is sent from.")
    template: MessageTemplateOut
    created_at: datetime
    accepted_at: datetime | None
    held_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    finished_at: datetime | None = Field(..., description="When it was skipped or cancelled.")
    skip_reason: Literal[tuple(SkipReason.values)] | None  # type: ignore[valid-type]
    error: MessageError | None


class ConsentIn(Schema):
    kind: Literal["opt_in", "opt_out"]
    scope: Literal["marketing", "all"] = Field("marketing", description="An opt-in always covers marketing.")
    occurred_at: AwareDatetime | None = Field(None, description="When the person gave or withdrew it; default now.")
    evidence: Text = Field("", max_length=2000, description="What proves it, e.g. the checkbox text on your form.")


class ContactUpsert(Schema):
    name: Text | None = Field(None, max_length=200)
    language: LanguageCode | None = None
    attributes: dict[Key, AttributeValue] | None = Field(None, description="Replaces the contact's attributes.")
    tags: list[TagName] | None = Field(None, max_length=100, description="Replaces the contact's tags.")
    consent: ConsentIn | None = None


class OptOutIn(Schema):
    scope: Literal["marketing", "all"] = Field(
        "marketing", description="marketing: promotions stop; all: every message stops, utility ones too."
    )
    occurred_at: AwareDatetime | None = None
    evidence: Text = Field("", max_length=2000)


class ConsentOut(Schema):
    marketing: Literal[tuple(MarketingConsent.values)]  # type: ignore[valid-type]
    marketing_source: str
    marketing_changed_at: datetime | None
    opted_out_of_all: bool
    opted_out_of_all_at: datetime | None
    can_receive_marketing: bool
    can_receive_utility: bool


class ContactOut(Schema):
    phone: str
    name: str
    language: str
    attributes: dict
    tags: list[str]
    consent: ConsentOut
    created_at: datetime
    updated_at: datetime


class Ping(Schema):
    ok: bool
    business_account: str
