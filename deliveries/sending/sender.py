"""The sender: one time-boxed run over one slot of one phone number (design.md decisions 1 to 6).

Loop: claim a batch of due rows → prepare them (consent, hygiene, template, parameters) → for each small
chunk: take rate tokens, record `attempted_at` and what is sent, hand the chunk to the thread pool → write
the answers in bulk as they come. Claiming the next batch overlaps with the requests in flight. After
SENDER_TIME_BOX_SECONDS the run stops claiming, waits for its requests, and the task re-enqueues itself
when work remains.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import ConsentKind, ConsentScope, ConsentSource, Contact
from contacts.services import contact_consent_record
from deliveries.models import Delivery, DeliveryStatus
from deliveries.sending import claiming
from deliveries.sending.preparation import Preparation, Prepared, batch_prepare
from deliveries.sending.rate_limit import bucket_for, chunk_size, tokens_acquire
from deliveries.sending.results import Outcome, Verdict, components_param, outcome_for_result, outcomes_write
from deliveries.sending.sql import is_postgresql, update_from_values
from wacampaigns.models import Campaign, CampaignStatus, PhoneNumber, SendingState
from wacampaigns.services import business_account_stop_sending, campaign_pause, campaigns_pause_for_template
from wacampaigns.whatsapp import payloads
from wacampaigns.whatsapp.client import CloudApiClient, shared_session
from wacampaigns.whatsapp.errors import CloudApiError, ContactFlag, GraphApiError, ThroughputLimitError

logger = logging.getLogger(__name__)
TABLE = Delivery._meta.db_table
# A claimed row is written back within this many seconds of its answer, at most.
RESULT_FLUSH_SECONDS = 0.2
STOP_CHECK_SECONDS = 0.25
# While a campaign batch goes out, due API and test sends are looked for this often, and go out before its rest.
TRANSACTIONAL_CHECK_SECONDS = 0.1
# Nothing claimable yet while a launch is adding rows: look again this soon (the first chunk is on its way).
LAUNCHING_POLL_SECONDS = 0.05


@dataclass
class RunReport:
    """What one sender run did (for logs, tests and the bench)."""

    claimed: int = 0
    sent: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    stopped_because: str = ""
    work_remains: bool = False


def client_for(phone_number: PhoneNumber) -> CloudApiClient:
    account = phone_number.business_account
    return CloudApiClient(
        base_url=account.graph_api_base_url,
        api_version=account.graph_api_version,
        access_token=account.access_token,
        phone_number_id=phone_number.phone_number_id,
        waba_id=account.waba_id,
        session=shared_session(max(settings.SENDER_THREADS, 32)),
        connect_timeout_seconds=settings.GRAPH_API_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds=settings.GRAPH_API_READ_TIMEOUT_SECONDS,
    )


def _send(client: CloudApiClient, prepared: Prepared):
    body = payloads.template_message(
        to=prepared.to,
        template_name=prepared.template_name,
        language_code=prepared.language,
        biz_opaque_callback_data=str(prepared.id),
    )
    if prepared.components:
        body["template"]["components"] = prepared.components
    try:
        return client.send_message(body)
    except CloudApiError as err:
        return err


def attempts_record(chunk: list[Prepared], *, token: uuid.UUID) -> set[int]:
    """Sets `attempted_at` and records exactly what is sent, before the HTTP calls; returns the ids still ours.

    A row the reaper took back in the meantime (this run was presumed dead) is not returned, so not sent.
    """
    now = timezone.now()
    rows = [
        (p.id, p.template.pk if p.template else None, p.template_name, p.language, p.to, components_param(p.components))
        for p in chunk
    ]
    returned = update_from_values(
        table=TABLE,
        columns=[
            ("id", "bigint"),
            ("template_id", "bigint"),
            ("template_name", "text"),
            ("language", "text"),
            ("recipient", "text"),
            ("parameters", "jsonb"),
        ],
        rows=rows,
        assignments=(
            "attempted_at = %s, attempts = t.attempts + 1, template_id = v.template_id, "
            "template_name = v.template_name, language = v.language, recipient = v.recipient, parameters = v.parameters"
        ),
        assignment_params=[now],
        where="t.status = 'sending' AND t.claim_token = %s",
        where_params=[token if is_postgresql() else token.hex],
        returning="t.id",
    )
    return {row[0] for row in returned}


class Sender:
    """One run of one slot of one phone number."""

    def __init__(self, *, phone_number_id: int, slot: int = 0, time_box_seconds: float | None = None):
        self.phone_number = PhoneNumber.objects.select_related("business_account").get(pk=phone_number_id)
        self.slot = slot
        self.token = uuid.uuid4()
        self.time_box = settings.SENDER_TIME_BOX_SECONDS if time_box_seconds is None else time_box_seconds
        self.report = RunReport()
        self._pending: dict[Future, Prepared] = {}
        # Finished requests, in the order they finish (each future puts itself here when done).
        self._finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self._done: list[Outcome] = []
        self._throttled = False
        self._last_flush = time.monotonic()
        self._stop_checked_at = 0.0
        self._transactional_checked_at = 0.0

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> RunReport:
        if not claiming.lease_acquire(phone_number_id=self.phone_number.pk, slot=self.slot, token=self.token):
            self.report.stopped_because = "slot held by a live sender"
            return self.report
        started = time.monotonic()
        self.deadline = started + self.time_box
        self.client = client_for(self.phone_number)
        self.bucket = bucket_for(self.phone_number)
        self.chunk = chunk_size(self.phone_number)
        try:
            with ThreadPoolExecutor(max_workers=settings.SENDER_THREADS, thread_name_prefix="sender") as pool:
                self.pool = pool
                self._loop()
                self._drain(block_until_empty=True)
        finally:
            claiming.lease_release(phone_number_id=self.phone_number.pk, slot=self.slot, token=self.token)
        # Checked after the slot is free: a row queued while this run was stopping (whose sender_start saw the
        # slot still held) is not left for the reaper.
        continues = self.report.stopped_because in ("time box", "no due rows")
        self.report.work_remains = continues and work_is_due(self.phone_number)
        return self.report

    def _loop(self) -> None:
        while True:
            if time.monotonic() >= self.deadline:
                self.report.stopped_because = "time box"
                return
            if not claiming.lease_renew(phone_number_id=self.phone_number.pk, slot=self.slot, token=self.token):
                self.report.stopped_because = "lease lost"
                return
            campaign_ids = claiming.claimable_campaign_ids(self.phone_number)
            ids = claiming.rows_claim(
                phone_number=self.phone_number,
                token=self.token,
                limit=settings.SENDER_BATCH_SIZE,
                campaign_ids=campaign_ids,
            )
            if not ids:
                self._drain(block_until_empty=False)
                if self._pending or self._launching(campaign_ids):
                    time.sleep(LAUNCHING_POLL_SECONDS)
                    continue
                self.report.stopped_because = "no due rows"
                return
            self.report.claimed += len(ids)
            if not self._send_batch(ids):
                return

    def _launching(self, campaign_ids: list[int]) -> bool:
        return Campaign.objects.filter(id__in=campaign_ids, status=CampaignStatus.LAUNCHING).exists()

    def _send_batch(self, ids: list[int]) -> bool:
        rows = list(
            Delivery.objects.filter(id__in=ids).select_related("contact", "template").order_by("priority", "id")
        )
        campaign_ids = {row.campaign_id for row in rows if row.campaign_id}
        campaigns = Campaign.objects.select_related("sender__business_account").in_bulk(campaign_ids)
        preparation = batch_prepare(rows, campaigns)
        preparation_write(preparation, token=self.token)
        ready = preparation.ready
        position = 0
        while position < len(ready):
            stop = self._must_stop(ready[position:])
            if stop:
                self.report.stopped_because = stop
                return False
            if not self._transactional_first(ready[position:]):
                return False
            granted = tokens_acquire(self.bucket, min(self.chunk, len(ready) - position), deadline=self.deadline + 5)
            if not granted:
                claiming.rows_release(ids=[p.id for p in ready[position:]], token=self.token)
                self.report.stopped_because = "time box"
                return False
            chunk = ready[position : position + granted]
            position += granted
            ours = attempts_record(chunk, token=self.token)
            for prepared in chunk:
                if prepared.id in ours:
                    future = self.pool.submit(_send, self.client, prepared)
                    self._pending[future] = prepared
                    future.add_done_callback(self._finished.put)
            # After a batch's last chunk the pool is left full: claiming and preparing the next batch outlasted
            # the requests that waiting for room leaves (threads sat idle at each batch at 0 ms latency).
            self._drain(block_until_empty=False, wait_for_room=position < len(ready))
        return True

    def _transactional_first(self, remaining: list[Prepared]) -> bool:
        """Sends due API and test sends before the rest of a campaign batch, so that they do not wait for the whole
        batch to go out. False when the run must stop (the rest of the batch is then handed back)."""
        if not any(p.campaign_id for p in remaining):
            return True
        if time.monotonic() - self._transactional_checked_at < TRANSACTIONAL_CHECK_SECONDS:
            return True
        self._transactional_checked_at = time.monotonic()
        if not claiming.transactional_due(self.phone_number):
            return True
        ids = claiming.rows_claim(
            phone_number=self.phone_number, token=self.token, limit=settings.SENDER_BATCH_SIZE, campaign_ids=[]
        )
        self.report.claimed += len(ids)
        if not ids or self._send_batch(ids):
            return True
        claiming.rows_release(ids=[p.id for p in remaining], token=self.token)
        return False

    def _must_stop(self, remaining: list[Prepared]) -> str:
        """Pause, cancel or a stopped account stop the run before the next chunk; unsent rows go back.

        Looked up at most every STOP_CHECK_SECONDS: a pause takes effect within that, plus the requests in flight.
        """
        if time.monotonic() - self._stop_checked_at < STOP_CHECK_SECONDS:
            return ""
        self._stop_checked_at = time.monotonic()
        # A slow batch (a low rate limit) must not outlive the slot's lease: renew it as the chunks go out.
        if not claiming.lease_renew(phone_number_id=self.phone_number.pk, slot=self.slot, token=self.token):
            claiming.rows_release(ids=[p.id for p in remaining], token=self.token)
            return "lease lost"
        campaign_ids = {p.campaign_id for p in remaining if p.campaign_id}
        active = PhoneNumber.objects.filter(
            pk=self.phone_number.pk, business_account__sending_state=SendingState.ACTIVE
        ).exists()
        stopped_campaigns = set(
            Campaign.objects.filter(id__in=campaign_ids)
            .exclude(status__in=claiming.CLAIMABLE_CAMPAIGN_STATUSES)
            .values_list("id", flat=True)
        )
        if active and not stopped_campaigns:
            return ""
        claiming.rows_release(ids=[p.id for p in remaining], token=self.token)
        return "account stopped" if not active else "campaign paused or cancelled"

    # --- results ----------------------------------------------------------------------------------

    def _drain(self, *, block_until_empty: bool, wait_for_room: bool = True) -> None:
        """Collects finished requests; writes their outcomes in bulk (now, or every RESULT_FLUSH_SECONDS).

        With `wait_for_room`, first waits until fewer than twice SENDER_THREADS requests are in flight.
        """
        in_flight_cap = settings.SENDER_THREADS * 2
        while self._pending:
            must_wait = block_until_empty or (wait_for_room and len(self._pending) >= in_flight_cap)
            try:
                future = self._finished.get(block=must_wait)
            except queue.Empty:
                break
            prepared = self._pending.pop(future)
            answer = future.result()
            self._done.append(outcome_for_result(prepared.id, answer, attempt=prepared.attempts + 1))
            if isinstance(answer, ThroughputLimitError):
                self._throttled = True
            if isinstance(answer, CloudApiError):
                self._handle_error_side_effects(prepared, answer)
        if self._done and (
            block_until_empty
            or time.monotonic() - self._last_flush >= RESULT_FLUSH_SECONDS
            or len(self._done) >= settings.SENDER_BATCH_SIZE
        ):
            self._flush()

    def _flush(self) -> None:
        outcomes, self._done = self._done, []
        self._last_flush = time.monotonic()
        if self._throttled:
            self.bucket.throttled()
            self._throttled = False
        outcomes_write(outcomes, token=self.token)
        for outcome in outcomes:
            self.report.outcomes[outcome.verdict] = self.report.outcomes.get(outcome.verdict, 0) + 1
            if outcome.verdict == Verdict.ACCEPTED:
                self.report.sent += 1

    def _handle_error_side_effects(self, prepared: Prepared, error: CloudApiError) -> None:
        """Template- and account-stopping errors stop what they stop; recipient facts go on the contact."""
        if not isinstance(error, GraphApiError):
            return
        account = self.phone_number.business_account
        if error.error_class == "account":
            business_account_stop_sending(business_account=account, reason=f"Meta error {error}")
        elif error.error_class == "template":
            reason = f"Template {prepared.template_name} [{prepared.language}] stopped by Meta: {error}"
            paused = campaigns_pause_for_template(
                business_account=account,
                template_name=prepared.template_name,
                language=prepared.language,
                reason=reason,
            )
            if prepared.campaign_id and not paused and prepared.language:
                # Not the fallback language: only recipients of this version wait (preparation holds them).
                logger.warning("%s (recipients of this language wait)", reason)
            if paused:
                transaction.on_commit(lambda: mail_admins(f"Campaign paused: {reason}", reason, fail_silently=True))
        elif error.contact_flag is not None:
            _contact_flag(prepared.id, error)


def _contact_flag(delivery_id: int, error: GraphApiError) -> None:
    contact = Contact.objects.filter(deliveries__id=delivery_id).first()
    if contact is None:
        return
    if error.contact_flag == ContactFlag.UNDELIVERABLE:
        contact_consent_record(
            contact=contact,
            kind=ConsentKind.OPT_OUT,
            scope=ConsentScope.ALL,
            source=ConsentSource.UNDELIVERABLE,
            evidence=f"Meta error {error}",
        )
    elif error.contact_flag == ContactFlag.STOPPED_MARKETING:
        contact_consent_record(
            contact=contact,
            kind=ConsentKind.OPT_OUT,
            scope=ConsentScope.MARKETING,
            source=ConsentSource.META_PREFERENCE,
            evidence=f"Meta error {error}",
        )


def preparation_write(preparation: Preparation, *, token: uuid.UUID) -> None:
    """Skipped rows become terminal, waiting rows go back with their `not_before`, paused campaigns pause."""
    now = timezone.now()
    for reason in {reason for _, reason, _ in preparation.skipped}:
        for details in {d for _, r, d in preparation.skipped if r == reason}:
            ids = [i for i, r, d in preparation.skipped if r == reason and d == details]
            Delivery.objects.filter(id__in=ids, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.SKIPPED,
                skip_reason=reason,
                skip_details=details,
                finished_at=now,
                claim_token=None,
            )
    for not_before in {nb for _, nb in preparation.waiting}:
        claiming.rows_release(
            ids=[i for i, nb in preparation.waiting if nb == not_before], token=token, not_before=not_before
        )
    for campaign_id, reason in preparation.paused_campaigns.items():
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign_pause(campaign=campaign, reason=reason):
            transaction.on_commit(lambda r=reason: mail_admins(f"Campaign paused: {r}", r, fail_silently=True))
    claiming.rows_release(ids=preparation.released, token=token)


def work_is_due(phone_number: PhoneNumber) -> bool:
    """Whether rows of this number can be claimed now (or a launch is still adding rows)."""
    now = timezone.now()
    campaigns = claiming.claimable_campaign_ids(phone_number)
    if Campaign.objects.filter(id__in=campaigns, status=CampaignStatus.LAUNCHING).exists():
        return True
    due = Delivery.objects.filter(sender=phone_number, status=DeliveryStatus.QUEUED, not_before__lte=now)
    return due.filter(Q(campaign__isnull=True) | Q(campaign_id__in=campaigns)).exists()
