"""Waking the sender of a number after an API send, without enqueueing a task per request.

`senders_start` enqueues a sender task (a signed pickle and an INSERT into the ORM broker's queue) for every slot
without a live lease. Under a burst of sends with no sender running yet, every request would enqueue one more task
for the same slot. A task that no worker has taken from the queue yet will take the slot and claim every row
committed before it runs, so while the task this process enqueued is still waiting in the queue, a send need not
enqueue another. Anything else (a Redis broker, a task already taken, no record) wakes as before.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from deliveries.sending.controls import SENDER_TASK, senders_start
from wacampaigns.models import PhoneNumber

# A record of an enqueued task is trusted this long at most; after that the number is woken as before.
WAKE_RECORD_SECONDS = 5.0

_lock = threading.Lock()
# phone number pk → (monotonic time of the wake, ids of the queue rows enqueued by that wake)
_enqueued: dict[int, tuple[float, list[int]]] = {}


def _orm_broker() -> bool:
    return "orm" in settings.Q_CLUSTER and not settings.Q_CLUSTER.get("sync", False)


def _task_waiting(phone_number_id: int) -> bool:
    """True when the sender task this process enqueued for the number is still in the queue, not yet taken."""
    with _lock:
        record = _enqueued.get(phone_number_id)
    if record is None:
        return False
    woken_at, ids = record
    if not ids or time.monotonic() - woken_at > WAKE_RECORD_SECONDS:
        return False
    # The ORM broker stamps `lock` with the enqueue time, and moves it into the future when a worker takes the row.
    # Plain SQL: this runs after every API send, and building the ORM query cost ten times running it.
    table, lock = (
        connection.ops.quote_name(name) for name in (OrmQ._meta.db_table, OrmQ._meta.get_field("lock").column)
    )
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE id IN ({placeholders}) AND {lock} < %s LIMIT 1",  # noqa: S608
            [*ids, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        return cursor.fetchone() is not None


def _is_sender_of(row: OrmQ, phone_number_id: int) -> bool:
    task = row.task or {}
    args = task.get("args") or ()
    return task.get("func") == SENDER_TASK and bool(args) and args[0] == phone_number_id


def _remember(phone_number_id: int, enqueued_from: datetime) -> None:
    """After the commit enqueued the tasks: their queue rows, told apart from other processes' by their payload."""
    try:
        rows = list(OrmQ.objects.filter(lock__gte=enqueued_from, lock__lte=timezone.now())[:50])
    except DatabaseError:
        # The send is committed and its task enqueued: without a record the next send simply wakes as before.
        return
    ids = [row.pk for row in rows if _is_sender_of(row, phone_number_id)]
    with _lock:
        _enqueued[phone_number_id] = (time.monotonic(), ids)


def sender_wake(*, phone_number: PhoneNumber) -> None:
    """After the send's commit (or within its transaction): makes sure a sender will claim the committed row."""
    if _orm_broker() and _task_waiting(phone_number.pk):
        return
    marks: dict[str, datetime] = {}
    transaction.on_commit(lambda: marks.setdefault("from", timezone.now()))
    if senders_start(phone_number=phone_number) and _orm_broker():
        transaction.on_commit(lambda: _remember(phone_number.pk, marks["from"]))
