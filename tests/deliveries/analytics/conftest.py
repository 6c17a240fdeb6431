"""Fixtures for analytics tests: the webhook tests' signed poster and sender, a staff user who may see dashboards."""

import pytest
from django.contrib.auth.models import Permission

from tests.deliveries.webhooks.conftest import meta_app, post_webhook, sender  # noqa: F401 (fixtures)


@pytest.fixture
def dashboard_user(django_user_model):
    user = django_user_model.objects.create_user("analyst", password="analyst-password", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard", content_type__app_label="wacampaigns"))
    return user


@pytest.fixture
def dashboard_client(client, dashboard_user):
    client.force_login(dashboard_user)
    return client
