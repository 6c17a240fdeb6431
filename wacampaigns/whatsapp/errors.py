"""Typed Cloud API errors, classified once by Meta's error `code` (reference/cloud-api.md §2 and §3)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

logger = logging.getLogger(__name__)


class ErrorClass(StrEnum):
    """What a failure stops; the values match `deliveries.models.ErrorClass`."""

    RETRYABLE = "retryable"
    RECIPIENT = "recipient"
    TEMPLATE = "template"
    ACCOUNT = "account"


class ContactFlag(StrEnum):
    """A fact about the contact that an error proves, for the contact record."""

    UNDELIVERABLE = "undeliverable"
    STOPPED_MARKETING = "stopped_marketing"


class CloudApiError(Exception):
    """Base of every error the Cloud API boundary raises."""

    error_class: ErrorClass = ErrorClass.RETRYABLE
    retry_after_seconds: float | None = None
    # True only when the request may have reached Meta and been accepted (design.md decision 3).
    may_have_been_sent: bool = False


# --- Meta answered with a Graph error body ---------------------------------------------------------


class GraphApiError(CloudApiError):
    """Meta answered with a Graph error (a `code`): the request was not carried out."""

    error_class = ErrorClass.RECIPIENT
    contact_flag: ContactFlag | None = None

    def __init__(self, error: Mapping[str, Any], *, http_status: int | None = None) -> None:
        self.raw: dict[str, Any] = dict(error)
        self.code: int | None = _int_or_none(error.get("code"))
        self.subcode: int | None = _int_or_none(error.get("error_subcode"))
        # Webhook errors carry `title`; HTTP errors carry the title inside `message` (both deprecated as keys).
        self.title: str = str(error.get("title") or error.get("message") or "")
        self.message: str = str(error.get("message") or error.get("title") or "")
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, Mapping) else None
        self.details: str = str(details) if details is not None else ""
        self.fbtrace_id: str | None = _str_or_none(error.get("fbtrace_id"))
        is_transient = error.get("is_transient")
        self.is_transient: bool | None = is_transient if isinstance(is_transient, bool) else None
        self.http_status = http_status
        super().__init__(f"({self.code}) {self.title}" + (f": {self.details}" if self.details else ""))

    def backoff_seconds(self, attempt: int) -> float | None:
        """Suggested wait before retry number `attempt` (1-based); None when it must not be retried."""
        if self.error_class is not ErrorClass.RETRYABLE or self.retry_after_seconds is None:
            return None
        return self.retry_after_seconds * 2 ** max(attempt - 1, 0)


class RetryableError(GraphApiError):
    """A temporary condition at Meta: retry later with backoff."""

    error_class = ErrorClass.RETRYABLE
    retry_after_seconds = 30.0


class ThroughputLimitError(RetryableError):
    """130429: the phone number's messages-per-second level was reached; the sender must slow down."""

    retry_after_seconds = 1.0
    slows_sender = True


class PairRateLimitError(RetryableError):
    """131056: too many messages to this one recipient; delay only that recipient."""

    retry_after_seconds = 4.0

    def backoff_seconds(self, attempt: int) -> float:
        """Meta suggests retrying after 4^X seconds (reference §4.4)."""
        return 4.0 ** max(attempt, 1)


class MarketingLimitError(RetryableError):
    """131049: the per-user marketing limit; retrying within 24 h makes it worse (reference §4.5)."""

    retry_after_seconds = 24 * 3600.0

    def backoff_seconds(self, attempt: int) -> float:
        """Never earlier than 24 hours, whatever the attempt."""
        return self.retry_after_seconds


class RecipientError(GraphApiError):
    """Permanent for this message and recipient: mark it failed, send to the others."""

    error_class = ErrorClass.RECIPIENT


class RecipientUndeliverableError(RecipientError):
    """131026: not a WhatsApp user (or cannot receive); flag the contact undeliverable."""

    contact_flag = ContactFlag.UNDELIVERABLE


class RecipientStoppedMarketingError(RecipientError):
    """131050: the user stopped marketing messages from this business; suppress until they resume."""

    contact_flag = ContactFlag.STOPPED_MARKETING


class UnknownErrorCodeError(RecipientError):
    """A code this boundary does not know: treated as permanent for the recipient and logged."""


class TemplateError(GraphApiError):
    """The template and language cannot be sent: pause everything that uses them."""

    error_class = ErrorClass.TEMPLATE


class AccountError(GraphApiError):
    """The business account (token, permissions, billing, policy) cannot send: stop all its sends."""

    error_class = ErrorClass.ACCOUNT


# --- Meta gave no Graph answer -----------------------------------------------------------------------


class TransportError(CloudApiError):
    """No Graph error body came back (network failure, timeout, proxy page)."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class NotSentError(TransportError):
    """The request never reached Meta (connect timeout, refused, DNS, TLS handshake): safe to retry."""

    error_class = ErrorClass.RETRYABLE
    retry_after_seconds = 5.0


class AmbiguousSendError(TransportError):
    """The request may have reached Meta and been carried out (read timeout, reset, bare 5xx): do not resend yet."""

    error_class = ErrorClass.RETRYABLE
    may_have_been_sent = True


class UnexpectedResponseError(CloudApiError):
    """Meta answered 2xx with a body this boundary cannot read (missing wamid, not JSON, foreign paging URL)."""

    may_have_been_sent = True


# --- The code table ----------------------------------------------------------------------------------

# reference/cloud-api.md §3; delays are this project's choice where Meta gives none.
_RETRYABLE_DELAYS: dict[int, float] = {
    2: 30.0,  # API Service: temporary downtime or overload
    4: 300.0,  # app-level call limit: "later, with less traffic"
    80007: 600.0,  # WABA management rate limit (200 or 5,000 calls/hour)
    131000: 60.0,  # unknown error, "try again"
    131016: 30.0,  # service temporarily unavailable
    131048: 3600.0,  # spam rate limit: "not immediately, lower the volume"
    131057: 60.0,  # account in maintenance (throughput upgrade takes about a minute) [M-TP]
    131064: 3600.0,  # messaging limit for classification violations; "lifts automatically"
    132069: 3600.0,  # flow throttled: 10 messages per flow per hour
    133004: 30.0,  # server temporarily unavailable
}

_TEMPLATE_CODES = frozenset(
    {
        132001,  # template does not exist in that language, or is not approved
        132007,  # template content violates policy
        132015,  # template paused for low quality
        132016,  # template disabled after too many pauses
        # Marketing sends are disabled on Cloud API for this WABA: every marketing template fails the same way,
        # so each is stopped as it is tried, while utility templates keep going.
        131063,
    }
)

_ACCOUNT_CODES = frozenset(
    {
        0,  # AuthException: token expired or invalidated
        3,  # capability or permissions issue
        10,  # permission not granted or removed
        33,  # business phone number deleted
        190,  # access token expired
        368,  # WABA restricted or disabled for policy
        131005,  # permission not granted or removed
        131031,  # WABA locked
        131037,  # 555 number without an approved display name
        131042,  # payment method problem: pause all paid sends
        131045,  # phone number registration error
        133010,  # phone number not registered
    }
)

_RECIPIENT_CODES = frozenset(
    {
        1,  # API Unknown: "fix the request" unless there is an outage
        100,  # invalid parameter
        130403,  # business blocked this user
        130472,  # user is part of a marketing experiment
        130497,  # WABA may not message users in this country
        131008,  # required parameter missing
        131009,  # parameter value invalid
        131021,  # sender and recipient are the same number
        131030,  # recipient not in the allowed list (test numbers)
        131047,  # outside the 24 h customer service window
        131051,  # unsupported message type
        131052,  # could not download the user's media
        131053,  # could not upload the media used in the message
        132000,  # parameter count does not match the template
        132005,  # translated text too long
        132012,  # parameter format does not match the template
        132018,  # template parameter validation error
        132068,  # flow is blocked
        135000,  # unknown error with request parameters
    }
)

_SPECIAL_CLASSES: dict[int, type[GraphApiError]] = {
    130429: ThroughputLimitError,
    131056: PairRateLimitError,
    131049: MarketingLimitError,
    131026: RecipientUndeliverableError,
    131050: RecipientStoppedMarketingError,
}


def error_type_for_code(code: int | None) -> type[GraphApiError]:
    """The exception class Meta's `code` maps to (reference §3)."""
    if code is None:
        return UnknownErrorCodeError
    if code in _SPECIAL_CLASSES:
        return _SPECIAL_CLASSES[code]
    if code in _RETRYABLE_DELAYS:
        return RetryableError
    if code in _TEMPLATE_CODES:
        return TemplateError
    if code in _ACCOUNT_CODES or 200 <= code <= 299:
        return AccountError
    if code in _RECIPIENT_CODES:
        return RecipientError
    return UnknownErrorCodeError


def classify_graph_error(error: Mapping[str, Any], *, http_status: int | None = None) -> GraphApiError:
    """Build the typed error for one Graph error object.

    `error` is the `error` object of an HTTP error body, or one item of a webhook's `errors[]`
    (`statuses[].errors[]`, `messages[].errors[]`, `value.errors[]`); both carry `code`.
    """
    code = _int_or_none(error.get("code"))
    error_type = error_type_for_code(code)
    classified = error_type(error, http_status=http_status)
    if code in _RETRYABLE_DELAYS:
        classified.retry_after_seconds = _RETRYABLE_DELAYS[code]
    if error_type is UnknownErrorCodeError:
        logger.warning("Unknown Cloud API error code %r, treated as permanent for the recipient: %r", code, error)
    return classified


def graph_error_object(body: Any) -> Mapping[str, Any] | None:
    """The `error` object of an HTTP response body when it is a Graph error with a code, else None."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) and _int_or_none(error.get("code")) is not None:
        return error
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None
