"""X-Hub-Signature-256 computation and verification."""

import hashlib
import hmac

from wacampaigns.whatsapp.signatures import compute_signature, matching_app, verify_signature

BODY = b'{"object":"whatsapp_business_account","entry":[]}'
SECRET = "app-secret-1"


def test_compute_signature_is_prefixed_hex_hmac_sha256_of_raw_bytes():
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()

    assert compute_signature(BODY, SECRET) == expected


def test_valid_signature_verifies():
    assert verify_signature(BODY, compute_signature(BODY, SECRET), SECRET) is True


def test_uppercase_hex_verifies():
    header = "sha256=" + compute_signature(BODY, SECRET).removeprefix("sha256=").upper()

    assert verify_signature(BODY, header, SECRET) is True


def test_wrong_secret_fails():
    assert verify_signature(BODY, compute_signature(BODY, "other-secret"), SECRET) is False


def test_tampered_body_fails():
    header = compute_signature(BODY, SECRET)

    assert verify_signature(BODY.replace(b"[]", b"[{}]"), header, SECRET) is False


def test_reserialized_json_fails_because_the_signature_covers_raw_bytes():
    header = compute_signature(BODY, SECRET)

    assert verify_signature(b'{"object": "whatsapp_business_account", "entry": []}', header, SECRET) is False


def test_missing_prefix_fails():
    bare_hex = compute_signature(BODY, SECRET).removeprefix("sha256=")

    assert verify_signature(BODY, bare_hex, SECRET) is False


def test_sha1_header_form_fails():
    header = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()

    assert verify_signature(BODY, header, SECRET) is False


def test_missing_header_or_empty_secret_fails():
    assert verify_signature(BODY, None, SECRET) is False
    assert verify_signature(BODY, "", SECRET) is False
    assert verify_signature(BODY, compute_signature(BODY, ""), "") is False


def test_non_ascii_header_fails_without_error():
    assert verify_signature(BODY, "sha256=é" + "0" * 63, SECRET) is False


def test_several_secrets_returns_the_app_that_matched():
    secrets = {"app-a": "secret-a", "app-b": "secret-b", "app-c": "secret-c"}

    assert matching_app(BODY, compute_signature(BODY, "secret-b"), secrets) == "app-b"
    assert matching_app(BODY, compute_signature(BODY, "secret-a"), secrets) == "app-a"


def test_several_secrets_none_matches():
    secrets = {1: "secret-a", 2: "secret-b"}

    assert matching_app(BODY, compute_signature(BODY, "secret-z"), secrets) is None
    assert matching_app(BODY, None, secrets) is None
    assert matching_app(BODY, compute_signature(BODY, "secret-a"), {}) is None
