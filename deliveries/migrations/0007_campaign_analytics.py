"""Campaign analytics: counters and timeline tables, the triggers that keep them exact, click and opt-out columns.

Why triggers, and how they avoid a hot row: see `deliveries.analytics.counters`. The SQL (a PostgreSQL and
a SQLite variant) is in `deliveries.analytics.triggers`.
"""

import django.db.models.deletion
from django.db import migrations, models

from deliveries.analytics.triggers import analytics_counters_recount_sql, analytics_triggers_sql


def triggers_install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in analytics_triggers_sql(vendor)[0] + analytics_counters_recount_sql(vendor):
        schema_editor.execute(statement, params=None)


def triggers_remove(apps, schema_editor):
    for statement in analytics_triggers_sql(schema_editor.connection.vendor)[1]:
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
                help_text="An opt-out credited to this message (see deliveries.analytics.counters).",
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
