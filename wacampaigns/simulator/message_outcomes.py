"""What happens to an accepted message after the 200: its statuses, failures and the user's reply.

Every accepted send draws the same fixed number of random values (DRAWS_PER_MESSAGE) from the seeded
generator, whatever its outcome, so the same seed and the same request sequence give the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .config import SimulatorConfig
from .graph_errors import webhook_error
from .state import UserIdentity
from .webhook_dispatcher import WebhookJob
from .webhook_payloads import MessageStatuses, inbound_message, inbound_message_value, messages_envelope

DRAWS_PER_MESSAGE = 15
# Draw positions: 0 outcome, 1 read, 2 out of order, 3-7 duplicates, 8-12 drops (per webhook slot),
# 13 paced, 14 bad feedback on a paced message.
DRAW_PACED = 13
DRAW_PACED_FAILS = 14
_STATUS_SLOTS = 5

FAILURE_DETAILS = {
    131026: "Message failed to send because the recipient is not a valid WhatsApp user.",
    131047: "Message failed to send because more than 24 hours have passed since the customer last replied to "
    "this number.",
    131049: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
    "WhatsApp from your business.",
    131053: "Downloading the media of the header failed: the media id was never uploaded to this number.",
    132015: "The template is paused because of low quality, so held messages that use it were not sent.",
}


@dataclass(slots=True)
class AcceptedMessage:
    """The facts about an accepted send that decide its webhooks."""

    wamid: str
    phone_number_id: str
    display_phone_number: str
    wa_id: str
    number_is_valid: bool
    category: str | None
    quick_reply_text: str | None
    biz_opaque_callback_data: str | None
    paced: bool
    user: UserIdentity
    forced_failure: int | None = None


@dataclass(slots=True)
class OutcomePlan:
    """The webhook jobs to schedule, the inbound replies (which open the service window) and a label."""

    outcome: str
    jobs: list[tuple[float, WebhookJob]] = field(default_factory=list)
    inbound_at: list[float] = field(default_factory=list)
    dropped: int = 0


def choose_outcome(config: SimulatorConfig, message: AcceptedMessage, draw: float) -> str:
    """Pick failed:<code>, reply_text, reply_stop, button_tap or delivered from one uniform draw."""
    if message.forced_failure is not None:
        return f"failed:{message.forced_failure}"
    if not message.number_is_valid:
        return "failed:131026"
    marketing = message.category == "MARKETING"
    threshold = config.fail_131026_share
    if draw < threshold:
        return "failed:131026" if message.category is not None else "delivered"
    threshold += config.fail_131049_share
    if draw < threshold:
        return "failed:131049" if marketing else "delivered"
    threshold += config.fail_131050_share
    if draw < threshold:
        return "failed:131050" if marketing else "delivered"
    threshold += config.reply_text_share
    if draw < threshold:
        return "reply_text"
    threshold += config.reply_stop_share
    if draw < threshold:
        return "reply_stop"
    threshold += config.button_tap_share
    if draw < threshold:
        return "button_tap" if message.quick_reply_text is not None else "delivered"
    return "delivered"


def plan_outcome(
    config: SimulatorConfig,
    message: AcceptedMessage,
    draws: list[float],
    *,
    now: float,
    wall_now: float,
    reply_wamid: Callable[[], str],
) -> OutcomePlan:
    """Turn the draws into timed webhook jobs (monotonic due times, wall-clock timestamps)."""
    outcome = choose_outcome(config, message, draws[0])
    base_ms = config.paced_release_ms if message.paced else 0.0
    if outcome[0] == "f":  # failed:<code>
        code = int(outcome[7:])
        events = [(base_ms + config.sent_delay_ms, "failed", code)]
    else:
        events = [
            (base_ms + config.sent_delay_ms, "sent", None),
            (base_ms + config.delivered_delay_ms, "delivered", None),
        ]
        if outcome != "delivered" or draws[1] < config.read_share:
            events.append((base_ms + config.read_delay_ms, "read", None))
        if not events[0][0] <= events[1][0] <= events[-1][0]:
            events.sort(key=lambda event: event[0])
    plan = OutcomePlan(outcome)
    due_offsets = [event[0] for event in events]
    if len(events) > 1 and draws[2] < config.webhook_out_of_order_share:
        due_offsets.reverse()
    statuses = MessageStatuses(
        wamid=message.wamid,
        recipient_id=message.wa_id,
        biz_opaque_callback_data=message.biz_opaque_callback_data,
        pricing_category=(message.category or "service").lower(),
        recipient_user_id=message.user.user_id,
    )
    drop_share, duplicate_share = config.webhook_drop_share, config.webhook_duplicate_share
    jobs = plan.jobs
    for slot, (offset_ms, status, code) in enumerate(events):
        if drop_share and draws[8 + slot % _STATUS_SLOTS] < drop_share:
            plan.dropped += 1
            continue
        item = statuses.item(
            status,
            int(wall_now + offset_ms / 1000),
            priced=status in ("sent", "delivered"),
            errors=[webhook_error(code, FAILURE_DETAILS.get(code, ""))] if code else None,
        )
        job = WebhookJob(
            phone_number_id=message.phone_number_id,
            status=item,
            duplicate=bool(duplicate_share) and draws[3 + slot % _STATUS_SLOTS] < duplicate_share,
        )
        jobs.append((now + due_offsets[slot] / 1000, job))
    if outcome in ("reply_text", "reply_stop", "button_tap"):
        reply_ms = base_ms + max(config.reply_delay_ms, config.read_delay_ms)
        context = (message.display_phone_number, message.wamid)
        user = message.user
        inbound = inbound_message(
            wamid=reply_wamid(),
            wa_id=user.wa_id,
            timestamp=int(wall_now + reply_ms / 1000),
            text=config.reply_text if outcome == "reply_text" else config.stop_text,
            button=(message.quick_reply_text, message.quick_reply_text) if outcome == "button_tap" else None,
            context=context,
            from_user_id=user.user_id,
        )
        document = messages_envelope(
            config.waba_id,
            message.phone_number_id,
            message.display_phone_number,
            inbound_message_value(
                wa_id=user.wa_id,
                profile_name=f"Customer {message.wa_id[-4:]}",
                message=inbound,
                user_id=user.user_id,
                username=user.username,
            ),
        )
        due = now + reply_ms / 1000
        duplicate = draws[3 + len(events) % _STATUS_SLOTS] < duplicate_share
        jobs.append((due, WebhookJob(phone_number_id=message.phone_number_id, document=document, duplicate=duplicate)))
        plan.inbound_at.append(due)
    return plan
