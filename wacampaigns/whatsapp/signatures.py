"""Compute and verify Meta's `X-Hub-Signature-256` webhook signatures (reference/cloud-api.md §5.2)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Hashable, Mapping
from typing import TypeVar

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="

AppKey = TypeVar("AppKey", bound=Hashable)


def compute_signature(body: bytes, app_secret: str) -> str:
    """The header value Meta sends: `sha256=` and the hex HMAC-SHA256 of the raw body keyed with the app secret."""
    digest = hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(body: bytes, header_value: str | None, app_secret: str) -> bool:
    """Whether `header_value` signs the raw `body` with `app_secret` (constant-time comparison)."""
    if not header_value or not header_value.startswith(_PREFIX) or not app_secret:
        return False
    expected = compute_signature(body, app_secret)
    # Hex case is not significant; compare lowercase ASCII bytes so compare_digest accepts any input.
    return hmac.compare_digest(expected.encode("ascii"), header_value.lower().encode("utf-8"))


def matching_app(body: bytes, header_value: str | None, app_secrets: Mapping[AppKey, str]) -> AppKey | None:
    """The key of the app whose secret signed `body` (several Meta apps may post to one endpoint), or None.

    Every secret is checked, so the time taken does not reveal which one matched.
    """
    matched: AppKey | None = None
    for app_key, secret in app_secrets.items():
        if verify_signature(body, header_value, secret) and matched is None:
            matched = app_key
    return matched
