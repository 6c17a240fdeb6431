"""Receiving a webhook: the verification handshake, the signature check, the durable raw row first.

design.md decision 8: a POST whose `X-Hub-Signature-256` matches no configured app secret stores nothing (a
log line only). A signed POST is stored as a `pending` raw WebhookEvent (one INSERT in autocommit) and
answered; the drainer (`deliveries.webhooks.draining`) applies pending rows in batches, so a crash between
storing and processing loses nothing. A signed body that is not JSON is kept as `rejected` for inspection.
A POST costs that INSERT plus, once per drainer lease seen (a few seconds) per process, a look at the lease;
app secrets are cached per process. The INSERT skips Django's per-request connection health check (a
`SELECT 1` round trip first on PostgreSQL): a connection the server dropped fails the INSERT itself, which is
then run once more on a new connection. On SQLite the INSERT takes its write turn (`wacampaigns.sqlite_writes`)
like the drainer's batches, so the web workers and the drainer queue at the lock instead of sleeping in
SQLite's busy handler.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.utils import timezone

from deliveries.models import WebhookEvent, WebhookProcessingState
from deliveries.webhooks.draining import webhook_drainer_wake
from deliveries.webhooks.lookups import app_secrets
from wacampaigns.models import MetaApp
from wacampaigns.sqlite_writes import sqlite_write_turn
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


_PENDING_COLUMNS = ("raw_body", "signature_valid", "meta_app", "received_at", "state", "processing_error", "attempts")


@functools.cache
def _pending_insert_sql(alias: str) -> str:
    database = connections[alias]
    quote = database.ops.quote_name
    columns = ", ".join(quote(WebhookEvent._meta.get_field(name).column) for name in _PENDING_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_PENDING_COLUMNS))
    return f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608


def _insert_cursor(database):
    """A cursor on the open (or a new) connection, without the health check `database.cursor()` makes first.

    On PostgreSQL it binds the parameters on the server: the default client-side binding quotes the raw body
    in Python, and the statement is prepared on the server (settings.DATABASE_PREPARED_STATEMENTS). Wrapped
    like Django's own cursors, so query logging and execute wrappers still see it.
    """
    database.ensure_connection()
    with database.wrap_database_errors:
        if database.vendor == "postgresql":
            import psycopg

            cursor = psycopg.Cursor(database.connection)
        else:
            cursor = database.create_cursor()
    return database.make_debug_cursor(cursor) if database.queries_logged else database.make_cursor(cursor)


def _pending_row_insert(*, raw_body: str, meta_app_id: int) -> None:
    """The one statement of a POST, in autocommit: the ORM's create() costs as much again as the INSERT itself."""
    database = connections[DEFAULT_DB_ALIAS]
    received_at = database.ops.adapt_datetimefield_value(timezone.now())
    params = [raw_body, True, meta_app_id, received_at, WebhookProcessingState.PENDING.value, "", 0]
    sql = _pending_insert_sql(DEFAULT_DB_ALIAS)
    try:
        with sqlite_write_turn(), _insert_cursor(database) as cursor:
            cursor.execute(sql, params)
    except (OperationalError, InterfaceError):
        if database.in_atomic_block or database.is_usable():
            raise
        # The server dropped this persistent connection since its last use (a restart, an idle timeout). The
        # INSERT committed nothing, or, its answer lost, one row that a second copy duplicates: the drainer
        # applies duplicates idempotently, as it does Meta's own redeliveries.
        logger.warning("Webhook INSERT on a dropped database connection; retrying on a new one")
        database.close()
        with sqlite_write_turn(), _insert_cursor(database) as cursor:
            cursor.execute(sql, params)


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
    _pending_row_insert(raw_body=text, meta_app_id=meta_app_id)
    webhook_drainer_wake()
