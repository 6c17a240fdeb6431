"""An API burst wakes one sender task, not one per request, and wakes again once that task was taken."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import OrmQ

from deliveries.api import waking
from deliveries.api.waking import sender_wake

pytestmark = pytest.mark.django_db


def _wake(phone_number, capture):
    with capture(execute=True), transaction.atomic():
        sender_wake(phone_number=phone_number)


def _sender_tasks(phone_number) -> list[OrmQ]:
    return [row for row in OrmQ.objects.all() if waking._is_sender_of(row, phone_number.pk)]


def test_a_waiting_task_serves_the_next_sends_and_a_taken_one_does_not(
    sender, django_capture_on_commit_callbacks, settings
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "orm": "default", "sync": False}
    waking._enqueued.clear()

    _wake(sender, django_capture_on_commit_callbacks)
    _wake(sender, django_capture_on_commit_callbacks)
    assert len(_sender_tasks(sender)) == 1

    # A worker takes the task (the ORM broker moves its lock into the future): the next send wakes again.
    OrmQ.objects.update(lock=timezone.now() + timedelta(minutes=10))
    _wake(sender, django_capture_on_commit_callbacks)
    assert len(_sender_tasks(sender)) == 2
