"""Campaign analytics: counters and timeline tables, the triggers that keep them exact, click and opt-out columns.

Why triggers, and how they avoid a hot row: see `deliveries.analytics.counters`. The SQL is frozen here (a
PostgreSQL and a SQLite variant); it mirrors `deliveries.analytics.counters.counter_key` and `timeline_events`.
"""

import django.db.models.deletion
from django.db import migrations, models

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
        f"SELECT {_key_columns('r')}, {sign} AS delta FROM {table} r WHERE r.campaign_id IS NOT NULL"
        for table, sign in sources
    )
    counter = (
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "
        f"SELECT {KEY}, shard_number, sum(delta) FROM ({counter_rows}) AS changes "
        f"GROUP BY {KEY} HAVING sum(delta) <> 0 ORDER BY {KEY} {COUNTER_UPSERT};"
    )
    event_rows = " UNION ALL ".join(
        f"SELECT r.campaign_id AS campaign_id, {_pg_minute(at)} AS minute, "
        + ", ".join(f"{sign if column == target else 0} AS {target}" for target in TIMELINE_COLUMNS)
        + f" FROM {table} r WHERE r.campaign_id IS NOT NULL AND {at} IS NOT NULL"
        for table, sign in sources
        for at, column in _timeline_events("r")
    )
    timeline = (
        f'INSERT INTO deliveries_campaign_timeline (campaign_id, minute, shard, sent, delivered, "read") '
        f'SELECT campaign_id, minute, shard_number, sum(sent), sum(delivered), sum("read") FROM ({event_rows}) AS e '
        f"GROUP BY campaign_id, minute "
        f'HAVING sum(sent) <> 0 OR sum(delivered) <> 0 OR sum("read") <> 0 ORDER BY campaign_id, minute '
        f"{TIMELINE_UPSERT};"
    )
    return counter, timeline


def _pg_statement_function(name: str, sources: list[tuple[str, int]]) -> str:
    counter, timeline = _pg_changes(sources)
    return f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE shard_number smallint;
        BEGIN
            shard_number := deliveries_analytics_shard();
            {counter}
            {timeline}
            RETURN NULL;
        END $$;
    """


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
    _pg_statement_function("deliveries_analytics_inserted", [("new_rows", 1)]),
    _pg_statement_function("deliveries_analytics_updated", [("old_rows", -1), ("new_rows", 1)]),
    _pg_statement_function("deliveries_analytics_deleted", [("old_rows", -1)]),
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


def _sqlite_row_changes(row: str, sign: int) -> list[str]:
    counter = (
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "
        f"SELECT {_key_columns(row)}, 0, {sign} WHERE {row}.campaign_id IS NOT NULL {COUNTER_UPSERT};"
    )
    timeline = [
        f'INSERT INTO deliveries_campaign_timeline (campaign_id, minute, shard, sent, delivered, "read") '
        f"SELECT {row}.campaign_id, {_sqlite_minute(at)}, 0, "
        + ", ".join(f"{sign if column == target else 0}" for target in TIMELINE_COLUMNS)
        + f" WHERE {row}.campaign_id IS NOT NULL AND {at} IS NOT NULL {TIMELINE_UPSERT};"
        for at, column in _timeline_events(row)
    ]
    return [counter, *timeline]


def _sqlite_trigger(name: str, event: str, when: str, statements: list[str]) -> str:
    body = "\n    ".join(statements)
    return f"CREATE TRIGGER {name} AFTER {event} FOR EACH ROW WHEN {when}\nBEGIN\n    {body}\nEND;"


_SQLITE_CHANGED = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in WATCHED)
# A delete after its campaign's (a test database flush deletes tables in any order) must not leave rows behind.
_SQLITE_CAMPAIGN_EXISTS = "EXISTS (SELECT 1 FROM wacampaigns_campaign WHERE id = OLD.campaign_id)"

SQLITE_FORWARD = [
    _sqlite_trigger(
        "deliveries_analytics_insert",
        "INSERT ON deliveries_delivery",
        "NEW.campaign_id IS NOT NULL",
        _sqlite_row_changes("NEW", 1),
    ),
    _sqlite_trigger(
        "deliveries_analytics_update",
        f"UPDATE OF {', '.join(WATCHED)} ON deliveries_delivery",
        f"(OLD.campaign_id IS NOT NULL OR NEW.campaign_id IS NOT NULL) AND ({_SQLITE_CHANGED})",
        _sqlite_row_changes("OLD", -1) + _sqlite_row_changes("NEW", 1),
    ),
    _sqlite_trigger(
        "deliveries_analytics_delete",
        "DELETE ON deliveries_delivery",
        f"OLD.campaign_id IS NOT NULL AND {_SQLITE_CAMPAIGN_EXISTS}",
        _sqlite_row_changes("OLD", -1),
    ),
    _sqlite_trigger("deliveries_analytics_campaign_delete", "DELETE ON wacampaigns_campaign", "1", [CAMPAIGN_CLEANUP]),
    _sqlite_trigger(
        "deliveries_analytics_opt_out",
        "INSERT ON contacts_consentevent",
        "NEW.kind = 'opt_out' AND NEW.source <> 'undeliverable'",
        [_opt_out_credit()],
    ),
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "deliveries_analytics_insert",
        "deliveries_analytics_update",
        "deliveries_analytics_delete",
        "deliveries_analytics_campaign_delete",
        "deliveries_analytics_opt_out",
    )
]


def _backfill(minute) -> list[str]:
    counter = (
        f"INSERT INTO deliveries_campaign_counter ({KEY}, shard, count) "
        f"SELECT {KEY}, 0, count(*) FROM (SELECT {_key_columns('d')} FROM deliveries_delivery d "
        f"WHERE d.campaign_id IS NOT NULL) AS k GROUP BY {KEY};"
    )
    event_rows = " UNION ALL ".join(
        f"SELECT d.campaign_id AS campaign_id, {minute(at)} AS minute, "
        + ", ".join(f"{1 if column == target else 0} AS {target}" for target in TIMELINE_COLUMNS)
        + f" FROM deliveries_delivery d WHERE d.campaign_id IS NOT NULL AND {at} IS NOT NULL"
        for at, column in _timeline_events("d")
    )
    timeline = (
        f'INSERT INTO deliveries_campaign_timeline (campaign_id, minute, shard, sent, delivered, "read") '
        f'SELECT campaign_id, minute, 0, sum(sent), sum(delivered), sum("read") FROM ({event_rows}) AS e '
        f"GROUP BY campaign_id, minute;"
    )
    return [counter, timeline]


def triggers_install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        statements = POSTGRESQL_FORWARD + _backfill(_pg_minute)
    else:
        statements = SQLITE_FORWARD + _backfill(_sqlite_minute)
    for statement in statements:
        schema_editor.execute(statement, params=None)


def triggers_remove(apps, schema_editor):
    statements = POSTGRESQL_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_contact_import"),
        ("deliveries", "0006_integration_api_outbox"),
        ("templates_app", "0001_initial"),
        ("wacampaigns", "0004_campaign_click_target_url"),
    ]

    operations = [
        migrations.CreateModel(
            name="CampaignCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("shard", models.PositiveSmallIntegerField()),
                ("status", models.CharField(max_length=16)),
                ("skip_reason", models.CharField(blank=True, max_length=24)),
                ("error_code", models.IntegerField()),
                ("reached", models.PositiveSmallIntegerField()),
                ("replied", models.BooleanField()),
                ("clicked", models.BooleanField()),
                ("opted_out", models.BooleanField()),
                ("count", models.BigIntegerField()),
            ],
            options={
                "db_table": "deliveries_campaign_counter",
            },
        ),
        migrations.CreateModel(
            name="CampaignTimelineBucket",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("minute", models.BigIntegerField()),
                ("shard", models.PositiveSmallIntegerField()),
                ("sent", models.BigIntegerField(default=0)),
                ("delivered", models.BigIntegerField(default=0)),
                ("read", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "deliveries_campaign_timeline",
            },
        ),
        migrations.AddField(
            model_name="delivery",
            name="click_count",
            field=models.PositiveIntegerField(db_default=0, default=0, help_text="Clicks on tracked links."),
        ),
        migrations.AddField(
            model_name="delivery",
            name="clicked_at",
            field=models.DateTimeField(blank=True, help_text="First click on a tracked link.", null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="opted_out_at",
            field=models.DateTimeField(
                blank=True,
                help_text="An opt-out credited to this message (see deliveries.analytics.triggers).",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["campaign", "status", "id"], name="delivery_campaign_keyset_idx"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("replied_at__isnull", False)),
                fields=["campaign", "id"],
                name="delivery_campaign_replied_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("clicked_at__isnull", False)),
                fields=["campaign", "id"],
                name="delivery_campaign_clicked_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("opted_out_at__isnull", False)),
                fields=["campaign", "id"],
                name="delivery_campaign_opt_out_idx",
            ),
        ),
        migrations.AddField(
            model_name="campaigncounter",
            name="campaign",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="wacampaigns.campaign",
            ),
        ),
        migrations.AddField(
            model_name="campaigntimelinebucket",
            name="campaign",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="wacampaigns.campaign",
            ),
        ),
        migrations.AddConstraint(
            model_name="campaigncounter",
            constraint=models.UniqueConstraint(
                fields=(
                    "campaign",
                    "shard",
                    "status",
                    "skip_reason",
                    "error_code",
                    "reached",
                    "replied",
                    "clicked",
                    "opted_out",
                ),
                name="campaign_counter_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="campaigntimelinebucket",
            constraint=models.UniqueConstraint(fields=("campaign", "minute", "shard"), name="campaign_timeline_key"),
        ),
        migrations.RunPython(triggers_install, triggers_remove),
    ]
