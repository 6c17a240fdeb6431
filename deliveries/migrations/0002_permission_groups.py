"""Permission groups: Viewer (read-only, dashboards), Marketer (contacts, templates, campaigns incl.
launching), Administrator (everything).

Later migrations that add models re-run the same rules (copy `_sync_groups`) so the groups cover them.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PRODUCT_APPS = ("contacts", "templates_app", "wacampaigns", "deliveries")
MARKETER_MANAGES = {
    ("contacts", "contact"),
    ("contacts", "tag"),
    ("templates_app", "messagetemplate"),
    ("wacampaigns", "campaign"),
}
MARKETER_EXTRA = {
    ("contacts", "add_consentevent"),
    ("wacampaigns", "launch_campaign"),
    ("wacampaigns", "view_dashboard"),
}
VIEWER_EXTRA = {("wacampaigns", "view_dashboard")}
ADMINISTRATOR_APPS = (*PRODUCT_APPS, "auth", "django_q")


def _sync_groups(apps, schema_editor):
    # Permissions are normally created after migrations run; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    product = list(Permission.objects.filter(content_type__app_label__in=PRODUCT_APPS).select_related("content_type"))

    def key(permission):
        return (permission.content_type.app_label, permission.codename)

    viewer = [p for p in product if p.codename.startswith("view_") or key(p) in VIEWER_EXTRA]
    marketer = viewer + [
        p
        for p in product
        if key(p) in MARKETER_EXTRA
        or (
            (p.content_type.app_label, p.content_type.model) in MARKETER_MANAGES
            and p.codename.startswith(("add_", "change_", "delete_"))
        )
    ]
    administrator = Permission.objects.filter(content_type__app_label__in=ADMINISTRATOR_APPS)

    for name, permissions in (("Viewer", viewer), ("Marketer", marketer), ("Administrator", administrator)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0001_initial"),
        ("contacts", "0001_initial"),
        ("templates_app", "0001_initial"),
        ("wacampaigns", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(_sync_groups, migrations.RunPython.noop)]
