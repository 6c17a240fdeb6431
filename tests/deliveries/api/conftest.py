"""Fixtures of the integration API tests: an account with a number, a key, templates of each category."""

import pytest
from django.core.cache import cache
from django.test import Client

from deliveries.api.keys import api_key_create
from templates_app.models import ParameterFormat, TemplateCategory
from tests import factories


@pytest.fixture(autouse=True)
def _fresh_cache(db):
    # The cache (the API's rate-limit counts with Redis, the opt-out pages' limits) is not rolled back with the test.
    from django.core.management import call_command

    call_command("createcachetable", verbosity=0)
    cache.clear()


@pytest.fixture
def sender(db):
    return factories.phone_number()


@pytest.fixture
def account(sender):
    return sender.business_account


@pytest.fixture
def key(account):
    api_key, plain = api_key_create(name="Shop", business_account=account)
    return api_key, plain


@pytest.fixture
def api(key):
    """A test client that sends the key; `api.post_json(path, body, **headers)` for JSON bodies."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key[1]}")

    def post_json(path, body, **headers):
        return client.post(path, data=body, content_type="application/json", **headers)

    def put_json(path, body, **headers):
        return client.put(path, data=body, content_type="application/json", **headers)

    client.post_json = post_json
    client.put_json = put_json
    return client


@pytest.fixture
def utility_template(account):
    return factories.template(
        business_account=account,
        name="order_confirmation",
        language="en_US",
        category=TemplateCategory.UTILITY,
        parameter_format=ParameterFormat.NAMED,
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Order {{order_id}}"},
            {"type": "BODY", "text": "Hi {{first_name}}, your order {{order_id}} ships on {{date}}."},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "URL", "text": "Track", "url": "https://shop.example.com/track/{{1}}"}],
            },
        ],
    )


@pytest.fixture
def marketing_template(account):
    return factories.template(
        business_account=account,
        name="spring_sale",
        language="en_US",
        category=TemplateCategory.MARKETING,
        components=[{"type": "BODY", "text": "Hi {{1}}, {{2}} off today"}],
    )
