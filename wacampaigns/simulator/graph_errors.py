"""Graph API error bodies in Meta's exact shape, with the HTTP status the simulator answers them with.

Meta documents no HTTP status for Cloud API codes and says not to rely on one (reference/cloud-api.md §3).
The simulator answers 401 for 190 (OpenAPI example), 500 for 1/2/131000 server faults, and 400 for every
other code, including 130429 and 131056.
"""

from __future__ import annotations

import json

_TITLES = {
    1: "An unknown error has occurred.",
    2: "Service temporarily unavailable",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages "
    "on WhatsApp from your business.",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132015: "Template is Paused",
}
_HTTP_STATUS = {190: 401, 1: 500, 2: 500, 131000: 500}
# Codes that Graph reports as plain Graph errors, without WhatsApp's `error_data`.
_WITHOUT_ERROR_DATA = {190}


class GraphError(Exception):
    """A request Meta would refuse: carries the code, details and optional subcode of the answer."""

    def __init__(
        self,
        code: int,
        details: str,
        *,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        message: str | None = None,
    ):
        super().__init__(f"({code}) {details}")
        self.code = code
        self.details = details
        self.subcode = subcode
        self.error_type = error_type
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status the simulator answers with (see the module docstring)."""
        return _HTTP_STATUS.get(self.code, 400)

    @property
    def title(self) -> str:
        """Meta's title for the code, as used in `message` and in webhook `errors[]`."""
        return _TITLES.get(self.code, "Invalid parameter")

    def body(self, fbtrace_id: str) -> bytes:
        """The JSON error body, byte for byte what Graph sends."""
        message = self.message or (self.title if self.code == 190 else f"(#{self.code}) {self.title}")
        error: dict = {"message": message, "type": self.error_type, "code": self.code}
        if self.code not in _WITHOUT_ERROR_DATA and self.message is None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.code in _HTTP_STATUS and self.code != 190:
            error["is_transient"] = True
        error["fbtrace_id"] = fbtrace_id
        return json.dumps({"error": error}, separators=(",", ":")).encode()


def object_not_found(method: str, object_id: str) -> GraphError:
    """Graph's answer for an unknown node id (reference sample error_100_graphmethodexception_object_not_found)."""
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api"
    )
    return GraphError(100, message, subcode=33, error_type="GraphMethodException", message=message)


def webhook_error(code: int, details: str) -> dict:
    """The `errors[]` item of a failed status webhook: {code, title, message, error_data{details}, href}."""
    title = _TITLES.get(code, "Unknown error")
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }
