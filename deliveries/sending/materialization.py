"""Audience → queued Delivery rows: INSERT … SELECT in committed chunks of contact ids, resumable after a crash.

The campaign's `audience_cursor` is the last contact id done, written in the chunk's own transaction, so a
restarted materializer continues after it; the unique (contact, campaign) constraint makes a chunk that is
run twice harmless. No transaction spans more than one chunk, so other writers are never blocked for long.

On PostgreSQL a chunk is split into MATERIALIZE_CONNECTIONS sub-ranges inserted at once, each on its own
connection and in its own transaction: a chunk's INSERT (and, without the set-based checks below, the
foreign-key checks at its commit) run on one backend, on one core. The cursor moves once every sub-range
has committed; after a crash in between, the chunk runs again and its committed sub-ranges insert nothing.

A chunk's foreign keys are checked set-based on PostgreSQL when its role may set `session_replication_role`
(a superuser, or `GRANT SET ON PARAMETER session_replication_role`): PostgreSQL's own check of a foreign key
is a trigger that looks up and key-share locks the referenced row, row after row, and for a chunk that costs
twice its INSERT (1M rows: ~22 s of one core's time for the campaign, contact and sender keys). With
`replica` set for the INSERT alone, no trigger fires, and the INSERT takes the same locks itself: the
campaign and sender rows once, each contact it reads with `FOR KEY SHARE` in the same statement (a contact
deleted meanwhile is not read, one updated is read again). A referenced row therefore exists when the row
goes in and cannot go before it commits, as with the triggers; checks of the other side (deleting a
contact or campaign) still run in the deleting session. The analytics insert trigger does not fire either:
the rows are counted by one upsert. Where the role may not, or a trigger other than the analytics one would
be skipped, the INSERT runs with the usual checks.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F, Value
from django.db.models.fields import BigIntegerField, CharField, DateTimeField, IntegerField
from django.utils import timezone

from contacts.models import Contact
from deliveries.analytics.triggers import queued_rows_insert
from deliveries.models import Delivery, DeliveryPriority, DeliveryStatus
from templates_app.models import TemplateCategory
from wacampaigns.models import Campaign, CampaignStatus, PhoneNumber
from wacampaigns.selectors import campaign_eligible_contacts, campaign_template

logger = logging.getLogger(__name__)

# Rows a materializer may hold the campaign for between two chunks before another may take over.
LEASE_SECONDS = 120
MATERIALIZING = (CampaignStatus.LAUNCHING, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
# SQLite has one writer, and its busy handler lets a waiting writer retry at most every 100 ms: without a
# pause that long between two chunks, the next chunk takes the lock first and senders, webhooks and the
# admin wait through chunk after chunk (a first send came 5.7 s after a 1M launch).
SQLITE_WRITERS_TURN_SECONDS = 0.1

# Columns of the INSERT, each with the SELECT expression that fills it.
_TEXT_COLUMNS = (
    "template_name",
    "language",
    "recipient",
    "error_class",
    "error_title",
    "error_details",
    "skip_reason",
    "skip_details",
    "pricing_category",
)


# The triggers an INSERT into deliveries fires on PostgreSQL besides the foreign-key checks, as
# "name:tgenabled": the set-based path runs only when skipping them is known to be harmless.
_PG_INSERT_TRIGGERS = ["deliveries_analytics_insert:O"]


def _insert_sql(
    campaign: Campaign, *, after_id: int, up_to_id: int, marketing: bool, contacts_key_share: bool = False
) -> tuple[str, list]:
    now = timezone.now()
    contacts = campaign_eligible_contacts(campaign, marketing=marketing).filter(id__gt=after_id, id__lte=up_to_id)
    text = {name: Value("", output_field=CharField()) for name in _TEXT_COLUMNS}
    text["template_name"] = Value(campaign.template_name, output_field=CharField())
    # Every column is an annotation, added in the INSERT's column order, so the SELECT lists them in that order.
    columns = {
        "campaign_id": Value(campaign.pk, output_field=BigIntegerField()),
        "contact_id": F("id"),
        "sender_id": Value(campaign.sender_id, output_field=BigIntegerField()),
        "priority": Value(int(DeliveryPriority.CAMPAIGN), output_field=IntegerField()),
        "status": Value(DeliveryStatus.QUEUED.value, output_field=CharField()),
        "attempts": Value(0, output_field=IntegerField()),
        "not_before": Value(now, output_field=DateTimeField()),
        "created_at": Value(now, output_field=DateTimeField()),
        **text,
    }
    # Every foreign key the rows fill must be one the set-based checks lock (`_referenced_rows_key_share`).
    filled_keys = {field.column for field in Delivery._meta.concrete_fields if field.is_relation} & set(columns)
    if filled_keys != {"campaign_id", "contact_id", "sender_id"}:
        raise ImproperlyConfigured(f"the set-based key checks do not cover {sorted(filled_keys)}")
    aliases = {f"m_{name}": expression for name, expression in columns.items()}
    select = contacts.annotate(**aliases).values_list(*aliases).order_by()
    select_sql, params = select.query.sql_with_params()
    if contacts_key_share:
        select_sql = f"{select_sql} FOR KEY SHARE OF {connection.ops.quote_name(Contact._meta.db_table)}"
    table = Delivery._meta.db_table
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}) {select_sql}", list(params)


def _key_checks_set_based() -> bool:
    """Whether this connection's chunks may check their foreign keys set-based (see the module docstring)."""
    if connection.vendor != "postgresql":
        return False
    # has_parameter_privilege is new in PostgreSQL 15; before it only a superuser may set the parameter.
    may_set = (
        "has_parameter_privilege('session_replication_role', 'SET')"
        if connection.pg_version >= 150000
        else "current_setting('is_superuser') = 'on'"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {may_set}, current_setting('session_replication_role'), "  # noqa: S608
            "array(SELECT tgname || ':' || tgenabled::text FROM pg_trigger WHERE tgrelid = %s::regclass "
            "AND NOT tgisinternal AND tgtype & 4 <> 0 AND tgenabled <> 'D' ORDER BY 1)",
            [Delivery._meta.db_table],
        )
        allowed, role, triggers = cursor.fetchone()
    return bool(allowed) and role == "origin" and list(triggers) == _PG_INSERT_TRIGGERS


def _referenced_rows_key_share(campaign: Campaign) -> None:
    """Key-share locks the campaign and sender rows every row of the chunk references, as their checks would."""
    with connection.cursor() as cursor:
        for model, pk in ((Campaign, campaign.pk), (PhoneNumber, campaign.sender_id)):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE", [pk])  # noqa: S608
            if cursor.fetchone() is None:
                raise IntegrityError(f"{model._meta.verbose_name} {pk} no longer exists")


def _rows_insert(campaign: Campaign, *, after_id: int, up_to_id: int, marketing: bool, set_based: bool) -> int:
    sql, params = _insert_sql(
        campaign, after_id=after_id, up_to_id=up_to_id, marketing=marketing, contacts_key_share=set_based
    )

    def insert(sql: str) -> int:
        with transaction.atomic():
            if not set_based:
                return queued_rows_insert(connection, campaign_id=campaign.pk, sql=sql, params=params)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
            _referenced_rows_key_share(campaign)
            inserted = queued_rows_insert(
                connection, campaign_id=campaign.pk, sql=sql, params=params, insert_triggers_fire=False
            )
            # Only this INSERT: what the transaction writes next fires its triggers. (A rollback restores it too.)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = origin")
            return inserted

    try:
        # A plain INSERT: ON CONFLICT's speculative insertion costs a quarter of the statement on PostgreSQL,
        # and rows after the cursor exist only when a crash stopped a chunk before its cursor moved.
        return insert(sql)
    except IntegrityError:
        return insert(f"{sql} ON CONFLICT DO NOTHING")


def _sub_range_insert(campaign: Campaign, *, after_id: int, up_to_id: int, marketing: bool, set_based: bool) -> int:
    """One sub-range in its own transaction on this thread's own connection, closed afterwards."""
    try:
        with transaction.atomic():
            return _rows_insert(
                campaign, after_id=after_id, up_to_id=up_to_id, marketing=marketing, set_based=set_based
            )
    finally:
        connections.close_all()


def _sub_ranges_insert(campaign: Campaign, bounds: list[int], *, marketing: bool, set_based: bool) -> int:
    """Inserts (bounds[i], bounds[i + 1]] for each i at once, one thread and connection each."""
    inserted, errors = [], []

    def insert(after_id: int, up_to_id: int) -> None:
        try:
            inserted.append(
                _sub_range_insert(
                    campaign, after_id=after_id, up_to_id=up_to_id, marketing=marketing, set_based=set_based
                )
            )
        except Exception as err:  # re-raised below, in the materializer's thread
            errors.append(err)

    threads = [threading.Thread(target=insert, args=pair) for pair in itertools.pairwise(bounds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(inserted)


def _parallel_connections() -> int:
    # Other connections see only committed rows: inside a caller's transaction, this connection does it all.
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(settings.MATERIALIZE_CONNECTIONS, 1)


def _chunk_end(after_id: int, size: int) -> tuple[int | None, bool]:
    """(the id of the `size`-th contact after `after_id`, False), or (the last one, True); None when there is none."""
    ids = Contact.objects.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)
    end = ids[size - 1 : size].first()
    if end is not None:
        return end, False
    return Contact.objects.filter(id__gt=after_id).order_by("-id").values_list("id", flat=True).first(), True


def _chunk_bounds(after_id: int, size: int, parts: int) -> tuple[list[int], bool]:
    """[after_id, the last contact id of each of up to `parts` sub-ranges of the next `size` contacts], and
    whether they reach the last contact."""
    bounds, last = [after_id], False
    part = -(-size // parts)
    while not last and part * (len(bounds) - 1) < size:
        end, last = _chunk_end(bounds[-1], min(part, size - part * (len(bounds) - 1)))
        if end is None:
            break
        bounds.append(end)
    return bounds, last


def campaign_materialize(*, campaign_id: int, on_first_chunk=None) -> int:
    """Materialize the campaign's audience until done (or cancelled); returns rows inserted by this call.

    `on_first_chunk` runs once the first chunk is committed (the senders are started beside the materializer,
    not here; the crash-recovery test stops a materializer at that point).
    """
    inserted = 0
    chunk = settings.MATERIALIZE_FIRST_CHUNK
    first = True
    sub_ranges = _parallel_connections()
    set_based = _key_checks_set_based()
    while True:
        # Without SQLite's foreign-key checks (a lookup of each row's contact, campaign and sender, a tenth of a
        # launch): the INSERT … SELECT takes its contact ids from the contacts table and its campaign and sender
        # from the campaign row, read in the same transaction, which holds SQLite's one write lock from its
        # BEGIN IMMEDIATE to its commit, so no row they name can go in between. The pragma is per connection,
        # restored once the chunk commits or fails, and a no-op inside a caller's transaction (the checks stay
        # on); on PostgreSQL `constraint_checks_disabled` does nothing.
        with connection.constraint_checks_disabled(), transaction.atomic():
            # Only the campaign row: locking the joined sender number too would make every API send of that
            # number (its INSERT checks the number's key) wait for the whole chunk on PostgreSQL. FOR NO KEY
            # UPDATE, so that the sub-ranges' foreign-key checks (FOR KEY SHARE of this row) do not wait for it.
            campaign = (
                Campaign.objects.select_for_update(of=("self",), no_key=True)
                .select_related("sender")
                .get(pk=campaign_id)
            )
            if campaign.audience_materialized_at is not None or campaign.status not in MATERIALIZING:
                break
            now = timezone.now()
            template = campaign_template(campaign)
            marketing = template is None or template.category == TemplateCategory.MARKETING
            bounds, last = _chunk_bounds(campaign.audience_cursor, chunk, sub_ranges)
            if len(bounds) == 1:
                _finish(campaign, now)
                break
            if len(bounds) == 2:
                inserted += _rows_insert(
                    campaign, after_id=bounds[0], up_to_id=bounds[1], marketing=marketing, set_based=set_based
                )
            else:
                inserted += _sub_ranges_insert(campaign, bounds, marketing=marketing, set_based=set_based)
            # The lease with the cursor, in one UPDATE: other processes see it only once committed anyway.
            Campaign.objects.filter(pk=campaign_id).update(
                audience_cursor=bounds[-1], materializer_lease_until=now + timedelta(seconds=LEASE_SECONDS)
            )
        if first and on_first_chunk is not None:
            on_first_chunk(campaign)
        first = False
        chunk = settings.MATERIALIZE_CHUNK
        if not last and connection.vendor == "sqlite":
            time.sleep(SQLITE_WRITERS_TURN_SECONDS)
    if first and on_first_chunk is not None:
        on_first_chunk(Campaign.objects.get(pk=campaign_id))
    return inserted


def _finish(campaign: Campaign, now) -> None:
    size = Delivery.objects.filter(campaign=campaign).count()
    Campaign.objects.filter(pk=campaign.pk).update(
        audience_materialized_at=now, audience_size=size, materializer_lease_until=None, updated_at=now
    )
    # A paused or cancelled campaign keeps its status; a launching one starts running.
    Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.LAUNCHING).update(
        status=CampaignStatus.RUNNING, updated_at=now
    )
    logger.info("Campaign %s materialized: %s recipients", campaign.pk, size)
