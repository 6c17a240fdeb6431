"""Cheaper writes of a queued Delivery row (a million-row launch writes a million of them).

SQLite evaluates a CHECK's `IN (…)` list of many values at ~3 µs per row: `delivery_status_valid` becomes a
chain of equalities (queued first), and `delivery_skipped_iff_reason` tests the common case (not skipped, no
reason) before its IN list. `wamid` is unique only where set, so queued rows (no wamid yet) are in no wamid
index (on PostgreSQL, neither the unique one nor the LIKE one Django adds). Same rules, fewer writes. On SQLite
each operation rebuilds the table (a one-off copy of the deliveries); the opt-out trigger of the consent events,
which names the deliveries table and would stop its rename, goes first, and `analytics_triggers_after_migrate`
puts back every analytics trigger after `migrate`, with a recount.
"""

from django.db import migrations, models


def _drop_sqlite_opt_out_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS deliveries_analytics_opt_out;")


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_contact_import"),
        ("deliveries", "0011_analytics_skip_rows_without_campaign"),
        ("templates_app", "0001_initial"),
        ("wacampaigns", "0004_campaign_click_target_url"),
    ]

    operations = [
        migrations.RunPython(_drop_sqlite_opt_out_trigger, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="delivery",
            name="delivery_status_valid",
        ),
        migrations.RemoveConstraint(
            model_name="delivery",
            name="delivery_skipped_iff_reason",
        ),
        migrations.AlterField(
            model_name="delivery",
            name="wamid",
            field=models.CharField(blank=True, max_length=128, null=True, verbose_name="WhatsApp message id"),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("wamid__isnull", False)), fields=("wamid",), name="delivery_wamid_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status", "queued"),
                    ("status", "sending"),
                    ("status", "ambiguous"),
                    ("status", "accepted"),
                    ("status", "held"),
                    ("status", "sent"),
                    ("status", "delivered"),
                    ("status", "read"),
                    ("status", "failed"),
                    ("status", "skipped"),
                    ("status", "cancelled"),
                    _connector="OR",
                ),
                name="delivery_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(models.Q(("status", "skipped"), _negated=True), ("skip_reason", "")),
                    models.Q(
                        ("status", "skipped"),
                        (
                            "skip_reason__in",
                            [
                                "no_opt_in",
                                "opted_out",
                                "undeliverable",
                                "no_phone",
                                "missing_variable",
                                "no_approved_template",
                                "us_marketing",
                                "frequency_cap",
                                "suppressed",
                            ],
                        ),
                    ),
                    _connector="OR",
                ),
                name="delivery_skipped_iff_reason",
            ),
        ),
        # First when migrating backwards.
        migrations.RunPython(migrations.RunPython.noop, _drop_sqlite_opt_out_trigger),
    ]
