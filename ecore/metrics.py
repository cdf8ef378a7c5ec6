"""Every Prometheus metric eCore exports, and the registries that serve them.

Each is counted at the one place its event happens:

| metric | counted in |
|---|---|
| `ecore_jobs_submitted_total{type,level}` | `enrichment.services.job_submit`, once the job and its charge are committed |
| `ecore_jobs_finished_total{status}` | `enrichment.pipeline.runner`, when a job completes or fails |
| `ecore_job_rows_total{enrichment_status}` | `enrichment.pipeline.runner._rows_save`, as each batch's rows are saved |
| `ecore_stage_seconds{stage}` | `enrichment.pipeline.runner`, each stage on each batch (and the results store) |
| `ecore_source_rows_filled_total{source}` | `enrichment.pipeline.runner.batch_enrich`, the rows each row stage filled |
| `ecore_credits_charged_total` | `wallet.services`, each deduction applied (submits, resumes, single lookups) |
| `ecore_credits_refunded_total{reason}` | `enrichment.credits`, each refund with the row's reason or `unprocessed` |
| `ecore_provider_requests_total{provider,outcome}` | `sources.providers.http.ProviderHttp.call`, each attempt |
| `ecore_webhook_deliveries_total{outcome}` | `enrichment.webhooks.webhook_delivery_attempt`, each attempt |
| `ecore_rate_limited_total` | `tokens.ratelimit.rate_limit_hit`, each refused request |
| `ecore_http_requests_total`, `ecore_http_request_duration_seconds` | `ecore.middleware.RequestMetricsMiddleware` |
| `ecore_celery_queue_length{queue}` | read from the broker at each scrape (`CeleryQueueLengthCollector`) |

Multiprocess mode: when PROMETHEUS_MULTIPROC_DIR is in a process's environment as it starts (prometheus-client
decides on import), every process writes its samples to files there and a scrape adds them up, so the figures
are right under gunicorn's several workers and Celery's prefork children. gunicorn (`ecore/gunicorn_conf.py`)
makes a directory of its own when none is set; the Celery worker needs it set to serve METRICS_PORT. A
directory belongs to one service: it is cleaned as that service starts. Without it (runserver, tests, a shell)
a process counts in its own memory, which is what it then serves.
"""

import logging
import os
from functools import lru_cache
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    # A value's file is opened as its metric is defined, below: the directory must exist by then.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

# From a 5 ms lookup to a five-minute batch against a slow source.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

JOBS_SUBMITTED = Counter("ecore_jobs_submitted", "Jobs accepted (created and charged) by submit.", ["type", "level"])
JOBS_FINISHED = Counter("ecore_jobs_finished", "Jobs that ended, by final status.", ["status"])
JOB_ROWS = Counter("ecore_job_rows", "Job input rows processed, by their enrichment status.", ["enrichment_status"])
STAGE_SECONDS = Histogram("ecore_stage_seconds", "Time one pipeline stage took on one batch or one single lookup.",
                          ["stage"], buckets=STAGE_BUCKETS)
SOURCE_ROWS_FILLED = Counter("ecore_source_rows_filled", "Rows a source filled, as its stage reports them.",
                             ["source"])
CREDITS_CHARGED = Counter("ecore_credits_charged", "Credits deducted from wallets.")
CREDITS_REFUNDED = Counter("ecore_credits_refunded", "Credits given back, by reason.", ["reason"])
PROVIDER_REQUESTS = Counter("ecore_provider_requests",
                            "Attempts at a paid provider's API, by outcome (skipped: a call not sent, as the "
                            "provider's breaker was open, the job's budget spent or the batch's time over).",
                            ["provider", "outcome"])
WEBHOOK_DELIVERIES = Counter("ecore_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"])
RATE_LIMITED = Counter("ecore_rate_limited", "Single-record requests refused by their token's rate limit.")
HTTP_REQUESTS = Counter("ecore_http_requests", "HTTP requests, by view (URL name), method and status.",
                        ["view", "method", "status"])
HTTP_REQUEST_SECONDS = Histogram("ecore_http_request_duration_seconds", "HTTP request latency, by view and status.",
                                 ["view", "status"], buckets=HTTP_BUCKETS)


class CeleryQueueLengthCollector:
    """Messages waiting in the Celery queue, read from the broker (Redis lists) when Prometheus scrapes."""

    NAME = "ecore_celery_queue_length"
    DOCUMENTATION = "Messages waiting in the Celery queue (not those a worker has taken)."

    def describe(self):
        # Registration asks for the names: without this it would call collect, and so Redis, at import.
        return [GaugeMetricFamily(self.NAME, self.DOCUMENTATION, labels=["queue"])]

    def collect(self):
        import redis
        from django.conf import settings

        from ecore.celery import app

        queue = app.conf.task_default_queue
        try:
            length = celery_queue_length(_broker(settings.CELERY_BROKER_URL, settings.REDIS_SOCKET_TIMEOUT_SECONDS),
                                         queue)
        except redis.RedisError as exc:
            logger.warning("Celery queue length not read: %s", exc)
            return
        family = GaugeMetricFamily(self.NAME, self.DOCUMENTATION, labels=["queue"])
        family.add_metric([queue], length)
        yield family


# kombu's Redis transport keeps a queue as one list per priority step; priority 0 (every eCore task) is the
# list named after the queue, the others append a separator and the step.
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)


def celery_queue_length(client, queue: str) -> int:
    names = [queue, *(f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}" for step in KOMBU_PRIORITY_STEPS)]
    pipeline = client.pipeline(transaction=False)
    for name in names:
        pipeline.llen(name)
    return sum(pipeline.execute())


@lru_cache(maxsize=4)
def _broker(url: str, timeout: float):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


_QUEUE_REGISTRY = CollectorRegistry()
_QUEUE_REGISTRY.register(CeleryQueueLengthCollector())


def process_registry() -> CollectorRegistry:
    """The samples of every process sharing the directory, or, without one, this process's."""
    if not MULTIPROC_DIR:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def metrics_exposition() -> bytes:
    """What the web's /metrics serves: the processes' samples and the queue length read now."""
    return generate_latest(process_registry()) + generate_latest(_QUEUE_REGISTRY)


def metrics_dir_clean() -> int:
    """Deletes the files of processes that are no longer running; how many. Called as a service starts.

    Counters of a process that died during a service's life must stay (they are part of its totals), so only a
    service's start cleans; files of live processes stay, so one directory shared by two services on one host
    (tests, a laptop) keeps the other service's samples.
    """
    removed = 0
    for path in Path(MULTIPROC_DIR).glob("*.db") if MULTIPROC_DIR else ():
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _process_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_dead(pid: int) -> None:
    """A worker process ended (gunicorn's child_exit, Celery's worker_process_shutdown): its live gauges go."""
    if MULTIPROC_DIR:
        multiprocess.mark_process_dead(pid, MULTIPROC_DIR)
