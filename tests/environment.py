"""Test-wide settings: fixed throwaway secrets, plain HTTP, and no `.env` from a demo run."""

import os

os.environ.setdefault("WACAMPAIGNS_IGNORE_DOTENV", "true")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("SECRETS_ENCRYPTION_KEYS", "pJ3mM0r2m2tQeVvQ6n5Yb4X4lq9l2u8Wcz5K1s0hF1A=")
os.environ.setdefault("ERASURE_HASH_KEY", "test-erasure-hash-key")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("STATIC_MANIFEST", "false")
