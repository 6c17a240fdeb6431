"""Typed errors of the integration API: each becomes a JSON body `{"code", "message", "details"}`.

`code` is stable and machine-readable; `message` says what to fix.
"""

from typing import Any


class ApiError(Exception):
    """An error answered to the API client."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class MalformedRequest(ApiError):
    """The body is not valid JSON."""

    code = "malformed_json"


class InvalidRequest(ApiError):
    """The body or a parameter does not match the schema."""

    status = 422
    code = "invalid_request"


class InvalidApiKey(ApiError):
    """No key, or a key this installation never issued."""

    status = 401
    code = "invalid_api_key"


class RevokedApiKey(ApiError):
    """The key was revoked in the admin."""

    status = 401
    code = "revoked_api_key"


class RateLimited(ApiError):
    """The key made more requests this minute than its limit allows."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, details={"retry_after_seconds": retry_after})
        self.retry_after = retry_after


class MessageNotFound(ApiError):
    """No message with that id was sent through this key's WhatsApp account."""

    status = 404
    code = "message_not_found"


class ContactNotFound(ApiError):
    """No contact has that phone number."""

    status = 404
    code = "contact_not_found"


class InvalidPhoneNumber(ApiError):
    """The phone number cannot be read as an E.164 number."""

    status = 422
    code = "invalid_phone_number"


class PhoneNumberSuppressed(ApiError):
    """The number was erased (GDPR) and is on the suppression list."""

    status = 422
    code = "phone_number_suppressed"


class UnknownSender(ApiError):
    """The sender phone number is not one of this key's WhatsApp account, or the account has none."""

    status = 422
    code = "unknown_sender"


class SendingStopped(ApiError):
    """Meta or staff stopped sending on this WhatsApp account."""

    status = 409
    code = "sending_stopped"


class UnknownTemplate(ApiError):
    """No template (or no version in the requested language) has that name in this account."""

    status = 422
    code = "unknown_template"


class TemplateNotApproved(ApiError):
    """The template version exists but Meta has not approved it (or paused, disabled or rejected it)."""

    status = 422
    code = "template_not_approved"


class MissingParameter(ApiError):
    """A template parameter has no value in the request."""

    status = 422
    code = "missing_parameter"


class UnknownParameter(ApiError):
    """The request names a parameter the template does not have (or gives too many positional ones)."""

    status = 422
    code = "unknown_parameter"


class InvalidParameter(ApiError):
    """A parameter value breaks Meta's limits (length of the rendered header, body or button URL)."""

    status = 422
    code = "invalid_parameter"


class NoMarketingConsent(ApiError):
    """A MARKETING template needs the contact's marketing opt-in (and no opt-out)."""

    status = 422
    code = "no_marketing_consent"


class ContactOptedOut(ApiError):
    """The contact opted out of every message: nothing may be sent to them."""

    status = 422
    code = "contact_opted_out"


class ConsentRefused(ApiError):
    """An opt-in was sent for a contact who opted out by themselves; only they can opt back in."""

    status = 422
    code = "consent_refused"


class IdempotencyKeyReused(ApiError):
    """The Idempotency-Key was used in the last 24 hours with a different request body."""

    status = 422
    code = "idempotency_key_reused"


class InvalidIdempotencyKey(ApiError):
    """The Idempotency-Key header is empty or longer than 255 characters."""

    status = 422
    code = "invalid_idempotency_key"


class TemplateLanguageRequired(ApiError):
    """The template has several approved languages and neither the request nor the contact names one."""

    status = 422
    code = "template_language_required"


class MarketingToUsNumber(ApiError):
    """Meta does not deliver MARKETING templates to +1 (United States) numbers."""

    status = 422
    code = "marketing_not_delivered_to_us_numbers"
