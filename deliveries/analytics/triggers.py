"""The analytics triggers, PostgreSQL and SQLite variants (why triggers: see `deliveries.analytics.counters`).

SQLite drops a table's triggers whenever a migration rebuilds that table (Django alters SQLite tables by
copying them), so `analytics_triggers_after_migrate` (a post_migrate receiver, connected in
deliveries.analytics.models) puts back any missing trigger after every `migrate` and then recounts the
counters from the deliveries, so that writes made while a trigger was missing cannot leave them wrong.
"""

from django.db import connections, transaction

COUNTER_KEY = ("campaign_id", "status", "skip_reason", "error_code", "reached", "replied", "clicked", "opted_out")
SHARDS = 32
# pg_try_advisory_xact_lock(ADVISORY_NAMESPACE, shard): one writing transaction per counter shard at a time.
ADVISORY_NAMESPACE = 1463897665  # "WANA"


def _key_columns(row: str) -> str:
    return ", ".join(
        [
            f"{row}.campaign_id AS campaign_id",
            f"{row}.status AS status",
            f"{row}.skip_reason AS skip_reason",
            f"CASE WHEN {row}.status = 'failed' THEN COALESCE({row}.error_code, -1) ELSE -1 END AS error_code",
            f"CASE WHEN {row}.read_at IS NOT NULL THEN 3 WHEN {row}.delivered_at IS NOT NULL THEN 2 "
            f"WHEN {row}.sent_at IS NOT NULL THEN 1 ELSE 0 END AS reached",
            f"{row}.replied_at IS NOT NULL AS replied",
            f"{row}.clicked_at IS NOT NULL AS clicked",
            f"{row}.opted_out_at IS NOT NULL AS opted_out",
        ]
    )


def _timeline_events(row: str) -> list[tuple[str, str]]:
    """(timestamp expression, column) for each timeline event of a row: sent, delivered (read implies it), read."""
    return [
        (f"COALESCE({row}.sent_at, {row}.delivered_at, {row}.read_at)", "sent"),
        (f"COALESCE({row}.delivered_at, {row}.read_at)", "delivered"),
        (f"{row}.read_at", '"read"'),
    ]


def _pg_minute(timestamp: str) -> str:
    return f"floor(extract(epoch FROM {timestamp}) / 60)::bigint"


def _sqlite_minute(timestamp: str) -> str:
    return f"(CAST(strftime('%s', {timestamp}) AS INTEGER) / 60)"


KEY = ", ".join(COUNTER_KEY)
TIMELINE_COLUMNS = ("sent", "delivered", '"read"')
COUNTER_UPSERT = (
    "ON CONFLICT (campaign_id, shard, status, skip_reason, error_code, reached, replied, clicked, opted_out) "
    "DO UPDATE SET count = deliveries_campaign_counter.count + excluded.count"
)
TIMELINE_UPSERT = "ON CONFLICT (campaign_id, minute, shard) DO UPDATE SET " + ", ".join(
    f"{column} = deliveries_campaign_timeline.{column} + excluded.{column}" for column in TIMELINE_COLUMNS
)
# The Delivery columns the counters and the timeline depend on.
WATCHED = (
    "campaign_id",
    "status",
    "skip_reason",
    "error_code",
    "sent_at",
    "delivered_at",
    "read_at",
    "replied_at",
    "clicked_at",
    "opted_out_at",
)
CAMPAIGN_CLEANUP = (
    "DELETE FROM deliveries_campaign_counter WHERE campaign_id = OLD.id; "
    "DELETE FROM deliveries_campaign_timeline WHERE campaign_id = OLD.id;"
)


def _opt_out_credit() -> str:
    # The contact's latest campaign message that reached Meta (sent, or at least accepted) and did not fail,
    # before the opt-out. A failure's own consent event (131026 undeliverable, 131050) credits no message.
    return (
        "UPDATE deliveries_delivery SET opted_out_at = NEW.occurred_at WHERE opted_out_at IS NULL AND id = ("
        "SELECT d.id FROM deliveries_delivery d WHERE d.contact_id = NEW.contact_id AND d.campaign_id IS NOT NULL "
        "AND d.status <> 'failed' "
        "AND COALESCE(d.sent_at, d.accepted_at) <= NEW.occurred_at "
        "ORDER BY COALESCE(d.sent_at, d.accepted_at) DESC, d.id DESC LIMIT 1);"
    )


# --- PostgreSQL: statement-level triggers over transition tables ------------------------------------------


def _pg_changes(sources: list[tuple[str, int]]) -> tuple[str, str]:
    """The counter and timeline INSERTs that add each source table's rows with its sign."""
    counter_rows = " UNION ALL ".join(
        f"SELECT {_key_columns('r')}, {sign} AS delta FROM {table} r WHERE r.campaign_id IS NOT NULL"  # noqa: S608
        for table, sign in sources
    )
    counter = (
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "  # noqa: S608
        f"SELECT {KEY}, shard_number, sum(delta) FROM ({counter_rows}) AS changes "
        f"GROUP BY {KEY} HAVING sum(delta) <> 0 ORDER BY {KEY} {COUNTER_UPSERT};"
    )
    event_rows = " UNION ALL ".join(
        f"SELECT r.campaign_id AS campaign_id, {_pg_minute(at)} AS minute, "  # noqa: S608
        + ", ".join(f"{sign if column == target else 0} AS {target}" for target in TIMELINE_COLUMNS)
        + f" FROM {table} r WHERE r.campaign_id IS NOT NULL AND {at} IS NOT NULL"
        for table, sign in sources
        for at, column in _timeline_events("r")
    )
    timeline = (
        f'INSERT INTO deliveries_campaign_timeline (campaign_id, minute, shard, sent, delivered, "read") '  # noqa: S608
        f'SELECT campaign_id, minute, shard_number, sum(sent), sum(delivered), sum("read") FROM ({event_rows}) AS e '
        f"GROUP BY campaign_id, minute "
        f'HAVING sum(sent) <> 0 OR sum(delivered) <> 0 OR sum("read") <> 0 ORDER BY campaign_id, minute '
        f"{TIMELINE_UPSERT};"
    )
    return counter, timeline


def _pg_statement_function(name: str, sources: list[tuple[str, int]]) -> str:
    counter, timeline = _pg_changes(sources)
    # Rows without a campaign (API and test sends) count nowhere: their statements skip the shard lock and the
    # two INSERTs, a large share of an API send's INSERT.
    in_a_campaign = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} WHERE campaign_id IS NOT NULL)"  # noqa: S608
        for table, _ in sources
    )
    return f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE shard_number smallint;
        BEGIN
            IF NOT ({in_a_campaign}) THEN
                RETURN NULL;
            END IF;
            shard_number := deliveries_analytics_shard();
            {counter}
            {timeline}
            RETURN NULL;
        END $$;
    """


POSTGRESQL_STATEMENT_FUNCTIONS = [
    _pg_statement_function("deliveries_analytics_inserted", [("new_rows", 1)]),
    _pg_statement_function("deliveries_analytics_updated", [("old_rows", -1), ("new_rows", 1)]),
    _pg_statement_function("deliveries_analytics_deleted", [("old_rows", -1)]),
]

POSTGRESQL_FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION deliveries_analytics_shard() RETURNS smallint LANGUAGE plpgsql AS $$
    DECLARE
        first_choice integer := pg_backend_pid() % {SHARDS};
        candidate integer;
    BEGIN
        -- The first shard no other open transaction writes: concurrent writers never wait on a counter row.
        FOR step IN 0..{SHARDS - 1} LOOP
            candidate := (first_choice + step) % {SHARDS};
            IF pg_try_advisory_xact_lock({ADVISORY_NAMESPACE}, candidate) THEN
                RETURN candidate;
            END IF;
        END LOOP;
        PERFORM pg_advisory_xact_lock({ADVISORY_NAMESPACE}, first_choice);
        RETURN first_choice;
    END $$;
    """,
    *POSTGRESQL_STATEMENT_FUNCTIONS,
    """
    CREATE TRIGGER deliveries_analytics_insert AFTER INSERT ON deliveries_delivery
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deliveries_analytics_inserted();
    """,
    """
    CREATE TRIGGER deliveries_analytics_update AFTER UPDATE ON deliveries_delivery
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION deliveries_analytics_updated();
    """,
    """
    CREATE TRIGGER deliveries_analytics_delete AFTER DELETE ON deliveries_delivery
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION deliveries_analytics_deleted();
    """,
    f"""
    CREATE OR REPLACE FUNCTION deliveries_analytics_campaign_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {CAMPAIGN_CLEANUP} RETURN NULL; END $$;
    """,
    """
    CREATE TRIGGER deliveries_analytics_campaign_delete AFTER DELETE ON wacampaigns_campaign
    FOR EACH ROW EXECUTE FUNCTION deliveries_analytics_campaign_deleted();
    """,
    f"""
    CREATE OR REPLACE FUNCTION deliveries_analytics_opt_out_credited() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_opt_out_credit()} RETURN NULL; END $$;
    """,
    """
    CREATE TRIGGER deliveries_analytics_opt_out AFTER INSERT ON contacts_consentevent
    FOR EACH ROW WHEN (NEW.kind = 'opt_out' AND NEW.source <> 'undeliverable')
    EXECUTE FUNCTION deliveries_analytics_opt_out_credited();
    """,
]
POSTGRESQL_BACKWARD = [
    "DROP TRIGGER IF EXISTS deliveries_analytics_opt_out ON contacts_consentevent;",
    "DROP TRIGGER IF EXISTS deliveries_analytics_campaign_delete ON wacampaigns_campaign;",
    "DROP TRIGGER IF EXISTS deliveries_analytics_insert ON deliveries_delivery;",
    "DROP TRIGGER IF EXISTS deliveries_analytics_update ON deliveries_delivery;",
    "DROP TRIGGER IF EXISTS deliveries_analytics_delete ON deliveries_delivery;",
    "DROP FUNCTION IF EXISTS deliveries_analytics_opt_out_credited();",
    "DROP FUNCTION IF EXISTS deliveries_analytics_campaign_deleted();",
    "DROP FUNCTION IF EXISTS deliveries_analytics_inserted();",
    "DROP FUNCTION IF EXISTS deliveries_analytics_updated();",
    "DROP FUNCTION IF EXISTS deliveries_analytics_deleted();",
    "DROP FUNCTION IF EXISTS deliveries_analytics_shard();",
]


# --- SQLite: row-level triggers (one writer at a time, so one shard) --------------------------------------


def _sqlite_counter_change(row: str, sign: int) -> str:
    return (
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "
        f"SELECT {_key_columns(row)}, 0, {sign} WHERE {row}.campaign_id IS NOT NULL {COUNTER_UPSERT};"
    )


def _sqlite_timeline_changes(row: str, sign: int) -> list[str]:
    return [
        f'INSERT INTO deliveries_campaign_timeline (campaign_id, minute, shard, sent, delivered, "read") '
        f"SELECT {row}.campaign_id, {_sqlite_minute(at)}, 0, "
        + ", ".join(f"{sign if column == target else 0}" for target in TIMELINE_COLUMNS)
        + f" WHERE {row}.campaign_id IS NOT NULL AND {at} IS NOT NULL {TIMELINE_UPSERT};"
        for at, column in _timeline_events(row)
    ]


def _sqlite_trigger(name: str, event: str, when: str, statements: list[str]) -> str:
    body = "\n    ".join(statements)
    return f"CREATE TRIGGER {name} AFTER {event} FOR EACH ROW WHEN {when}\nBEGIN\n    {body}\nEND;"


def _sqlite_changed(columns) -> str:
    return " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in columns)


# The timeline depends on these columns only. Its statements live in triggers of their own, which fire only
# when one of them is set: most writes (a launch inserting queued rows, a sender claiming and recording
# results) change the counters alone, and SQLite runs every statement of a row trigger for every row.
TIMELINE_WATCHED = ("campaign_id", "sent_at", "delivered_at", "read_at")
_SQLITE_HAS_EVENT = "COALESCE(NEW.sent_at, NEW.delivered_at, NEW.read_at) IS NOT NULL"
_SQLITE_IN_A_CAMPAIGN = "(OLD.campaign_id IS NOT NULL OR NEW.campaign_id IS NOT NULL)"
# A delete after its campaign's (a test database flush deletes tables in any order) must not leave rows behind.
_SQLITE_CAMPAIGN_EXISTS = "EXISTS (SELECT 1 FROM wacampaigns_campaign WHERE id = OLD.campaign_id)"

SQLITE_FORWARD = [
    _sqlite_trigger(
        "deliveries_analytics_insert",
        "INSERT ON deliveries_delivery",
        "NEW.campaign_id IS NOT NULL",
        [_sqlite_counter_change("NEW", 1)],
    ),
    _sqlite_trigger(
        "deliveries_analytics_insert_timeline",
        "INSERT ON deliveries_delivery",
        f"NEW.campaign_id IS NOT NULL AND {_SQLITE_HAS_EVENT}",
        _sqlite_timeline_changes("NEW", 1),
    ),
    _sqlite_trigger(
        "deliveries_analytics_update",
        f"UPDATE OF {', '.join(WATCHED)} ON deliveries_delivery",
        f"{_SQLITE_IN_A_CAMPAIGN} AND ({_sqlite_changed(WATCHED)})",
        [_sqlite_counter_change("OLD", -1), _sqlite_counter_change("NEW", 1)],
    ),
    _sqlite_trigger(
        "deliveries_analytics_update_timeline",
        f"UPDATE OF {', '.join(TIMELINE_WATCHED)} ON deliveries_delivery",
        f"{_SQLITE_IN_A_CAMPAIGN} AND ({_sqlite_changed(TIMELINE_WATCHED)})",
        _sqlite_timeline_changes("OLD", -1) + _sqlite_timeline_changes("NEW", 1),
    ),
    _sqlite_trigger(
        "deliveries_analytics_delete",
        "DELETE ON deliveries_delivery",
        f"OLD.campaign_id IS NOT NULL AND {_SQLITE_CAMPAIGN_EXISTS}",
        [_sqlite_counter_change("OLD", -1), *_sqlite_timeline_changes("OLD", -1)],
    ),
    _sqlite_trigger("deliveries_analytics_campaign_delete", "DELETE ON wacampaigns_campaign", "1", [CAMPAIGN_CLEANUP]),
    _sqlite_trigger(
        "deliveries_analytics_opt_out",
        "INSERT ON contacts_consentevent",
        "NEW.kind = 'opt_out' AND NEW.source <> 'undeliverable'",
        [_opt_out_credit()],
    ),
]
_POSTGRESQL_TRIGGER_NAMES = (
    "deliveries_analytics_insert",
    "deliveries_analytics_update",
    "deliveries_analytics_delete",
    "deliveries_analytics_campaign_delete",
    "deliveries_analytics_opt_out",
)
_SQLITE_TRIGGER_NAMES = (
    *_POSTGRESQL_TRIGGER_NAMES,
    "deliveries_analytics_insert_timeline",
    "deliveries_analytics_update_timeline",
)
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS {name};" for name in _SQLITE_TRIGGER_NAMES]


def _backfill(minute) -> list[str]:
    counter = (
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "  # noqa: S608
        f"SELECT {KEY}, 0, count(*) FROM (SELECT {_key_columns('d')} FROM deliveries_delivery d "
        f"WHERE d.campaign_id IS NOT NULL) AS k GROUP BY {KEY};"
    )
    event_rows = " UNION ALL ".join(
        f"SELECT d.campaign_id AS campaign_id, {minute(at)} AS minute, "  # noqa: S608
        + ", ".join(f"{1 if column == target else 0} AS {target}" for target in TIMELINE_COLUMNS)
        + f" FROM deliveries_delivery d WHERE d.campaign_id IS NOT NULL AND {at} IS NOT NULL"
        for at, column in _timeline_events("d")
    )
    timeline = (
        f'INSERT INTO deliveries_campaign_timeline (campaign_id, minute, shard, sent, delivered, "read") '  # noqa: S608
        f'SELECT campaign_id, minute, 0, sum(sent), sum(delivered), sum("read") FROM ({event_rows}) AS e '
        f"GROUP BY campaign_id, minute;"
    )
    return [counter, timeline]


REQUIRED_TABLES = {
    "deliveries_delivery",
    "deliveries_campaign_counter",
    "deliveries_campaign_timeline",
    "wacampaigns_campaign",
    "contacts_consentevent",
}


def analytics_triggers_sql(vendor: str) -> tuple[list[str], list[str]]:
    """(statements that create the triggers, statements that drop them) for a database vendor."""
    if vendor == "postgresql":
        return POSTGRESQL_FORWARD, POSTGRESQL_BACKWARD
    if vendor == "sqlite":
        return SQLITE_FORWARD, SQLITE_BACKWARD
    raise NotImplementedError(f"the analytics triggers support PostgreSQL and SQLite, not {vendor}")


def analytics_trigger_names(vendor: str) -> tuple[str, ...]:
    return _POSTGRESQL_TRIGGER_NAMES if vendor == "postgresql" else _SQLITE_TRIGGER_NAMES


def analytics_counters_recount_sql(vendor: str) -> list[str]:
    """Statements that replace every counter and timeline row by a fresh count of the deliveries."""
    minute = _pg_minute if vendor == "postgresql" else _sqlite_minute
    return [
        "DELETE FROM deliveries_campaign_counter;",
        "DELETE FROM deliveries_campaign_timeline;",
        *_backfill(minute),
    ]


def _installed_triggers(connection) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'deliveries_analytics%'"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'deliveries_analytics%'"
            )
        return {row[0] for row in cursor.fetchall()}


def analytics_triggers_ensure(connection) -> bool:
    """Re-creates the triggers and recounts when any is missing; True when it had to."""
    if set(analytics_trigger_names(connection.vendor)) <= _installed_triggers(connection):
        return False
    create, drop = analytics_triggers_sql(connection.vendor)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in [*drop, *create, *analytics_counters_recount_sql(connection.vendor)]:
            cursor.execute(statement)
    return True


def analytics_triggers_after_migrate(sender, *, app_config=None, using="default", **kwargs) -> None:
    """post_migrate receiver: puts back triggers a SQLite table rebuild dropped (once the tables exist)."""
    if app_config is None or app_config.label != "deliveries":
        return
    connection = connections[using]
    if set(connection.introspection.table_names()) >= REQUIRED_TABLES:
        analytics_triggers_ensure(connection)


# The two triggers a launch's queued rows would fire on SQLite (see `queued_rows_insert`).
_SQLITE_INSERT_TRIGGERS = ("deliveries_analytics_insert", "deliveries_analytics_insert_timeline")


def queued_rows_insert(
    connection, *, campaign_id: int, sql: str, params: list, insert_triggers_fire: bool = True
) -> int:
    """Runs `sql`, an INSERT of the campaign's rows, all queued and not yet sent; returns the rows it inserted.

    PostgreSQL's statement-level trigger counts the whole INSERT at once, unless the caller runs it with
    `session_replication_role = replica` (`insert_triggers_fire=False`): then one upsert counts it here.

    SQLite runs a row trigger's program for every row, even when its WHEN is false (a 1M launch: ~5 s for the
    counter upserts, and still ~2 s for the two insert triggers with nothing to do). Here they are dropped
    for this INSERT and created again from their stored SQL in the same transaction, and the rows are
    counted by one upsert of the campaign's queued counter. SQLite's DDL is transactional and it has one
    writer: every committed state, and every other connection, has the triggers (a failure rolls the drop
    back with the rest).
    """
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        if connection.vendor != "sqlite":
            cursor.execute(sql, params)
            inserted = max(cursor.rowcount, 0)
            if not insert_triggers_fire:
                queued_rows_count(cursor, campaign_id=campaign_id, inserted=inserted)
            return inserted
        placeholders = ", ".join(["%s"] * len(_SQLITE_INSERT_TRIGGERS))
        cursor.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({placeholders})",  # noqa: S608
            list(_SQLITE_INSERT_TRIGGERS),
        )
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute(sql, params)
        # The rows an ON CONFLICT DO NOTHING skipped are not in it (sqlite3_changes).
        inserted = max(cursor.rowcount, 0)
        for _, definition in triggers:
            cursor.execute(definition)
        queued_rows_count(cursor, campaign_id=campaign_id, inserted=inserted)
        return inserted


def queued_rows_count(cursor, *, campaign_id: int, inserted: int) -> None:
    """Adds `inserted` queued rows to the campaign's counter, for an INSERT its insert triggers did not count."""
    if not inserted:
        return
    shard = "deliveries_analytics_shard()" if cursor.db.vendor == "postgresql" else "0"
    cursor.execute(
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "  # noqa: S608
        f"VALUES (%s, 'queued', '', -1, 0, %s, %s, %s, {shard}, %s) {COUNTER_UPSERT}",
        [campaign_id, False, False, False, inserted],
    )
