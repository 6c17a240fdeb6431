from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeliveriesConfig(AppConfig):
    name = "deliveries"
    verbose_name = "Deliveries and webhooks"

    def ready(self):
        # SQLite drops a table's triggers when a migration rebuilds the table: put back the analytics
        # counters' and the API event outbox's triggers after every migrate.
        from deliveries.analytics.triggers import analytics_triggers_after_migrate
        from deliveries.api.events.triggers import outbox_triggers_after_migrate

        post_migrate.connect(
            analytics_triggers_after_migrate, sender=self, dispatch_uid="deliveries_analytics_triggers"
        )
        post_migrate.connect(outbox_triggers_after_migrate, sender=self, dispatch_uid="deliveries_api_outbox_triggers")
