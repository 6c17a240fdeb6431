"""The simulator's settings: one dataclass, its command-line options, and runtime updates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class SimulatorConfig:
    """Every knob of the simulator; `/_sim/config` changes the mutable ones at runtime."""

    host: str = "127.0.0.1"
    port: int = 8100
    callback_url: str = "http://127.0.0.1:8000/webhooks/whatsapp/"
    app_secret: str = "simulator-app-secret"  # noqa: S105 - a test double's well-known secret
    access_token: str = "simulator-access-token"  # noqa: S105 - a test double's well-known token
    waba_id: str = "200000000000001"
    app_id: str = "300000000000001"
    phone_number_ids: list[str] = field(default_factory=lambda: ["100000000000001"])
    seed: int = 1
    messaging_limit_tier: str = "TIER_10K"
    quality_rating: str = "GREEN"

    # Limits (see rate_limits.py for the exact token-bucket definition).
    throughput_per_second: float = 80.0
    throughput_burst: float | None = None  # None: one second's worth (= throughput_per_second)
    pair_rate_per_second: float = 1 / 6
    pair_burst: float = 45.0
    service_window_seconds: float = 24 * 3600

    # What happens to accepted messages (shares are probabilities in [0, 1]).
    fail_131026_share: float = 0.02
    fail_131049_share: float = 0.01
    fail_131050_share: float = 0.01
    read_share: float = 0.8
    reply_text_share: float = 0.03
    reply_stop_share: float = 0.01
    button_tap_share: float = 0.02
    paced_share: float = 0.0
    paced_release_ms: float = 10_000
    # Share of held (paced) messages on which feedback is bad: they fail with 132015 at release and their
    # template becomes PAUSED (webhook), after which every later held message of it fails too (§4.7).
    paced_fail_share: float = 0.0
    reply_text: str = "Thanks, sounds good!"
    stop_text: str = "STOP"
    reengagement_error_as_status: bool = False

    # 2026 business-scoped user ids (reference §5.4): contacts[].user_id, messages[].from_user_id and
    # statuses[].recipient_user_id; profile.username; users who withhold their phone (no wa_id / from).
    user_ids_enabled: bool = True
    usernames_enabled: bool = False
    phoneless_users: bool = False

    # Webhook timing.
    sent_delay_ms: float = 200
    delivered_delay_ms: float = 800
    read_delay_ms: float = 3000
    reply_delay_ms: float = 4000
    template_review_ms: float = 3000
    template_reject_share: float = 0.0

    # Faults on the API.
    latency_ms: float = 0
    slow_share: float = 0.0
    slow_ms: float = 2000
    http_500_share: float = 0.0
    http_500_graph_body: bool = True
    reset_share: float = 0.0
    timeout_after_accept_share: float = 0.0
    timeout_hang_ms: float = 65_000
    timeout_close_without_answer: bool = False

    # Faults and behaviour of webhook delivery.
    webhooks_enabled: bool = True
    webhook_threads: int = 4
    webhook_timeout_ms: float = 10_000
    webhook_duplicate_share: float = 0.0
    webhook_drop_share: float = 0.0
    webhook_out_of_order_share: float = 0.0
    webhook_batch_max: int = 1
    webhook_batch_window_ms: float = 0
    webhook_auto_batch_max: int = 100
    webhook_auto_batch_lag_ms: float = 50
    webhook_max_retries: int = 6
    webhook_retry_base_ms: float = 1000
    webhook_retry_max_ms: float = 60_000

    log_requests: bool = False

    def __post_init__(self) -> None:
        self.phone_number_ids = [str(number) for number in self.phone_number_ids]

    @property
    def effective_throughput_burst(self) -> float:
        """The bucket capacity: the explicit burst, or one second's worth of the rate."""
        return self.throughput_burst if self.throughput_burst is not None else self.throughput_per_second

    def as_dict(self) -> dict:
        """A JSON-ready copy (the access token and app secret included: this is a test double)."""
        return dataclasses.asdict(self)

    def updated(self, changes: dict) -> SimulatorConfig:
        """A copy with `changes` applied; unknown or start-up-only keys raise ConfigError."""
        unknown = sorted(set(changes) - set(RUNTIME_SETTABLE))
        if unknown:
            raise ConfigError(f"not settable at runtime: {', '.join(unknown)}")
        values = self.as_dict()
        for name, value in changes.items():
            values[name] = _coerce(name, value, values[name])
        return SimulatorConfig(**values)


class ConfigError(ValueError):
    """A configuration change names an unknown setting or has a value of the wrong type."""


_START_UP_ONLY = {"host", "port", "webhook_threads", "phone_number_ids", "waba_id", "app_id", "seed"}
RUNTIME_SETTABLE = tuple(f.name for f in dataclasses.fields(SimulatorConfig) if f.name not in _START_UP_ONLY)


_FIELD_TYPES = {
    f.name: {"bool": bool, "int": int, "str": str}.get(str(f.type), float) for f in dataclasses.fields(SimulatorConfig)
}


def _coerce(name: str, value, current):
    if name == "throughput_burst" and value is None:
        return None
    expected = _FIELD_TYPES[name]
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, expected):
        return value
    raise ConfigError(f"{name} must be {expected.__name__}, got {value!r}")
