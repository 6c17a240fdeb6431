"""What happens to an accepted message after the 200: its statuses, failures and the user's reply.

Every accepted send draws the same fixed number of random values (DRAWS_PER_MESSAGE) from the seeded
generator, whatever its outcome, so the same seed and the same request sequence give the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import SimulatorConfig
from .graph_errors import webhook_error
from .webhook_dispatcher import WebhookJob
from .webhook_payloads import inbound_message, inbound_message_value, messages_envelope, status_item

DRAWS_PER_MESSAGE = 14
_STATUS_SLOTS = 5

FAILURE_DETAILS = {
    131026: "Message failed to send because the recipient is not a valid WhatsApp user.",
    131047: "Message failed to send because more than 24 hours have passed since the customer last replied to "
    "this number.",
    131049: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on "
    "WhatsApp from your business.",
}


@dataclass
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
    forced_failure: int | None = None


@dataclass
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
    choices = (
        ("failed:131026", config.fail_131026_share, message.category is not None),
        ("failed:131049", config.fail_131049_share, marketing),
        ("failed:131050", config.fail_131050_share, marketing),
        ("reply_text", config.reply_text_share, True),
        ("reply_stop", config.reply_stop_share, True),
        ("button_tap", config.button_tap_share, message.quick_reply_text is not None),
    )
    threshold = 0.0
    for outcome, share, applicable in choices:
        threshold += share
        if draw < threshold:
            return outcome if applicable else "delivered"
    return "delivered"


def plan_outcome(
    config: SimulatorConfig,
    message: AcceptedMessage,
    draws: list[float],
    *,
    now: float,
    wall_now: float,
    reply_wamid: str,
) -> OutcomePlan:
    """Turn the draws into timed webhook jobs (monotonic due times, wall-clock timestamps)."""
    outcome = choose_outcome(config, message, draws[0])
    base_ms = config.paced_release_ms if message.paced else 0.0
    pricing_category = (message.category or "service").lower()
    events: list[tuple[float, str, dict | None]] = []  # (offset ms, status, errors)
    if outcome.startswith("failed:"):
        code = int(outcome.split(":")[1])
        events.append((base_ms + config.sent_delay_ms, "failed", code))
    else:
        events.append((base_ms + config.sent_delay_ms, "sent", None))
        events.append((base_ms + config.delivered_delay_ms, "delivered", None))
        if outcome != "delivered" or draws[1] < config.read_share:
            events.append((base_ms + config.read_delay_ms, "read", None))
    plan = OutcomePlan(outcome)
    true_order = sorted(events, key=lambda event: event[0])
    due_offsets = [event[0] for event in true_order]
    if len(true_order) > 1 and draws[2] < config.webhook_out_of_order_share:
        due_offsets.reverse()
    for slot, ((offset_ms, status, code), due_ms) in enumerate(zip(true_order, due_offsets, strict=True)):
        if draws[8 + slot % _STATUS_SLOTS] < config.webhook_drop_share:
            plan.dropped += 1
            continue
        item = status_item(
            wamid=message.wamid,
            status=status,
            timestamp=int(wall_now + offset_ms / 1000),
            recipient_id=message.wa_id,
            biz_opaque_callback_data=message.biz_opaque_callback_data,
            pricing_category=pricing_category if status in ("sent", "delivered") else None,
            errors=[webhook_error(code, FAILURE_DETAILS.get(code, ""))] if code else None,
        )
        job = WebhookJob(
            phone_number_id=message.phone_number_id,
            status=item,
            duplicate=draws[3 + slot % _STATUS_SLOTS] < config.webhook_duplicate_share,
        )
        plan.jobs.append((now + due_ms / 1000, job))
    if outcome in ("reply_text", "reply_stop", "button_tap"):
        reply_ms = base_ms + max(config.reply_delay_ms, config.read_delay_ms)
        context = (message.display_phone_number, message.wamid)
        inbound = inbound_message(
            wamid=reply_wamid,
            wa_id=message.wa_id,
            timestamp=int(wall_now + reply_ms / 1000),
            text=config.reply_text if outcome == "reply_text" else config.stop_text,
            button=(message.quick_reply_text, message.quick_reply_text) if outcome == "button_tap" else None,
            context=context,
        )
        document = messages_envelope(
            config.waba_id,
            message.phone_number_id,
            message.display_phone_number,
            inbound_message_value(wa_id=message.wa_id, profile_name=f"Customer {message.wa_id[-4:]}", message=inbound),
        )
        due = now + reply_ms / 1000
        duplicate = draws[3 + len(true_order) % _STATUS_SLOTS] < config.webhook_duplicate_share
        plan.jobs.append(
            (due, WebhookJob(phone_number_id=message.phone_number_id, document=document, duplicate=duplicate))
        )
        plan.inbound_at.append(due)
    return plan
