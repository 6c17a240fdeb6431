"""Claiming, retries, throttling, the reaper, ambiguous rows, completion and operator controls."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from deliveries.analytics.counters import campaign_numbers, counter_rows, counter_rows_counted, counter_rows_normalized
from deliveries.analytics.triggers import analytics_triggers_ensure
from deliveries.models import Delivery, DeliveryStatus, SenderLease, SenderRateState, SkipReason, WebhookEvent
from deliveries.sending import claiming, maintenance, materialization
from deliveries.sending.materialization import campaign_materialize
from deliveries.sending.rate_limit import DatabaseBucket
from deliveries.sending.results import Outcome, Verdict, outcomes_write
from deliveries.sending.sender import Sender
from tests import factories
from tests.e2e.processes import wait_until
from wacampaigns.models import CampaignStatus
from wacampaigns.selectors import campaign_eligible_contacts
from wacampaigns.services import (
    CampaignActionRefused,
    campaign_cancel,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_retry_failed,
)

pytestmark = pytest.mark.django_db


def launched(campaign):
    campaign_launch(campaign=campaign)
    campaign_materialize(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def test_launch_returns_at_once_and_materialization_resumes_from_its_cursor(campaign_for, settings):
    settings.MATERIALIZE_FIRST_CHUNK = 2
    settings.MATERIALIZE_CHUNK = 2
    campaign = campaign_for(contacts=5)
    campaign_launch(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.LAUNCHING
    assert campaign.deliveries.count() == 0

    def worker_dies(campaign):
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        # A crash after the first committed chunk…
        campaign_materialize(campaign_id=campaign.pk, on_first_chunk=worker_dies)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.LAUNCHING
    assert campaign.deliveries.count() == 2
    # …resumes after the cursor; nothing is inserted twice.
    campaign_materialize(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.audience_size == 5
    assert campaign.deliveries.values("contact").distinct().count() == 5


def test_a_materialized_campaign_s_counters_equal_a_fresh_count(campaign_for, settings):
    settings.MATERIALIZE_FIRST_CHUNK = 2
    settings.MATERIALIZE_CHUNK = 2
    campaign = campaign_for(contacts=5)
    audience = list(campaign_eligible_contacts(campaign, marketing=True).order_by("id"))
    # A row already there: its contact's INSERT conflicts and is not counted twice.
    factories.delivery(campaign=campaign, contact=audience[2])
    launched(campaign)
    # A row inserted another way afterwards is counted by the trigger.
    factories.delivery(campaign=campaign, status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.FREQUENCY_CAP)

    stored = counter_rows_normalized(counter_rows(campaign_ids=[campaign.pk])[campaign.pk])
    assert stored == counter_rows_normalized(counter_rows_counted(campaign_id=campaign.pk))
    numbers = campaign_numbers(stored.items())
    assert (numbers.targeted, numbers.in_flight, numbers.skipped) == (6, 5, 1)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_that_fails_leaves_the_counting_triggers_in_place(campaign_for, monkeypatch):
    campaign = campaign_for(contacts=3)
    campaign_launch(campaign=campaign)
    monkeypatch.setattr(
        materialization,
        "_insert_sql",
        lambda *args, **kwargs: ("INSERT INTO deliveries_delivery (status) SELECT 'lost'", []),
    )
    with pytest.raises(IntegrityError):
        campaign_materialize(campaign_id=campaign.pk)
    monkeypatch.undo()

    assert not analytics_triggers_ensure(connection)  # every trigger is there: nothing to put back
    factories.delivery(campaign=campaign)
    campaign_materialize(campaign_id=campaign.pk)
    stored = counter_rows_normalized(counter_rows(campaign_ids=[campaign.pk])[campaign.pk])
    assert stored == counter_rows_normalized(counter_rows_counted(campaign_id=campaign.pk))
    assert campaign_numbers(stored.items()).targeted == 4


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's per-connection foreign-key pragma")
@pytest.mark.django_db(transaction=True)
def test_a_chunk_runs_without_foreign_key_checks_and_they_are_back_after_it_fails_or_commits(campaign_for, monkeypatch):
    campaign = campaign_for(contacts=3)
    campaign_launch(campaign=campaign)
    insert = materialization.queued_rows_insert
    seen = []

    def foreign_keys_on() -> bool:
        with connection.cursor() as cursor:
            return bool(cursor.execute("PRAGMA foreign_keys").fetchone()[0])

    def insert_that_fails(*args, **kwargs):
        seen.append(foreign_keys_on())
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(materialization, "queued_rows_insert", insert_that_fails)
    with pytest.raises(OperationalError):
        campaign_materialize(campaign_id=campaign.pk)
    assert (seen, foreign_keys_on()) == ([False], True)
    assert campaign.deliveries.count() == 0

    monkeypatch.setattr(materialization, "queued_rows_insert", insert)
    campaign_materialize(campaign_id=campaign.pk)
    assert foreign_keys_on()
    assert campaign.deliveries.count() == 3


def test_a_range_with_rows_already_inserted_is_completed_not_duplicated(campaign_for, phone_number):
    campaign = campaign_for(contacts=5)
    campaign_launch(campaign=campaign)
    # What a crash leaves behind on PostgreSQL: a sub-range committed, the cursor still before it.
    already = campaign.include_tags.get().contacts.order_by("id")[3]
    factories.delivery(campaign=campaign, contact=already, recipient=already.phone)

    assert campaign_materialize(campaign_id=campaign.pk) == 4
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.audience_size == 5
    assert campaign.deliveries.values("contact").distinct().count() == 5


def audience_ids(campaign) -> list[int]:
    return sorted(campaign.include_tags.get().contacts.values_list("id", flat=True))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="sub-ranges on parallel connections (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_parallel_sub_ranges_insert_the_audience_exactly_once(campaign_for, settings, monkeypatch):
    settings.MATERIALIZE_FIRST_CHUNK = 4
    settings.MATERIALIZE_CHUNK = 7
    settings.MATERIALIZE_CONNECTIONS = 3
    factories.contact()  # not in the audience, inside a chunk's range
    campaign = campaign_for(contacts=17)
    factories.contact()
    sub_range_insert, connections_used = materialization._sub_range_insert, set()

    def recorded(*args, **kwargs):
        connection.ensure_connection()
        connections_used.add(connection.connection.info.backend_pid)
        return sub_range_insert(*args, **kwargs)

    monkeypatch.setattr(materialization, "_sub_range_insert", recorded)
    campaign_launch(campaign=campaign)
    assert campaign_materialize(campaign_id=campaign.pk) == 17

    campaign.refresh_from_db()
    assert len(connections_used) > 1
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.audience_size == 17
    assert sorted(campaign.deliveries.values_list("contact_id", flat=True)) == audience_ids(campaign)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="sub-ranges on parallel connections (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_a_crash_between_sub_ranges_resumes_with_the_chunk(campaign_for, settings, monkeypatch):
    settings.MATERIALIZE_FIRST_CHUNK = 4
    settings.MATERIALIZE_CHUNK = 8
    settings.MATERIALIZE_CONNECTIONS = 2
    campaign = campaign_for(contacts=20)
    ids = audience_ids(campaign)
    sub_range_insert = materialization._sub_range_insert

    def second_half_of_the_second_chunk_dies(campaign, *, after_id, up_to_id, **kwargs):
        if after_id == ids[7]:
            raise RuntimeError("worker died")
        return sub_range_insert(campaign, after_id=after_id, up_to_id=up_to_id, **kwargs)

    monkeypatch.setattr(materialization, "_sub_range_insert", second_half_of_the_second_chunk_dies)
    campaign_launch(campaign=campaign)
    with pytest.raises(RuntimeError, match="worker died"):
        campaign_materialize(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    # The first chunk's two sub-ranges and the second chunk's first one are committed; the cursor is behind.
    assert campaign.audience_cursor == ids[3]
    assert sorted(campaign.deliveries.values_list("contact_id", flat=True)) == ids[:8]

    monkeypatch.setattr(materialization, "_sub_range_insert", sub_range_insert)
    assert campaign_materialize(campaign_id=campaign.pk) == 12
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert campaign.audience_size == 20
    assert sorted(campaign.deliveries.values_list("contact_id", flat=True)) == ids


def test_launch_is_refused_when_the_template_is_not_approved(campaign_for, spring_sale):
    campaign = campaign_for(contacts=1)
    spring_sale.status = "PAUSED"
    spring_sale.save()
    with pytest.raises(CampaignActionRefused, match="not approved"):
        campaign_launch(campaign=campaign)


def test_concurrent_claims_take_disjoint_rows_transactional_first(campaign_for, phone_number):
    campaign = launched(campaign_for(contacts=6))
    api_row = factories.delivery(
        sender=phone_number,
        priority=0,
        recipient="+34600000001",
        parameters=[],
        template_name="hello_world",
        language="en_US",
        contact=None,
    )
    campaigns = claiming.claimable_campaign_ids(phone_number)
    first = claiming.rows_claim(phone_number=phone_number, token=uuid.uuid4(), limit=4, campaign_ids=campaigns)
    second = claiming.rows_claim(phone_number=phone_number, token=uuid.uuid4(), limit=4, campaign_ids=campaigns)
    assert first[0] == api_row.pk
    assert set(first).isdisjoint(second)
    assert len(first) + len(second) == 7
    assert Delivery.objects.filter(status=DeliveryStatus.SENDING).count() == 7
    assert campaign.deliveries.filter(status=DeliveryStatus.QUEUED).count() == 0


def test_server_errors_are_retried_later_and_throttling_slows_the_bucket(start_simulator, campaign_for, settings):
    simulator = start_simulator(http_500_share=1.0)
    settings.SENDER_MAX_ATTEMPTS = 3
    campaign = campaign_for(contacts=3)
    campaign.sender.business_account.graph_api_base_url = simulator.base_url
    campaign.sender.business_account.save()
    campaign = launched(campaign)
    Sender(phone_number_id=campaign.sender_id).run()
    rows = list(campaign.deliveries.all())
    assert all(r.status == DeliveryStatus.QUEUED and r.not_before > timezone.now() for r in rows)
    assert all(r.attempts == 1 and r.error_code is not None and r.attempted_at is None for r in rows)

    simulator.configure(http_500_share=0.0, throughput_per_second=1.0, throughput_burst=1.0)
    Delivery.objects.update(not_before=timezone.now())
    Sender(phone_number_id=campaign.sender_id, time_box_seconds=1).run()
    assert SenderRateState.objects.get(phone_number=campaign.sender).throttled_count >= 1
    assert campaign.deliveries.filter(status=DeliveryStatus.ACCEPTED).count() >= 1
    assert len(simulator.messages()) == campaign.deliveries.filter(status=DeliveryStatus.ACCEPTED).count()


def test_read_timeouts_make_rows_ambiguous_never_resent_before_proof(start_simulator, campaign_for, settings):
    settings.GRAPH_API_READ_TIMEOUT_SECONDS = 0.3
    simulator = start_simulator(timeout_after_accept_share=1.0, timeout_hang_ms=1000)
    campaign = campaign_for(contacts=2)
    campaign.sender.business_account.graph_api_base_url = simulator.base_url
    campaign.sender.business_account.save()
    campaign = launched(campaign)
    Sender(phone_number_id=campaign.sender_id).run()
    assert campaign.deliveries.filter(status=DeliveryStatus.AMBIGUOUS).count() == 2
    assert len(simulator.messages()) == 2

    settings.AMBIGUOUS_GRACE_SECONDS = 0
    # Grace passed but no webhook proves the pipeline works: they wait.
    assert maintenance.ambiguous_rows_resolve() == 0
    # A later send of the same number was reported by a webhook: silence now means "never accepted".
    factories.delivery(
        sender=campaign.sender,
        status=DeliveryStatus.DELIVERED,
        wamid="wamid.later",
        accepted_at=timezone.now() + timedelta(seconds=1),
    )
    # A webhook received but not processed yet may name them: they wait for it.
    pending = WebhookEvent.objects.create(raw_body="{}", signature_valid=True)
    assert maintenance.ambiguous_rows_resolve() == 0
    pending.state, pending.processed_at = "processed", timezone.now()
    pending.save()
    assert maintenance.ambiguous_rows_resolve() == 2
    assert campaign.deliveries.filter(status=DeliveryStatus.QUEUED, attempted_at__isnull=True).count() == 2


def test_ambiguous_rows_of_a_cancelled_campaign_end_cancelled_not_queued(campaign_for, settings):
    settings.AMBIGUOUS_GRACE_SECONDS = 0
    campaign = campaign_for(contacts=1)
    attempted = timezone.now() - timedelta(minutes=5)
    row = factories.delivery(campaign=campaign, status=DeliveryStatus.AMBIGUOUS, attempted_at=attempted)
    factories.delivery(
        sender=campaign.sender, status=DeliveryStatus.DELIVERED, wamid="wamid.later", accepted_at=timezone.now()
    )
    campaign.status, campaign.launched_at = CampaignStatus.CANCELLED, attempted
    campaign.save()

    assert maintenance.ambiguous_rows_resolve() == 0
    row.refresh_from_db()
    assert row.status == DeliveryStatus.CANCELLED


def test_the_reaper_recovers_claims_of_dead_senders(campaign_for):
    campaign = launched(campaign_for(contacts=4))
    dead = uuid.uuid4()
    ids = claiming.rows_claim(phone_number=campaign.sender, token=dead, limit=4, campaign_ids=[campaign.pk])
    Delivery.objects.filter(id__in=ids[:2]).update(attempted_at=timezone.now())
    Delivery.objects.filter(id__in=ids).update(claimed_at=timezone.now() - timedelta(seconds=30))
    live = uuid.uuid4()
    SenderLease.objects.create(
        phone_number=campaign.sender, slot=0, holder=live, expires_at=timezone.now() + timedelta(seconds=60)
    )
    assert maintenance.stale_claims_recover() == (2, 2)
    assert campaign.deliveries.filter(status=DeliveryStatus.AMBIGUOUS).count() == 2
    assert campaign.deliveries.filter(status=DeliveryStatus.QUEUED).count() == 2


def test_the_reaper_restarts_senders_for_due_work(campaign_for, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 8}
    campaign = launched(campaign_for(contacts=2, concurrency=3))
    slots = maintenance.sender_slots_to_start()
    assert sorted(s.slot for s in slots) == [0, 1, 2]
    SenderLease.objects.create(
        phone_number=campaign.sender, slot=1, holder=uuid.uuid4(), expires_at=timezone.now() + timedelta(seconds=60)
    )
    assert sorted(s.slot for s in maintenance.sender_slots_to_start()) == [0, 2]


def test_completed_only_when_nothing_is_queued_sending_or_ambiguous(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=2))
    assert maintenance.campaigns_complete() == []
    Sender(phone_number_id=campaign.sender_id).run()
    campaign.deliveries.filter(pk=campaign.deliveries.first().pk).update(status=DeliveryStatus.AMBIGUOUS)
    assert maintenance.campaigns_complete() == []
    campaign.deliveries.update(status=DeliveryStatus.SENT)
    assert maintenance.campaigns_complete() == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


def test_pause_resume_cancel_and_retry_failed(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=4))
    campaign_pause(campaign=campaign, reason="staff")
    assert Sender(phone_number_id=campaign.sender_id).run().claimed == 0
    campaign_resume(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING

    rows = list(campaign.deliveries.order_by("id"))
    Delivery.objects.filter(pk=rows[0].pk).update(
        status=DeliveryStatus.FAILED, error_class="retryable", error_code=131000, failed_at=timezone.now()
    )
    Delivery.objects.filter(pk=rows[1].pk).update(
        status=DeliveryStatus.FAILED, error_class="retryable", error_code=131049, failed_at=timezone.now()
    )
    Delivery.objects.filter(pk=rows[2].pk).update(
        status=DeliveryStatus.FAILED, error_class="recipient", error_code=131026, failed_at=timezone.now()
    )
    assert campaign_retry_failed(campaign=campaign) == 1
    assert Delivery.objects.get(pk=rows[0].pk).status == DeliveryStatus.QUEUED
    Delivery.objects.filter(pk=rows[1].pk).update(failed_at=timezone.now() - timedelta(hours=25))
    assert campaign_retry_failed(campaign=campaign) == 1

    assert campaign_cancel(campaign=campaign) == 3
    assert not campaign.deliveries.filter(status=DeliveryStatus.QUEUED).exists()
    assert Sender(phone_number_id=campaign.sender_id).run().claimed == 0


def test_a_stopped_account_sends_nothing(simulator, campaign_for):
    campaign = launched(campaign_for(contacts=2))
    account = campaign.sender.business_account
    account.sending_state, account.stop_reason = "stopped", "token expired"
    account.save()
    assert Sender(phone_number_id=campaign.sender_id).run().claimed == 0
    assert simulator.messages() == []


def test_the_database_bucket_is_shared(phone_number):
    first, second = DatabaseBucket(phone_number), DatabaseBucket(phone_number)
    SenderRateState.objects.filter(phone_number=phone_number).update(tokens=10, refilled_at=0)
    taken = first.take(1000).granted + second.take(1000).granted
    assert taken <= phone_number.throughput_limit * 0.97 * 0.1 + 1
    assert first.throttled() == pytest.approx(phone_number.throughput_limit * 0.97 * 0.5)
    assert SenderRateState.objects.get(phone_number=phone_number).throttled_count == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks of concurrent writers (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_a_materialization_chunk_does_not_hold_api_sends_of_its_sender(campaign_for, phone_number, monkeypatch):
    campaign = campaign_for(contacts=3)
    campaign_launch(campaign=campaign)
    chunk_end = materialization._chunk_end
    probes = []

    def api_send_during_the_chunk():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # An API send that waits on a lock the chunk holds (its foreign keys are checked at commit) fails
                # instead of waiting for the chunk's commit.
                cursor.execute("SET LOCAL lock_timeout = '500ms'")
                row = factories.delivery(
                    sender=phone_number, priority=0, recipient="+34600000001", parameters=[], contact=None
                )
            probes.append(row.pk)
        except OperationalError as err:
            probes.append(err)
        finally:
            connection.close()

    def chunk_end_with_an_api_send(*args, **kwargs):
        if not probes:
            thread = threading.Thread(target=api_send_during_the_chunk)
            thread.start()
            thread.join()
        return chunk_end(*args, **kwargs)

    monkeypatch.setattr(materialization, "_chunk_end", chunk_end_with_an_api_send)
    campaign_materialize(campaign_id=campaign.pk)

    assert len(probes) == 1
    assert isinstance(probes[0], int), probes
    assert Delivery.objects.filter(pk=probes[0], campaign__isnull=True, status=DeliveryStatus.QUEUED).exists()
    assert campaign.deliveries.count() == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="deadlocks of concurrent writers (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_outcomes_deadlocked_by_a_status_merge_are_written_again(phone_number, caplog):
    token, now = uuid.uuid4(), timezone.now()
    accepted, failed = (
        factories.delivery(
            sender=phone_number, status=DeliveryStatus.SENDING, claim_token=token, claimed_at=now, attempted_at=now
        )
        for _ in range(2)
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        writer_pid = cursor.fetchone()[0]
    merge_holds_failed_row = threading.Event()

    def status_merge():
        """Locks the failed row, then (once the outcome write waits for it) the accepted one the write holds."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '10s'")  # the outcome write is the one aborted
                cursor.execute("UPDATE deliveries_delivery SET sent_at = now() WHERE id = %s", [failed.pk])
                merge_holds_failed_row.set()
                wait_until(
                    lambda: _waits_on_a_lock(cursor, writer_pid), timeout=10, what="the write to wait", interval=0.01
                )
                cursor.execute("UPDATE deliveries_delivery SET sent_at = now() WHERE id = %s", [accepted.pk])
        finally:
            connection.close()

    merge = threading.Thread(target=status_merge)
    merge.start()
    assert merge_holds_failed_row.wait(timeout=10)
    with connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '100ms'")
    try:
        # The accepted row is updated first (one UPDATE per kind, accepted first), then the write waits for the other.
        outcomes_write(
            [Outcome(accepted.pk, Verdict.ACCEPTED, wamid="wamid.accepted"), Outcome(failed.pk, Verdict.FAILED)],
            token=token,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET deadlock_timeout")
        merge.join(timeout=20)

    assert "deadlocked" in caplog.text
    accepted.refresh_from_db()
    failed.refresh_from_db()
    assert (accepted.status, accepted.wamid, accepted.sent_at is not None) == (
        DeliveryStatus.ACCEPTED,
        "wamid.accepted",
        True,
    )
    assert (failed.status, failed.failed_at is not None, failed.sent_at is not None) == (
        DeliveryStatus.FAILED,
        True,
        True,
    )


def _waits_on_a_lock(cursor, pid: int) -> bool:
    cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
    return cursor.fetchone() is not None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's session_replication_role")
@pytest.mark.django_db
def test_set_based_key_checks_only_for_a_role_that_may_set_the_replication_role(campaign_for):
    campaign = campaign_for(contacts=3)
    assert materialization._key_checks_set_based()  # the tests' server runs as a superuser
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE wacampaigns_unprivileged")
        cursor.execute("SET LOCAL ROLE wacampaigns_unprivileged")
        assert not materialization._key_checks_set_based()
        cursor.execute("RESET ROLE")
    campaign_launch(campaign=campaign)
    campaign_materialize(campaign_id=campaign.pk)
    assert campaign.deliveries.count() == 3
    # The analytics trigger did not fire for the chunk: its one upsert counted the rows, once.
    stored = counter_rows_normalized(counter_rows(campaign_ids=[campaign.pk])[campaign.pk])
    assert stored == counter_rows_normalized(counter_rows_counted(campaign_id=campaign.pk))
    assert campaign_numbers(stored.items()).targeted == 3
    # After the chunk the transaction's later writes have their foreign keys checked again.
    row = campaign.deliveries.first()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE deliveries_delivery SET contact_id = %s WHERE id = %s", [10**12, row.pk])
        with pytest.raises(IntegrityError):
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)
