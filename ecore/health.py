"""Readiness: can this process serve, that is, does every dependency it is configured with answer?

Each check is bounded by READINESS_TIMEOUT_SECONDS and all run at once, so a probe waits about that long at
most however many dependencies are down. Liveness (`/healthz`) checks nothing: a process whose database is
down is alive, and restarting it would not bring the database back.
"""

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

# How much longer than a check's own timeout the probe waits for it before reporting it timed out (a client
# library that does not honour its timeout exactly must not hold the probe).
DEADLINE_GRACE_SECONDS = 0.5
PROBE_DOCUMENT = "_readiness_probe"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    ms: float
    error: str = ""  # the exception's class name; the message is logged, not shown to an unauthenticated caller

    def as_dict(self) -> dict:
        body = {"state": "ok" if self.ok else "failed", "ms": self.ms}
        if self.error:
            body["error"] = self.error
        return body


def _postgresql_check() -> Callable[[float], None]:
    # Its own connection, not the request's: a probe must not leave a connection open in a pool thread, and
    # libpq's connect_timeout bounds the connect, which Django's connection does not (libpq's minimum is 2 s).
    params = connection.get_connection_params()

    def check(timeout: float) -> None:
        raw = connection.get_new_connection({**params, "connect_timeout": max(2, math.ceil(timeout))})
        try:
            raw.execute("SELECT 1")
        finally:
            raw.close()

    return check


def _redis_check(url: str) -> Callable[[float], None]:
    def check(timeout: float) -> None:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()

    return check


def _bigquery_check(timeout: float) -> None:
    from google.cloud.bigquery.retry import DEFAULT_RETRY

    from sources.bigquery import bigquery_client

    bigquery_client().get_dataset(f"{settings.BIGQUERY_PROJECT}.{settings.BIGQUERY_DATASET}",
                                  retry=DEFAULT_RETRY.with_deadline(timeout), timeout=timeout)


def _firestore_check(timeout: float) -> None:
    from enrichment.pipeline.sinks import JOBS_COLLECTION
    from sources.firestore import firestore_client

    firestore_client().collection(JOBS_COLLECTION).document(PROBE_DOCUMENT).get(retry=None, timeout=timeout)


def _meilisearch_check(timeout: float) -> None:
    import meilisearch

    meilisearch.Client(settings.MEILISEARCH_URL, settings.MEILISEARCH_API_KEY or None, timeout=timeout).health()


def readiness_checks() -> dict[str, Callable[[float], None]]:
    """The dependencies this process is configured with, by name: PostgreSQL, Redis as broker and as cache,
    and each optional store that is switched on."""
    from sources.bigquery import unconfigured_reason as bigquery_unconfigured

    checks = {
        "postgresql": _postgresql_check(),
        "redis_broker": _redis_check(settings.CELERY_BROKER_URL),
        "redis_cache": _redis_check(settings.CACHES["default"]["LOCATION"]),
    }
    if not bigquery_unconfigured():
        checks["bigquery"] = _bigquery_check
    if settings.FIRESTORE_EMULATOR_HOST or settings.FIRESTORE_ENABLED:
        checks["firestore"] = _firestore_check
    if settings.MEILISEARCH_URL:
        checks["meilisearch"] = _meilisearch_check
    return checks


def _run(name: str, check: Callable[[float], None], timeout: float) -> CheckResult:
    started = time.perf_counter()
    try:
        check(timeout)
    except Exception as exc:
        logger.warning("Readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
        return CheckResult(name, False, _ms_since(started), type(exc).__name__)
    return CheckResult(name, True, _ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def readiness_check_all() -> list[CheckResult]:
    """Every configured check, run at once; a check still running at the deadline counts as failed."""
    timeout = settings.READINESS_TIMEOUT_SECONDS
    checks = readiness_checks()
    started = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readiness")
    futures = {name: pool.submit(_run, name, check, timeout) for name, check in checks.items()}
    done, _ = wait(futures.values(), timeout=timeout + DEADLINE_GRACE_SECONDS)
    # Not waiting for a hung check: its thread ends when its own timeout fires.
    pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for name, future in futures.items():
        if future in done:
            results.append(future.result())
        else:
            logger.warning("Readiness check %s did not answer within %ss", name, timeout)
            results.append(CheckResult(name, False, _ms_since(started), "Timeout"))
    return results
