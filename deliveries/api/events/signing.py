"""Signatures of outbound events: `X-Wacampaigns-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.

A subscriber computes the HMAC of the exact bytes received with the subscription's secret and compares it in
constant time, then de-duplicates on the event id (`X-Wacampaigns-Event-Id`, also `id` in the body).
"""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Wacampaigns-Signature"
EVENT_ID_HEADER = "X-Wacampaigns-Event-Id"


def event_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_signature_valid(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(event_signature(secret, body), header or "")
