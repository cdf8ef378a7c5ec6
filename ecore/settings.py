"""eCore settings, read from the environment.

Every value has a default that works on a development machine with PostgreSQL
and Redis on localhost; production must set SECRET_KEY (start-up fails otherwise
when DEBUG is off).
"""

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ecore.env import Env
from ecore.logs import log_settings, logging_config, structlog_configure
from ecore.sentry import sentry_setup

BASE_DIR = Path(__file__).resolve().parent.parent

# Booleans must say true or false: a typo such as BIGQUERY_ENABLED=ture stops start-up (ecore/env.py).
env = Env()

DEBUG = env.bool("DEBUG", default=True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    # Django's admin on eCore's site: its index links the operators' dashboard (ecore/admin_site.py).
    "ecore.apps.EcoreAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's and ReDoc's files, served from this package: the API docs load with no internet.
    "drf_spectacular_sidecar",
    "tokens",
    "pricing",
    "wallet",
    "sources",
    "enrichment",
]

MIDDLEWARE = [
    # First, so that every line a request logs carries its request_id, and the latency each measures is the
    # whole of Django's.
    "ecore.middleware.RequestLogMiddleware",
    "ecore.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "ecore.middleware.ApiRequestSizeMiddleware",
    # Serves the admin's and API docs' static files when DEBUG is off (gunicorn serves no files).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The admin's four, skipped on /api/ (ecore/middleware.py).
    "ecore.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "ecore.middleware.CsrfViewMiddleware",
    "ecore.middleware.AuthenticationMiddleware",
    "ecore.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ecore.urls"
WSGI_APPLICATION = "ecore.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own templates: the admin's index and dashboard, the landing page, ReDoc's page.
        "DIRS": [BASE_DIR / "ecore" / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/ecore")}
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
# A kept connection is checked (SELECT 1) before a request's first query: after a failover or a restart
# ended every session, each process reconnects instead of answering its next request with a 500.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Parameters bound by the server, and statements prepared once per connection after their fifth
# use: the lookups every request runs are planned once instead of every time (about half of
# PostgreSQL's CPU for a single-record lookup). PREPARED_STATEMENTS=false behind a transaction-mode pooler.
if env.bool("PREPARED_STATEMENTS", default=True):
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_" + DATABASES["default"]["NAME"])}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# How long a cache or rate-limit call waits for Redis before treating it as down.
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=2.0)
CACHES = {
    "default": {
        "BACKEND": "ecore.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="ecore"),
        # While Redis is unreachable the cache misses; it is tried again this often.
        "RETRY_SECONDS": env.float("CACHE_RETRY_SECONDS", default=5.0),
        "OPTIONS": {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
                    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS},
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# 10 MB upload cap: a 500-row spreadsheet is far below it. A larger file is refused with 413, and so is
# a request body (or a form's fields) over the same size, or more fields or files than Django's
# defaults (a submit has fewer than ten fields and one file): ecore/exceptions.py and, for a body
# declared larger than any valid submit, ecore/middleware.py.
ENRICHMENT_MAX_UPLOAD_BYTES = env.int("ENRICHMENT_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ENRICHMENT_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = ENRICHMENT_MAX_UPLOAD_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 100

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tokens.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "ecore.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    # JSON first: it is what a client gets unless it sends `Accept: application/xml`.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "ecore.renderers.XMLRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "ecore.renderers.JsonFirstNegotiation",
    "EXCEPTION_HANDLER": "ecore.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ecore.openapi.ApiAutoSchema",
    "UNAUTHENTICATED_USER": None,
    # `?format=csv|xlsx` on Results selects a download, not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "eCore Enrichment API",
    "DESCRIPTION": "Contact and account enrichment, paid for with prepaid credits.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# A running job's lease: a killed worker's job is taken over once the lease runs out and the sweep runs
# (at most JOB_LEASE_SECONDS + JOB_SWEEP_SECONDS after the kill); the worker's heartbeat renews it every
# JOB_LEASE_RENEW_SECONDS, so a live worker keeps it through batches of any length.
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=60)
JOB_LEASE_RENEW_SECONDS = env.float("JOB_LEASE_RENEW_SECONDS", default=JOB_LEASE_SECONDS / 3)
if not 0 < JOB_LEASE_RENEW_SECONDS < JOB_LEASE_SECONDS:
    raise ImproperlyConfigured("JOB_LEASE_RENEW_SECONDS must be above 0 and below JOB_LEASE_SECONDS")
JOB_SWEEP_SECONDS = env.float("JOB_SWEEP_SECONDS", default=15.0)

# Celery: late acknowledgement and a prefetch of one so a killed worker's job is redelivered,
# never lost; the visibility timeout bounds how long a redelivery waits.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker looks for messages a dead worker took and never acknowledged.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="ecore")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-jobs": {"task": "enrichment.tasks.requeue_stale_jobs", "schedule": JOB_SWEEP_SECONDS},
    "retry-lost-webhooks": {"task": "enrichment.webhook_tasks.retry_lost_webhooks", "schedule": 60.0},
}
# Task modules besides the apps' `tasks`, which Celery finds by itself.
CELERY_IMPORTS = ("enrichment.webhook_tasks",)

# Product limits.
ENRICHMENT_HARD_LIMIT = 500
ENRICHMENT_DEFAULT_PLAN_LIMIT = 50
PRICING_CACHE_SECONDS = 300
# How long a process keeps the prices it read: the longest another process charges an old price after a save.
PRICING_PROCESS_SECONDS = env.float("PRICING_PROCESS_SECONDS", default=1.0)
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
JOB_INPUT_CACHE_SECONDS = 3600
# 250 rows: two round trips per stage for a 500-row job (each BigQuery round trip costs ~150 ms), and a
# pause still takes effect halfway through.
ENRICHMENT_BATCH_SIZE = env.int("ENRICHMENT_BATCH_SIZE", default=250)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
JOB_STALE_QUEUED_SECONDS = env.int("JOB_STALE_QUEUED_SECONDS", default=120)
# How many times in a row a job goes on after its database session broke (waiting 1, 2, 4… s) before it is
# left to the sweep: 5 rides out about 30 s of failover.
JOB_DATABASE_RETRIES = env.int("JOB_DATABASE_RETRIES", default=5)
# The longest a statement of the web and worker processes, every lookup included, may hold a PostgreSQL backend
# (0: no limit), set on each connection they open (sources/sql.py). A job's stage whose lookup is cancelled
# fails on the stage log and the job goes on.
LOOKUP_STATEMENT_TIMEOUT_MS = env.int("LOOKUP_STATEMENT_TIMEOUT_MS", default=30_000)

# Webhooks: https to public addresses; plain http or a private address only to these hosts (receivers on the
# operator's own network). Loopback by default only while developing: in production it would let any client
# make the worker POST to the machine's own services.
WEBHOOK_ALLOWED_HTTP_HOSTS = env.list("WEBHOOK_ALLOWED_HTTP_HOSTS",
                                      default=["localhost", "127.0.0.1"] if DEBUG else [])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Retries back off from the first delay, doubling up to the cap, until the window after the event closes.
WEBHOOK_RETRY_FIRST_DELAY_SECONDS = env.int("WEBHOOK_RETRY_FIRST_DELAY_SECONDS", default=60)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.int("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=3600)
WEBHOOK_RETRY_WINDOW_SECONDS = env.int("WEBHOOK_RETRY_WINDOW_SECONDS", default=24 * 3600)

# Pro level's paid providers: each stays off until its key (Netnut: proxy credentials) is set.
SERPER_API_KEY = env.str("SERPER_API_KEY", default="")
SERPER_BASE_URL = env.str("SERPER_BASE_URL", default="https://google.serper.dev")
NETNUT_USERNAME = env.str("NETNUT_USERNAME", default="")
NETNUT_PASSWORD = env.str("NETNUT_PASSWORD", default="")
NETNUT_PROXY_URL = env.str("NETNUT_PROXY_URL", default="http://gw.netnut.net:5959")
NETNUT_PROFILE_BASE_URL = env.str("NETNUT_PROFILE_BASE_URL", default="https://www.linkedin.com")
ANYMAILFINDER_API_KEY = env.str("ANYMAILFINDER_API_KEY", default="")
ANYMAILFINDER_BASE_URL = env.str("ANYMAILFINDER_BASE_URL", default="https://api.anymailfinder.com/v5.0")
ANYMAILFINDER_TIMEOUT_SECONDS = env.float("ANYMAILFINDER_TIMEOUT_SECONDS", default=60.0)
ZEROBOUNCE_API_KEY = env.str("ZEROBOUNCE_API_KEY", default="")
ZEROBOUNCE_BASE_URL = env.str("ZEROBOUNCE_BASE_URL", default="https://api.zerobounce.net/v2")
ZEROBOUNCE_BULK_BASE_URL = env.str("ZEROBOUNCE_BULK_BASE_URL", default="https://bulkapi.zerobounce.net/v2")
PRO_PROVIDER_TIMEOUT_SECONDS = env.float("PRO_PROVIDER_TIMEOUT_SECONDS", default=20.0)
PRO_PROVIDER_MAX_TRIES = env.int("PRO_PROVIDER_MAX_TRIES", default=3)
PRO_PROVIDER_BACKOFF_SECONDS = env.float("PRO_PROVIDER_BACKOFF_SECONDS", default=1.0)
PRO_PROVIDER_BUDGET_PER_JOB = env.int("PRO_PROVIDER_BUDGET_PER_JOB", default=200)
PRO_PROVIDER_CONCURRENCY = env.int("PRO_PROVIDER_CONCURRENCY", default=4)
# Provider calls stop this long into a batch; the lease's heartbeat keeps the job meanwhile.
PRO_STAGE_SECONDS_PER_BATCH = env.float("PRO_STAGE_SECONDS_PER_BATCH", default=150.0)
# Local email validation's MX lookups: total time per batch, and nameservers ("host" or "host:port").
EMAIL_MX_SECONDS_PER_BATCH = env.float("EMAIL_MX_SECONDS_PER_BATCH", default=1.0)
EMAIL_DNS_NAMESERVERS = env.list("EMAIL_DNS_NAMESERVERS", default=[])

# BigQuery contact dataset and phone table: the emulator when BIGQUERY_EMULATOR_HOST is set ("host:port" or
# a URL), else real BigQuery with Application Default Credentials when BIGQUERY_ENABLED; otherwise off.
BIGQUERY_EMULATOR_HOST = env.str("BIGQUERY_EMULATOR_HOST", default="")
BIGQUERY_ENABLED = env.bool("BIGQUERY_ENABLED", default=False)
BIGQUERY_PROJECT = env.str("BIGQUERY_PROJECT", default="ecore-local")
BIGQUERY_DATASET = env.str("BIGQUERY_DATASET", default="ecore")
BIGQUERY_CONTACTS_TABLE = env.str("BIGQUERY_CONTACTS_TABLE", default="contacts")
BIGQUERY_PHONES_TABLE = env.str("BIGQUERY_PHONES_TABLE", default="phones")
BIGQUERY_TIMEOUT_SECONDS = env.float("BIGQUERY_TIMEOUT_SECONDS", default=30)
# Snowflake contact table (same columns as the BigQuery contacts table): off unless SNOWFLAKE_ACCOUNT is set.
SNOWFLAKE_ACCOUNT = env.str("SNOWFLAKE_ACCOUNT", default="")
SNOWFLAKE_USER = env.str("SNOWFLAKE_USER", default="")
SNOWFLAKE_PASSWORD = env.str("SNOWFLAKE_PASSWORD", default="")
SNOWFLAKE_WAREHOUSE = env.str("SNOWFLAKE_WAREHOUSE", default="")
SNOWFLAKE_DATABASE = env.str("SNOWFLAKE_DATABASE", default="")
SNOWFLAKE_SCHEMA = env.str("SNOWFLAKE_SCHEMA", default="PUBLIC")
SNOWFLAKE_TABLE = env.str("SNOWFLAKE_TABLE", default="CONTACTS")
# An endpoint other than the account's own (a PrivateLink host); empty: the account's.
SNOWFLAKE_HOST = env.str("SNOWFLAKE_HOST", default="")
SNOWFLAKE_PORT = env.int("SNOWFLAKE_PORT", default=443)
SNOWFLAKE_PROTOCOL = env.str("SNOWFLAKE_PROTOCOL", default="https")
# The connector retries a login until this runs out: a batch waits at most about this long for a dead Snowflake.
SNOWFLAKE_LOGIN_TIMEOUT_SECONDS = env.int("SNOWFLAKE_LOGIN_TIMEOUT_SECONDS", default=30)
SNOWFLAKE_NETWORK_TIMEOUT_SECONDS = env.int("SNOWFLAKE_NETWORK_TIMEOUT_SECONDS", default=60)

# Finished results are also written to Firestore when FIRESTORE_EMULATOR_HOST is set (the emulator, anonymous
# credentials; the client library reads the same variable) or FIRESTORE_ENABLED is true (Application Default
# Credentials). Otherwise the Saving Results stage is skipped; PostgreSQL rows stay the source of truth.
FIRESTORE_EMULATOR_HOST = env.str("FIRESTORE_EMULATOR_HOST", default="")
FIRESTORE_ENABLED = env.bool("FIRESTORE_ENABLED", default=False)
# Against real Firestore an unset project means the one Application Default Credentials belong to.
FIRESTORE_PROJECT = env.str("GOOGLE_CLOUD_PROJECT", default="ecore-local" if FIRESTORE_EMULATOR_HOST else "")
FIRESTORE_DATABASE = env.str("FIRESTORE_DATABASE", default="(default)")
# Total time, retries included, one Firestore call may take before the stage is recorded as failed.
FIRESTORE_TIMEOUT_SECONDS = env.float("FIRESTORE_TIMEOUT_SECONDS", default=20.0)

# Company-name search: Meilisearch when MEILISEARCH_URL is set (fill the index with `manage.py index_companies`),
# else pg_trgm in PostgreSQL. A Meilisearch error or timeout falls back to pg_trgm for that batch.
MEILISEARCH_URL = env.str("MEILISEARCH_URL", default="")
MEILISEARCH_API_KEY = env.str("MEILISEARCH_API_KEY", default="")
MEILISEARCH_INDEX = env.str("MEILISEARCH_INDEX", default="companies")
MEILISEARCH_TIMEOUT_SECONDS = env.int("MEILISEARCH_TIMEOUT_SECONDS", default=5)

# /readyz: how long each dependency's check may take (they run at once).
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)

# GET /metrics (Prometheus): with `Authorization: Bearer <METRICS_TOKEN>`, or from an address in
# METRICS_ALLOWED_NETWORKS when no proxy forwarded the request (behind a reverse proxy on the same host every
# client would otherwise come from loopback).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
try:
    METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(network, strict=False) for network in
                                env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None
# The Celery worker's own metrics endpoint (prometheus_client's server, no authentication: keep it on a
# private network); off unless set. It serves what every pool process wrote to PROMETHEUS_MULTIPROC_DIR.
METRICS_PORT = env.int("METRICS_PORT", default=0)
METRICS_ADDR = env.str("METRICS_ADDR", default="127.0.0.1")
if "PROMETHEUS_MULTIPROC_DIR" in os.environ and not os.environ["PROMETHEUS_MULTIPROC_DIR"]:
    # prometheus-client would take the empty name for the working directory and write its files there.
    raise ImproperlyConfigured("PROMETHEUS_MULTIPROC_DIR is set but empty: name a directory, or unset it")
if METRICS_PORT and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    raise ImproperlyConfigured("METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR in the worker's environment: without "
                               "it the pool processes' samples are invisible to the worker's metrics endpoint")

# Logs (ecore/logs.py): one JSON line per event on stderr, with request_id, user_id and job_id; readable lines
# (LOG_FORMAT=console) by default only while DEBUG is on and stderr is a terminal. The Celery worker logs the same
# way: LOG_LEVEL, not its --loglevel, sets the level.
LOG_FORMAT, LOG_LEVEL = log_settings(env, debug=DEBUG)
structlog_configure()
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)

# Error reporting (ecore/sentry.py): Sentry, for the web and the worker, only when SENTRY_DSN is set.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")
# Share of requests and tasks traced for Sentry's performance view; 0: errors only.
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
sentry_setup(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, release=SENTRY_RELEASE,
             traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)
