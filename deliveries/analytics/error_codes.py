"""Meta's Cloud API error codes in words, for the dashboards (reference/cloud-api.md §3, Meta's error code page).

The boundary (`wacampaigns.whatsapp.errors`) classifies codes; this table only explains them to people.
"""

from deliveries.analytics.models import NO_ERROR_CODE

ERROR_CODE_MEANINGS: dict[int, str] = {
    0: "Access token expired or invalidated",
    1: "Invalid request or possible server error",
    2: "Temporary downtime or overload at Meta",
    3: "Capability or permissions issue",
    4: "App-level API call limit reached",
    10: "Permission not granted or removed",
    33: "Business phone number deleted",
    100: "Invalid parameter",
    190: "Access token expired",
    200: "Permission error",
    368: "Business account restricted or disabled for a policy violation",
    80007: "Business account API rate limit reached",
    130403: "The business blocked this user",
    130429: "Throughput limit of the phone number reached",
    130472: "User is part of a marketing-message experiment",
    130497: "Business account may not message users in this country",
    131000: "Unknown error at Meta",
    131005: "Permission not granted or removed",
    131008: "Required parameter missing",
    131009: "Parameter value invalid",
    131016: "Service temporarily unavailable",
    131021: "Sender and recipient are the same number",
    131026: "Undeliverable: not on WhatsApp, terms not accepted, or an old app",
    131030: "Recipient not in the allowed list (test number)",
    131031: "Business account locked",
    131037: "Number has no approved display name",
    131042: "Payment method problem",
    131045: "Phone number registration error",
    131047: "More than 24 hours since the user last replied",
    131048: "Spam rate limit: too many blocks or reports",
    131049: "Per-user marketing limit (healthy ecosystem engagement)",
    131050: "User stopped marketing messages from this business",
    131051: "Unsupported message type",
    131052: "Could not download the user's media",
    131053: "Could not upload the message's media",
    131056: "Too many messages to this recipient (pair rate limit)",
    131057: "Business account in maintenance mode",
    131063: "Marketing templates disabled on the Cloud API for this account",
    131064: "Messaging limit after template classification violations",
    132000: "Parameter count does not match the template",
    132001: "Template does not exist in that language, or is not approved",
    132005: "Translated text too long",
    132007: "Template content violates policy",
    132012: "Parameter format does not match the template",
    132015: "Template paused for low quality",
    132016: "Template disabled after too many pauses",
    132018: "Template parameter validation error",
    132068: "Flow is blocked",
    132069: "Flow throttled",
    133004: "Server temporarily unavailable",
    133010: "Phone number not registered",
    135000: "Unknown error with the request parameters",
}


def error_code_meaning(code: int | None) -> str:
    """Meta's meaning of an error code, in words."""
    if code is None or code == NO_ERROR_CODE:
        return "No error code given"
    if code in ERROR_CODE_MEANINGS:
        return ERROR_CODE_MEANINGS[code]
    if 200 <= code <= 299:
        return "Permission error"
    return "Unknown code (see Meta's error code reference)"
