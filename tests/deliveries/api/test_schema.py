"""Schemathesis over /api/v1/openapi.json (in-process WSGI) with a valid key: no server error, no schema
violation, and a 2xx answer on every operation."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import positive_data_acceptance

from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact
from contacts.services import contact_consent_record

PHONE = "+34612345678"
EXAMPLES_PER_OPERATION = 25
# A well-formed request may still be refused by a business rule (unknown template, no consent): 422 is right.
EXCLUDED_CHECKS = [positive_data_acceptance]
SEND = {
    "to": PHONE,
    "template": {"name": "order_confirmation", "language": "en_US"},
    "parameters": {"first_name": "Ana", "order_id": "A-1", "date": "Monday", "button.0": "A-1"},
}
# A request per operation that must succeed, in an order where each finds what it needs.
VALID_REQUESTS = [
    ("GET", "/api/v1/ping", {}),
    ("POST", "/api/v1/messages", {"body": SEND, "headers": {"Idempotency-Key": "order-A-1"}}),
    ("GET", "/api/v1/messages/{message_id}", {}),
    ("PUT", "/api/v1/contacts/{phone}", {"path_parameters": {"phone": PHONE}, "body": {"name": "Ana"}}),
    ("GET", "/api/v1/contacts/{phone}", {"path_parameters": {"phone": PHONE}}),
    ("POST", "/api/v1/contacts/{phone}/opt-out", {"path_parameters": {"phone": PHONE}, "body": {}}),
]


@pytest.fixture
def schema(settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    # As Django's test client does: the in-process requests must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _fuzz(operation, headers: dict) -> list[int]:
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case):
        response = case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)
        statuses.append(response.status_code)

    fuzz()
    return statuses


def test_generated_requests_conform_to_the_schema(schema, key, utility_template):
    headers = {"Authorization": f"Bearer {key[1]}"}
    contact = Contact.objects.create(phone=PHONE)
    contact_consent_record(
        contact=contact, kind=ConsentKind.OPT_IN, scope=ConsentScope.MARKETING, source=ConsentSource.ADMIN
    )
    operations = [result.ok() for result in schema.get_all_operations()]

    statuses = {(operation.method.upper(), operation.path): _fuzz(operation, headers) for operation in operations}

    assert set(statuses) == {(method, path) for method, path, _ in VALID_REQUESTS}
    assert all(status < 500 for codes in statuses.values() for status in codes), statuses


def test_every_operation_answers_2xx_to_a_valid_request(schema, key, utility_template):
    headers = {"Authorization": f"Bearer {key[1]}"}
    message_id = None
    answered = {}
    for method, path, request in VALID_REQUESTS:
        path_parameters = request.get("path_parameters") or ({"message_id": message_id} if message_id else None)
        case = schema[path][method].Case(
            path_parameters=path_parameters,
            headers={**headers, **request.get("headers", {})},
            body=request.get("body", NOT_SET),
        )
        response = case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)
        answered[(method, path)] = response.status_code
        if path == "/api/v1/messages":
            message_id = response.json()["id"]

    assert all(200 <= status < 300 for status in answered.values()), answered
