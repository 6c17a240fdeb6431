from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TemplatesConfig(AppConfig):
    name = "templates_app"
    verbose_name = "Message templates"

    def ready(self):
        from templates_app.schedules import template_sync_schedule_ensure

        # After every `migrate` (django_q's tables exist by then), so the schedule follows the setting.
        post_migrate.connect(template_sync_schedule_ensure, sender=self, dispatch_uid="templates_app_sync_schedule")
