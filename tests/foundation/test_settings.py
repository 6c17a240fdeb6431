"""Settings come from the environment, are production-safe, and SQLite is set up for concurrent writers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENVIRONMENT = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "SECRETS_ENCRYPTION_KEYS": "pJ3mM0r2m2tQeVvQ6n5Yb4X4lq9l2u8Wcz5K1s0hF1A=",
    "ERASURE_HASH_KEY": "another-long-random-value",
    "ALLOWED_HOSTS": "campaigns.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://campaigns.example.com",
    "PUBLIC_BASE_URL": "https://campaigns.example.com",
    "TRUST_X_FORWARDED_PROTO": "true",
    "DATABASE_URL": "sqlite:////tmp/wacampaigns-deploy-check.sqlite3",
}


def _manage(*args, environment):
    clean = {key: value for key, value in os.environ.items() if key not in PRODUCTION_ENVIRONMENT}
    for key in ("SECURE_SSL_REDIRECT", "SECURE_COOKIES", "STATIC_MANIFEST"):
        clean.pop(key, None)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, **environment},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


# Whether every subdomain is HTTPS-only, and preload-list submission, are the operator's decisions
# (README.md, "Production"); they stay off unless set.
EXPLAINED_DEPLOY_WARNINGS = {"security.W005", "security.W021"}


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "ERROR", environment=PRODUCTION_ENVIRONMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    reported = set(re.findall(r"\((security\.\w+|\w+\.\w+)\)", result.stdout + result.stderr))
    assert reported <= EXPLAINED_DEPLOY_WARNINGS, result.stdout + result.stderr


def test_check_deploy_is_clean_when_the_operator_enables_hsts_everywhere():
    environment = {**PRODUCTION_ENVIRONMENT, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SECRETS_ENCRYPTION_KEYS", "ERASURE_HASH_KEY"])
def test_production_refuses_to_start_without_secrets(missing):
    environment = {key: value for key, value in PRODUCTION_ENVIRONMENT.items() if key != missing}
    result = _manage("check", environment=environment)
    assert result.returncode != 0
    assert missing in result.stderr


def test_django_q_is_configured_so_a_task_never_runs_twice():
    q = settings.Q_CLUSTER
    assert q["ack_failures"] is True
    assert q["max_attempts"] == 1
    assert q["timeout"] < q["retry"]
    assert q["save_limit"] == -1


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite pragmas apply to SQLite only")
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal_mode = cursor.fetchone()[0]
    options = settings.DATABASES["default"]["OPTIONS"]
    # The in-memory test database cannot use WAL; the option that sets it must still be there.
    assert journal_mode in ("wal", "memory")
    assert "journal_mode=WAL" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5


def test_redis_url_switches_broker_and_cache_to_redis():
    environment = {**PRODUCTION_ENVIRONMENT, "REDIS_URL": "redis://127.0.0.1:6399/2"}
    probe = "from django.conf import settings; print(settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm'),"
    probe += " settings.CACHES['default']['BACKEND'])"
    result = _manage("shell", "-c", probe, environment=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == [
        "redis://127.0.0.1:6399/2",
        "None",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_database_url_switches_to_postgresql():
    environment = {**PRODUCTION_ENVIRONMENT, "DATABASE_URL": "postgres://user:pw@127.0.0.1:5999/campaigns"}
    probe = "from django.conf import settings; d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'])"
    result = _manage("shell", "-c", probe, environment=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["django.db.backends.postgresql", "campaigns"]
