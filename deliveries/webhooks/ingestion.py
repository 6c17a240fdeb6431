"""Receiving a webhook: the verification handshake, the signature check, the durable raw row first.

design.md decision 8: a POST whose `X-Hub-Signature-256` matches no configured app secret stores nothing (a
log line only). A signed POST is stored as a committed `pending` raw WebhookEvent (`pending_rows`: one INSERT
in autocommit, shared by the POSTs arriving together) and answered; the drainer (`deliveries.webhooks.draining`)
applies pending rows in batches, so a crash between storing and processing loses nothing. A signed body that
is not JSON is kept as `rejected` for inspection. A POST costs that INSERT plus, once per drainer lease seen (a
few seconds) per process, a look at the lease; app secrets are cached per process.
"""

from __future__ import annotations

import hmac
import json
import logging

from deliveries.models import WebhookEvent, WebhookProcessingState
from deliveries.webhooks.draining import webhook_drainer_wake
from deliveries.webhooks.lookups import app_secrets
from deliveries.webhooks.pending_rows import pending_row_store
from wacampaigns.models import MetaApp
from wacampaigns.whatsapp.signatures import matching_app

logger = logging.getLogger(__name__)


class WebhookSignatureInvalid(Exception):
    """The X-Hub-Signature-256 header is missing or matches no configured Meta app's secret."""


class WebhookBodyRejected(Exception):
    """A correctly signed body that is not JSON; it was stored as `rejected`."""


def webhook_verification_challenge(*, mode: str | None, verify_token: str | None, challenge: str | None) -> str | None:
    """The challenge to echo when Meta's subscription handshake names a configured verify token, else None."""
    if mode != "subscribe" or not verify_token or challenge is None:
        return None
    given = verify_token.encode()
    matched = False
    # Every token is compared, in constant time, so timing does not reveal which (or whether one) matched.
    for token in MetaApp.objects.values_list("webhook_verify_token", flat=True):
        matched |= bool(token) and hmac.compare_digest(token.encode(), given)
    return challenge if matched else None


def _signing_app_id(body: bytes, signature: str | None) -> int | None:
    matched = matching_app(body, signature, app_secrets())
    # A miss may be a new app or a rotated secret: check against the database before refusing.
    return matched if matched is not None else matching_app(body, signature, app_secrets(reload=True))


def webhook_event_receive(*, body: bytes, signature: str | None) -> None:
    """Verifies and stores (committed, pending) one POST, then wakes the drainer if none is at work.

    Raises on a bad signature or a non-JSON body.
    """
    meta_app_id = _signing_app_id(body, signature)
    if meta_app_id is None:
        logger.warning("Webhook POST refused: signature %r matches no Meta app (%d bytes)", signature, len(body))
        raise WebhookSignatureInvalid
    text = body.decode("utf-8", errors="replace")
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        WebhookEvent.objects.create(
            raw_body=text,
            signature_valid=True,
            meta_app_id=meta_app_id,
            state=WebhookProcessingState.REJECTED,
            processing_error=f"Not JSON: {err}"[:4000],
        )
        logger.warning("Signed webhook body is not JSON, kept as rejected: %s", err)
        raise WebhookBodyRejected(str(err)) from err
    pending_row_store(raw_body=text, meta_app_id=meta_app_id)
    webhook_drainer_wake()
