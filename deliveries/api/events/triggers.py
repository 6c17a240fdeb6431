"""The event outbox triggers, PostgreSQL and SQLite variants (see `deliveries.api.events` for why triggers).

They write `deliveries_apievent` rows in the transaction that changes a delivery's status, stores an inbound
message or records a consent event, and only when an active subscription wants the event: an installation
without subscribers pays one indexed lookup per status change and nothing else.

SQLite drops a table's triggers whenever a migration rebuilds that table (Django alters SQLite tables by
copying them), so `outbox_triggers_ensure` re-creates them after every `migrate` (a post_migrate receiver,
connected in deliveries.api.models); both statements are idempotent.
"""

from django.db import connections

# (event status, the Delivery timestamp column that becomes non-null), in the order they happen.
TIMESTAMPED_STATUSES = (
    ("accepted", "accepted_at"),
    ("held", "held_at"),
    ("sent", "sent_at"),
    ("delivered", "delivered_at"),
    ("read", "read_at"),
)
# Terminal statuses, detected by the status column itself.
TERMINAL_STATUSES = (("failed", "failed_at"), ("skipped", "finished_at"), ("cancelled", "finished_at"))
# Internal states of the queue that never make an event (a claim, a retry, an unknown result).
INTERNAL_STATUSES = "('queued', 'sending', 'ambiguous')"

EVENT_COLUMNS = (
    "kind, transaction_id, business_account_id, campaign_id, delivery_id, inbound_message_id, consent_event_id, "
    "contact_id, status, scope, error_code, error_title, occurred_at, created_at"
)
CHANGED = " OR ".join(
    ["OLD.status IS DISTINCT FROM NEW.status"]
    + [f"OLD.{column} IS DISTINCT FROM NEW.{column}" for _, column in TIMESTAMPED_STATUSES]
)
DELIVERY_WHEN = f"NEW.status NOT IN {INTERNAL_STATUSES} AND ({CHANGED})"


def _postgresql_sql() -> tuple[list[str], list[str]]:
    xid = "pg_current_xact_id()::text::bigint"

    def insert(status: str, at: str, *, failed: bool = False) -> str:
        error_code = "NEW.error_code" if failed else "NULL"
        error_title = "NEW.error_title" if failed else "''"
        return (
            f"INSERT INTO deliveries_apievent ({EVENT_COLUMNS}) VALUES ('message.status', {xid}, account, "  # noqa: S608
            f"NEW.campaign_id, NEW.id, NULL, NULL, NEW.contact_id, '{status}', '', {error_code}, {error_title}, "
            f"{at}, now());"
        )

    steps = [
        f"IF OLD.{column} IS NULL AND NEW.{column} IS NOT NULL THEN {insert(status, 'NEW.' + column)} END IF;"
        for status, column in TIMESTAMPED_STATUSES
    ] + [
        f"IF NEW.status = '{status}' AND OLD.status IS DISTINCT FROM NEW.status THEN "
        f"{insert(status, f'COALESCE(NEW.{column}, now())', failed=status == 'failed')} END IF;"
        for status, column in TERMINAL_STATUSES
    ]
    # Constants only below: no value from outside reaches this SQL.
    forward = [
        f"""
        CREATE OR REPLACE FUNCTION deliveries_api_event_on_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE account bigint;
        BEGIN
            SELECT business_account_id INTO account FROM wacampaigns_phonenumber WHERE id = NEW.sender_id;
            IF NOT EXISTS (
                SELECT 1 FROM deliveries_eventsubscription s
                WHERE s.is_active AND s.message_status_events AND s.business_account_id = account
                  AND (NEW.campaign_id IS NULL OR s.include_campaign_messages)
            ) THEN
                RETURN NULL;
            END IF;
            {" ".join(steps)}
            RETURN NULL;
        END $$;
        """,  # noqa: S608
        f"""
        CREATE TRIGGER deliveries_api_event_on_delivery AFTER UPDATE ON deliveries_delivery
        FOR EACH ROW WHEN ({DELIVERY_WHEN}) EXECUTE FUNCTION deliveries_api_event_on_delivery();
        """,
        f"""
        CREATE OR REPLACE FUNCTION deliveries_api_event_on_inbound() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (
                SELECT 1 FROM deliveries_eventsubscription s
                WHERE s.is_active AND s.inbound_message_events AND s.business_account_id = NEW.business_account_id
            ) THEN
                INSERT INTO deliveries_apievent ({EVENT_COLUMNS}) VALUES ('message.received', {xid},
                    NEW.business_account_id, NULL, NULL, NEW.id, NULL, NEW.contact_id, NEW.message_type, '', NULL, '',
                    NEW.sent_at, now());
            END IF;
            RETURN NULL;
        END $$;
        """,  # noqa: S608
        """
        CREATE TRIGGER deliveries_api_event_on_inbound AFTER INSERT ON deliveries_inboundmessage
        FOR EACH ROW EXECUTE FUNCTION deliveries_api_event_on_inbound();
        """,
        f"""
        CREATE OR REPLACE FUNCTION deliveries_api_event_on_consent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM deliveries_eventsubscription s WHERE s.is_active AND s.consent_events) THEN
                INSERT INTO deliveries_apievent ({EVENT_COLUMNS}) VALUES ('contact.consent', {xid}, NULL, NULL,
                    NULL, NULL, NEW.id, NEW.contact_id, NEW.kind, NEW.scope, NULL, '', NEW.occurred_at, now());
            END IF;
            RETURN NULL;
        END $$;
        """,  # noqa: S608
        """
        CREATE TRIGGER deliveries_api_event_on_consent AFTER INSERT ON contacts_consentevent
        FOR EACH ROW EXECUTE FUNCTION deliveries_api_event_on_consent();
        """,
    ]
    backward = [
        "DROP TRIGGER IF EXISTS deliveries_api_event_on_delivery ON deliveries_delivery;",
        "DROP TRIGGER IF EXISTS deliveries_api_event_on_inbound ON deliveries_inboundmessage;",
        "DROP TRIGGER IF EXISTS deliveries_api_event_on_consent ON contacts_consentevent;",
        "DROP FUNCTION IF EXISTS deliveries_api_event_on_delivery();",
        "DROP FUNCTION IF EXISTS deliveries_api_event_on_inbound();",
        "DROP FUNCTION IF EXISTS deliveries_api_event_on_consent();",
    ]
    return forward, backward


def _sqlite_sql() -> tuple[list[str], list[str]]:
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    account = "(SELECT business_account_id FROM wacampaigns_phonenumber WHERE id = NEW.sender_id)"

    def insert(status: str, at: str, condition: str, *, failed: bool = False) -> str:
        error_code = "NEW.error_code" if failed else "NULL"
        error_title = "NEW.error_title" if failed else "''"
        return (
            f"INSERT INTO deliveries_apievent ({EVENT_COLUMNS}) SELECT 'message.status', 0, {account}, "
            f"NEW.campaign_id, NEW.id, NULL, NULL, NEW.contact_id, '{status}', '', {error_code}, {error_title}, "
            f"{at}, {now} WHERE {condition};"
        )

    steps = [
        insert(status, f"NEW.{column}", f"OLD.{column} IS NULL AND NEW.{column} IS NOT NULL")
        for status, column in TIMESTAMPED_STATUSES
    ] + [
        insert(
            status,
            f"COALESCE(NEW.{column}, {now})",
            f"NEW.status = '{status}' AND OLD.status IS NOT NEW.status",
            failed=status == "failed",
        )
        for status, column in TERMINAL_STATUSES
    ]
    when = DELIVERY_WHEN.replace("IS DISTINCT FROM", "IS NOT")
    # Constants only below: no value from outside reaches this SQL.
    forward = [
        f"""
        CREATE TRIGGER deliveries_api_event_on_delivery AFTER UPDATE ON deliveries_delivery
        FOR EACH ROW WHEN ({when}) AND EXISTS (
            SELECT 1 FROM deliveries_eventsubscription s
            WHERE s.is_active AND s.message_status_events AND s.business_account_id = {account}
              AND (NEW.campaign_id IS NULL OR s.include_campaign_messages)
        )
        BEGIN {" ".join(steps)} END;
        """,  # noqa: S608
        f"""
        CREATE TRIGGER deliveries_api_event_on_inbound AFTER INSERT ON deliveries_inboundmessage
        FOR EACH ROW WHEN EXISTS (
            SELECT 1 FROM deliveries_eventsubscription s
            WHERE s.is_active AND s.inbound_message_events AND s.business_account_id = NEW.business_account_id
        )
        BEGIN
            INSERT INTO deliveries_apievent ({EVENT_COLUMNS}) VALUES ('message.received', 0, NEW.business_account_id,
                NULL, NULL, NEW.id, NULL, NEW.contact_id, NEW.message_type, '', NULL, '', NEW.sent_at, {now});
        END;
        """,  # noqa: S608
        f"""
        CREATE TRIGGER deliveries_api_event_on_consent AFTER INSERT ON contacts_consentevent
        FOR EACH ROW WHEN EXISTS (SELECT 1 FROM deliveries_eventsubscription s WHERE s.is_active AND s.consent_events)
        BEGIN
            INSERT INTO deliveries_apievent ({EVENT_COLUMNS}) VALUES ('contact.consent', 0, NULL, NULL, NULL, NULL,
                NEW.id, NEW.contact_id, NEW.kind, NEW.scope, NULL, '', NEW.occurred_at, {now});
        END;
        """,  # noqa: S608
    ]
    backward = [
        "DROP TRIGGER IF EXISTS deliveries_api_event_on_delivery;",
        "DROP TRIGGER IF EXISTS deliveries_api_event_on_inbound;",
        "DROP TRIGGER IF EXISTS deliveries_api_event_on_consent;",
    ]
    return forward, backward


def outbox_triggers_sql(vendor: str) -> tuple[list[str], list[str]]:
    """(statements that create the triggers, statements that drop them) for a database vendor."""
    if vendor == "postgresql":
        return _postgresql_sql()
    if vendor == "sqlite":
        return _sqlite_sql()
    raise NotImplementedError(f"the event outbox triggers support PostgreSQL and SQLite, not {vendor}")


def outbox_triggers_ensure(connection) -> None:
    """(Re)creates the triggers on this connection's database, dropping any older version first."""
    create, drop = outbox_triggers_sql(connection.vendor)
    with connection.cursor() as cursor:
        for statement in [*drop[:3], *create]:
            cursor.execute(statement)


def outbox_triggers_after_migrate(sender, *, app_config=None, using="default", plan=None, **kwargs) -> None:
    """post_migrate receiver: puts back triggers a SQLite table rebuild dropped (once the outbox table exists)."""
    if app_config is None or app_config.label != "deliveries":
        return
    connection = connections[using]
    tables = set(connection.introspection.table_names())
    if {"deliveries_apievent", "deliveries_delivery", "contacts_consentevent"} <= tables:
        outbox_triggers_ensure(connection)
