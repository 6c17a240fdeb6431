"""`wa_id` and `business_user_id` unique only where set: the same rule, fewer index writes per contact.

NULLs never collided, so the rule is unchanged; the indexes now hold only the contacts that have the id (most
have no business user id), and on PostgreSQL the LIKE index Django adds beside a unique column, which no query
uses, goes. A status webhook that identifies a contact updates an indexed column, so PostgreSQL writes a new
entry in every index of the table (bench/webhook_ingest.py: every contact is identified once). On SQLite the
AlterFields rebuild the contacts table (no trigger names it).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0003_opt_out_page_request_counts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="business_user_id",
            field=models.CharField(
                blank=True,
                help_text="Meta's business-scoped user id (BSUID), e.g. US.13491208655302741918.",
                max_length=128,
                null=True,
                verbose_name="business-scoped user id",
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="wa_id",
            field=models.CharField(
                blank=True,
                help_text="The id Meta reports for this user; it can differ from the phone (Brazil, Mexico).",
                max_length=32,
                null=True,
                verbose_name="WhatsApp id",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                condition=models.Q(("wa_id__isnull", False)),
                fields=("wa_id",),
                name="contact_wa_id_unique",
                violation_error_message="A contact with this WhatsApp id already exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                condition=models.Q(("business_user_id__isnull", False)),
                fields=("business_user_id",),
                name="contact_business_user_id_unique",
                violation_error_message="A contact with this business-scoped user id already exists.",
            ),
        ),
    ]
