"""Project settings, read only from the environment (and an optional `.env` file) via django-environ.

Every variable is listed with a comment in `.env.example` and in README.md's configuration table.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` file is a convenience for development (`make demo` writes one); real deployments set variables.
if (BASE_DIR / ".env").is_file() and not env.bool("WACAMPAIGNS_IGNORE_DOTENV", default=False):
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

# Development mode gets throwaway secrets; production mode refuses to start without real ones.
_DEVELOPMENT_ONLY_SECRET = "insecure-development-only-secret-key-change-me-0123456789"  # noqa: S105
_REQUIRED = environ.Env.NOTSET
SECRET_KEY = env.str("SECRET_KEY", default=_DEVELOPMENT_ONLY_SECRET if DEBUG else _REQUIRED)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The public https:// address of this installation; links sent to recipients (opt-out pages, tracked
# redirects) are built on it, and it is the webhook callback URL's base.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# How many reverse proxies in front of the web server append to X-Forwarded-For (0: none, use the socket
# address). Per-client limits (the opt-out pages) count the address that many hops from the right.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
OPT_OUT_RATE_LIMIT_PER_MINUTE = env.int("OPT_OUT_RATE_LIMIT_PER_MINUTE", default=30)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "ninja",
    "import_export",
    "contacts",
    "wacampaigns",
    "templates_app",
    "deliveries",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "wacampaigns.urls"
WSGI_APPLICATION = "wacampaigns.wsgi.application"
ASGI_APPLICATION = "wacampaigns.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and the webhook all write: WAL lets readers run beside the one writer, IMMEDIATE takes
    # the write lock at BEGIN (no deadlocking lock upgrades), and the busy timeout waits instead of
    # raising "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Persistent connections on SQLite too: a new connection re-reads the schema, and closing the last one
# checkpoints and deletes the WAL; per-request connections halved the webhook POST rate (bench/webhook_ingest.py).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL: statements bound on the server are prepared there on first use, once per connection: only the
# webhook POST's INSERT and the drainer's status merges (wacampaigns/server_binding.py), since Django's cursors
# bind on the client, which psycopg never prepares. Turn it off behind a pooler in transaction mode (PgBouncer without
# max_prepared_statements), which may run the next statement on a server connection that never prepared it.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0 if DATABASE_PREPARED_STATEMENTS else None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and background workers ----------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # The database cache is shared by every web and worker process (rate limits must be).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "wacampaigns_cache"}}

# design.md §7: django-q2's defaults re-run failed or slow tasks, which for a sender means duplicate
# messages. Retries are per recipient in our own rows; a task runs once. `timeout` stays below `retry`
# so that a running task is never handed to a second worker.
Q_TASK_TIMEOUT_SECONDS = env.int("Q_TASK_TIMEOUT_SECONDS", default=300)
Q_CLUSTER = {
    "name": "wacampaigns",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TASK_TIMEOUT_SECONDS,
    "retry": Q_TASK_TIMEOUT_SECONDS * 2,
    "ack_failures": True,
    "max_attempts": 1,
    "save_limit": -1,
    "catch_up": False,
    "queue_limit": 50,
    "label": "Background tasks",
    # Non-daemonic workers may start child processes: a contact import parses phone numbers in a process
    # pool (~50 µs each). The pool's children die with their worker (contacts/importing/staging.py).
    "daemonize_workers": False,
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = env.float("Q_ORM_POLL_SECONDS", default=0.2)

# --- Secrets stored in the database ---------------------------------------------------------------
# Access tokens, app secrets and verify tokens are encrypted at rest with Fernet. The first key
# encrypts; every key decrypts, so a key can be rotated by putting the new one first.
SECRETS_ENCRYPTION_KEYS = env.list("SECRETS_ENCRYPTION_KEYS", default=[] if DEBUG else _REQUIRED)
# Key of the HMAC that turns erased phone numbers into suppression-list entries; never rotate it
# (entries made with an old key no longer match).
ERASURE_HASH_KEY = env.str("ERASURE_HASH_KEY", default=SECRET_KEY if DEBUG else _REQUIRED)

# --- Cloud API ------------------------------------------------------------------------------------
GRAPH_API_BASE_URL = env.str("GRAPH_API_BASE_URL", default="https://graph.facebook.com").rstrip("/")
GRAPH_API_VERSION = env.str("GRAPH_API_VERSION", default="v23.0")
GRAPH_API_CONNECT_TIMEOUT_SECONDS = env.float("GRAPH_API_CONNECT_TIMEOUT_SECONDS", default=5.0)
GRAPH_API_READ_TIMEOUT_SECONDS = env.float("GRAPH_API_READ_TIMEOUT_SECONDS", default=30.0)

# --- Templates (templates_app) ----------------------------------------------------------------------
# Minutes between scheduled template syncs from Meta (a django-q2 schedule kept in line after every
# `migrate`); webhooks update statuses between syncs. 0 removes the schedule.
TEMPLATE_SYNC_INTERVAL_MINUTES = env.int("TEMPLATE_SYNC_INTERVAL_MINUTES", default=60)

# --- Sending engine (deliveries/sending) -----------------------------------------------------------
# Rows one sender claims at a time, and the threads that post them (each process's HTTP pool holds at
# least this many connections).
SENDER_BATCH_SIZE = env.int("SENDER_BATCH_SIZE", default=200)
SENDER_THREADS = env.int("SENDER_THREADS", default=16)
# A sender works this long, then re-enqueues itself: always well under Q_TASK_TIMEOUT_SECONDS (design.md §7).
SENDER_TIME_BOX_SECONDS = env.float("SENDER_TIME_BOX_SECONDS", default=min(60.0, Q_TASK_TIMEOUT_SECONDS / 4))
# A sender holds its slot this long between heartbeats; it must outlast one send (the read timeout).
SENDER_LEASE_SECONDS = env.float("SENDER_LEASE_SECONDS", default=GRAPH_API_READ_TIMEOUT_SECONDS + 30)
# Retryable errors: exponential backoff with jitter from the base, capped, up to this many attempts.
SENDER_MAX_ATTEMPTS = env.int("SENDER_MAX_ATTEMPTS", default=8)
SENDER_BACKOFF_BASE_SECONDS = env.float("SENDER_BACKOFF_BASE_SECONDS", default=5.0)
SENDER_BACKOFF_MAX_SECONDS = env.float("SENDER_BACKOFF_MAX_SECONDS", default=3600.0)
# Share of the number's Meta throughput the senders use, so that clock jitter never reaches Meta's limit.
SENDER_RATE_SHARE = env.float("SENDER_RATE_SHARE", default=0.97)
# An attempted send without an answer is re-sent only after this long with no webhook naming it (longer
# than Meta's ~1 h template pacing window, reference §4.7) and once webhooks for later sends have arrived.
AMBIGUOUS_GRACE_SECONDS = env.float("AMBIGUOUS_GRACE_SECONDS", default=75 * 60)
# Audience materialization: the first chunk is small so that sending starts within seconds.
MATERIALIZE_FIRST_CHUNK = env.int("MATERIALIZE_FIRST_CHUNK", default=2_000)
MATERIALIZE_CHUNK = env.int("MATERIALIZE_CHUNK", default=100_000)
# PostgreSQL connections that insert one chunk together (a chunk's INSERT and foreign-key checks keep one
# backend's core busy); 1: one connection. SQLite has one writer and always uses one.
MATERIALIZE_CONNECTIONS = env.int("MATERIALIZE_CONNECTIONS", default=2)
# Marketing hygiene, off by default: at most N marketing templates per contact per rolling window (0: off),
# and no campaign sends in the recipient's local quiet hours ("21:00-09:00"; empty: off). Rows wait.
FREQUENCY_CAP_MESSAGES = env.int("FREQUENCY_CAP_MESSAGES", default=0)
FREQUENCY_CAP_WINDOW_HOURS = env.float("FREQUENCY_CAP_WINDOW_HOURS", default=24 * 7)
QUIET_HOURS = env.str("QUIET_HOURS", default="")
# E.164 numbers of staff that "Send test" messages go to, comma-separated.
STAFF_TEST_PHONE_NUMBERS = env.list("STAFF_TEST_PHONE_NUMBERS", default=[])

# --- Webhooks (deliveries/webhooks) ---------------------------------------------------------------
# Raw webhook events are deleted this many days after they arrive (processed, unrouted and rejected alike).
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", default=30)
# A webhook whose processing failed is retried by the periodic task until it has had this many attempts
# (the admin action "Reprocess" retries it beyond that).
WEBHOOK_PROCESSING_MAX_ATTEMPTS = env.int("WEBHOOK_PROCESSING_MAX_ATTEMPTS", default=20)
# The POST only stores the raw row; a drainer (a django-q2 task woken by the POSTs, or `manage.py
# drain_webhooks`) applies pending rows in batches of this size, looking for new ones this often, ends after
# this long without any, and hands over to a successor task after the time box (well under the task timeout).
WEBHOOK_DRAIN_BATCH_SIZE = env.int("WEBHOOK_DRAIN_BATCH_SIZE", default=500)
WEBHOOK_DRAIN_POLL_SECONDS = env.float("WEBHOOK_DRAIN_POLL_SECONDS", default=0.1)
WEBHOOK_DRAIN_IDLE_SECONDS = env.float("WEBHOOK_DRAIN_IDLE_SECONDS", default=2.0)
WEBHOOK_DRAIN_TIME_BOX_SECONDS = env.float(
    "WEBHOOK_DRAIN_TIME_BOX_SECONDS", default=min(60.0, Q_TASK_TIMEOUT_SECONDS / 4)
)
# Whole-message keywords (case and accent do not matter), comma-separated. Words that also answer ordinary
# questions (CANCEL, END, QUIT) are deliberately absent: cancelling an appointment must not unsubscribe.
CONSENT_OPT_OUT_MARKETING_KEYWORDS = env.list(
    "CONSENT_OPT_OUT_MARKETING_KEYWORDS",
    default=[
        "STOP", "UNSUBSCRIBE", "STOP PROMOTIONS", "OPT OUT", "OPTOUT", "STOP MARKETING",
        "BAJA", "DARME DE BAJA", "DARSE DE BAJA", "CANCELAR SUSCRIPCION", "NO MAS PROMOCIONES",  # es
        "PARAR", "SAIR", "DESCADASTRAR", "CANCELAR INSCRICAO", "PARAR PROMOCOES",  # pt
        "ARRET", "ARRETER", "DESABONNER", "DESINSCRIRE", "STOP PUB",  # fr
        "STOPP", "ABMELDEN", "ABBESTELLEN", "KEINE WERBUNG",  # de
        "BAND KARO", "BAND KAREN", "BAND KARE", "MAT BHEJO",  # hi (Latin script)
        "توقف", "الغاء الاشتراك", "ايقاف",  # ar
        "BERHENTI", "BERHENTI BERLANGGANAN", "STOP PROMOSI",  # id
    ],
)  # fmt: skip
CONSENT_OPT_OUT_ALL_KEYWORDS = env.list("CONSENT_OPT_OUT_ALL_KEYWORDS", default=["STOP ALL", "UNSUBSCRIBE ALL"])
CONSENT_OPT_IN_KEYWORDS = env.list("CONSENT_OPT_IN_KEYWORDS", default=["START", "SUBSCRIBE", "UNSTOP"])
# Answer an opt-out or opt-in keyword with a free-form confirmation (allowed: the user just wrote to us).
CONSENT_CONFIRMATION_REPLIES = env.bool("CONSENT_CONFIRMATION_REPLIES", default=False)
CONSENT_OPT_OUT_CONFIRMATION_TEXT = env.str(
    "CONSENT_OPT_OUT_CONFIRMATION_TEXT",
    default="You will no longer receive promotional messages from us. Reply START to subscribe again.",
)
CONSENT_OPT_IN_CONFIRMATION_TEXT = env.str(
    "CONSENT_OPT_IN_CONFIRMATION_TEXT", default="You are subscribed again. Reply STOP to unsubscribe."
)
# Meta posts up to 3 MB per webhook (reference/cloud-api.md §5.3); Django's default cap is 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

# --- Integration API (deliveries/api, /api/v1/) --------------------------------------------------------
# Requests per minute per API key (each key may set its own); counted in the shared cache. 0: no limit.
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
# How long an Idempotency-Key's first answer is replayed.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
# Outbound event webhooks: an event a subscriber keeps refusing is retried with exponential backoff (from the
# base, capped) for this many hours, then abandoned (logged) so that the events after it flow again.
API_EVENTS_RETRY_HOURS = env.float("API_EVENTS_RETRY_HOURS", default=24)
API_EVENTS_BACKOFF_BASE_SECONDS = env.float("API_EVENTS_BACKOFF_BASE_SECONDS", default=5)
API_EVENTS_BACKOFF_MAX_SECONDS = env.float("API_EVENTS_BACKOFF_MAX_SECONDS", default=3600)
API_EVENTS_CONNECT_TIMEOUT_SECONDS = env.float("API_EVENTS_CONNECT_TIMEOUT_SECONDS", default=3)
API_EVENTS_READ_TIMEOUT_SECONDS = env.float("API_EVENTS_READ_TIMEOUT_SECONDS", default=10)
# The scheduled dispatcher (every minute) works at most this long per run, leaving when the outbox is empty.
API_EVENTS_DISPATCH_TIME_BOX_SECONDS = env.float("API_EVENTS_DISPATCH_TIME_BOX_SECONDS", default=50)
# Days events and their delivery log are kept.
API_EVENTS_RETENTION_DAYS = env.int("API_EVENTS_RETENTION_DAYS", default=14)

# --- `make demo` ---------------------------------------------------------------------------------
DEMO_HOST = env.str("DEMO_HOST", default="127.0.0.1")
DEMO_WEB_PORT = env.int("DEMO_WEB_PORT", default=8000)
DEMO_SIMULATOR_PORT = env.int("DEMO_SIMULATOR_PORT", default=8010)
DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="")

# --- Auth, i18n, static files ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves hashed, compressed files collected by `collectstatic`; development and tests serve
# straight from the apps' static folders (no collectstatic step).
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

# --- Security (production) ------------------------------------------------------------------------
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (README.md, production).
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- E-mail (administrators are told when an account or template stops sending) -------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="wacampaigns@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [(address, address) for address in env.list("ADMINS", default=[])]

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django_q": {"level": env.str("Q_LOG_LEVEL", default="WARNING"), "propagate": True}},
}
