"""The HTTP access every paid provider shares: timeouts, bounded retries, the job's call budget, a breaker.

A provider that is down, slow or out of budget never fails a job: each call either answers or raises
`ProviderUnavailable` with a reason the stage writes on the row (`row.notes["serper"] = reason`).
"""

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

from ecore.metrics import PROVIDER_REQUESTS

# Long enough to outlive any job (the Celery task's hard limit is an hour).
BUDGET_TTL_SECONDS = 2 * 24 * 3600
MAX_RETRY_AFTER_SECONDS = 10.0


class ProviderUnavailable(Exception):
    """The provider gave no usable answer to this call; `reason` says why, for the row's notes."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderPolicy:
    """How hard one stage run tries a provider: per-attempt timeout, tries, backoff, calls per job, deadline."""

    timeout: float
    max_tries: int
    backoff_seconds: float
    budget_per_job: int
    deadline: float | None = None  # time.monotonic() after which no call starts

    @classmethod
    def from_settings(cls, *, deadline: float | None = None) -> "ProviderPolicy":
        return cls(timeout=settings.PRO_PROVIDER_TIMEOUT_SECONDS, max_tries=settings.PRO_PROVIDER_MAX_TRIES,
                   backoff_seconds=settings.PRO_PROVIDER_BACKOFF_SECONDS,
                   budget_per_job=settings.PRO_PROVIDER_BUDGET_PER_JOB, deadline=deadline)


class JobCallBudget:
    """One provider's calls for one job, counted in Redis so batches, workers and redeliveries share it."""

    def __init__(self, *, provider: str, job_id, limit: int):
        self.key = f"pro:calls:{job_id}:{provider}"
        self.limit = limit

    def take(self) -> bool:
        try:
            cache.add(self.key, 0, timeout=BUDGET_TTL_SECONDS)
            if cache.incr(self.key) <= self.limit:
                return True
        except ValueError:
            # The cache is down (or lost the counter): the budget cannot be counted, so the call goes
            # ahead; the breaker and the batch's deadline still bound a job's calls.
            return True
        cache.decr(self.key)
        return False

    def used(self) -> int:
        return cache.get(self.key, 0)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(float(response.headers.get("Retry-After", "")), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return None


class ProviderHttp:
    """One provider's HTTP client for one stage run.

    Each `call` is one budgeted call: it retries timeouts, connection failures, 429 and 5xx with
    exponential backoff up to `max_tries` attempts. After `max_tries` failed attempts in a row, counted
    over all calls, the breaker opens and the run's calls fail at once with the same reason, so a
    provider that is down costs a batch `max_tries` attempts, not three per row. Thread-safe, for
    `map_concurrently`: until the provider has answered once, and while its attempts are failing, no
    more attempts are in flight than could still be needed to open the breaker, so concurrent calls
    do not overshoot it.
    """

    def __init__(self, *, name: str, base_url: str, job_id, policy: ProviderPolicy, headers: dict | None = None,
                 proxy: httpx.Proxy | None = None):
        self.name = name
        self.policy = policy
        # Without a job (a validation outside any job) only the breaker and the tries bound the calls.
        self.budget = None if job_id is None else JobCallBudget(provider=name, job_id=job_id,
                                                                limit=policy.budget_per_job)
        self.calls_made = 0
        self.down_reason = ""
        self._failures_in_a_row = 0
        self._attempts_in_flight = 0
        self._answered = False
        self._attempts = threading.Condition()
        self._client_options = {"base_url": base_url, "headers": headers or {}, "proxy": proxy,
                                "timeout": policy.timeout, "follow_redirects": True}
        self._client_lock = threading.Lock()
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None or self._client.is_closed:
                self._client = httpx.Client(**self._client_options)
            return self._client

    def close(self) -> None:
        """Closes the connections; a later call opens new ones."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()

    def _remaining(self) -> float:
        if self.policy.deadline is None:
            return float("inf")
        return self.policy.deadline - time.monotonic()

    def unavailable(self, reason: str) -> ProviderUnavailable:
        """The error to raise for a call that got no usable answer; the rest of the run's calls fail fast."""
        self.down_reason = self.down_reason or reason
        return ProviderUnavailable(reason)

    def _start_attempt(self) -> bool:
        """Waits for room to try; False once the breaker is open or the batch's time ran out."""
        with self._attempts:
            while not self.down_reason and self._remaining() > 0:
                if (self._answered and self._failures_in_a_row == 0) or (
                        self._failures_in_a_row + self._attempts_in_flight < self.policy.max_tries):
                    self._attempts_in_flight += 1
                    return True
                self._attempts.wait(timeout=min(self.policy.timeout, max(self._remaining(), 0.0)))
            return False

    def _skipped(self) -> None:
        """A call that sends nothing: the breaker is open, the job's budget spent or the batch's time over."""
        PROVIDER_REQUESTS.labels(provider=self.name, outcome="skipped").inc()

    def _end_attempt(self, failure: str | None, outcome: str) -> None:
        """Counts an attempt's outcome; `max_tries` failures in a row, over all calls, open the breaker."""
        PROVIDER_REQUESTS.labels(provider=self.name, outcome=outcome).inc()
        with self._attempts:
            self._attempts_in_flight -= 1
            if failure is None:
                self._answered = True
                self._failures_in_a_row = 0
            else:
                self._failures_in_a_row += 1
                if self._failures_in_a_row >= self.policy.max_tries:
                    self.down_reason = self.down_reason or (
                        f"unavailable: {failure} after {self._failures_in_a_row} tries")
            self._attempts.notify_all()

    def call(self, method: str, url: str, *, accept: Iterable[int] = (200,), **request) -> httpx.Response:
        """A response whose status is in `accept`, or ProviderUnavailable."""
        if self.down_reason:
            self._skipped()
            raise ProviderUnavailable(self.down_reason)
        if self._remaining() <= 0:
            self._skipped()
            raise self.unavailable("skipped: the batch's time for providers ran out")
        if self.budget is not None and not self.budget.take():
            self._skipped()
            raise self.unavailable(f"skipped: the job's budget of {self.policy.budget_per_job} calls is spent")
        self.calls_made += 1
        accept = set(accept)
        for attempt in range(self.policy.max_tries):
            if not self._start_attempt():
                if attempt == 0:
                    self._skipped()
                break
            wait = self.policy.backoff_seconds * 2 ** attempt * (1 + random.random() / 2)
            try:
                response = self.client.request(method, url, timeout=max(0.001, min(self.policy.timeout, self._remaining())),
                                               **request)
            except httpx.TimeoutException:
                self._end_attempt("timed out", "timeout")
            except httpx.TransportError as exc:
                self._end_attempt(f"connection failed ({type(exc).__name__})", "connection_failed")
            else:
                if response.status_code in accept:
                    self._end_attempt(None, "answered")
                    return response
                if response.status_code != 429 and response.status_code < 500:
                    # Bad key, bad request: asking again gets the same answer.
                    self._end_attempt(None, "refused")
                    raise self.unavailable(f"unavailable: HTTP {response.status_code}")
                self._end_attempt(f"HTTP {response.status_code}",
                                  "throttled" if response.status_code == 429 else "server_error")
                wait = _retry_after(response) or wait
            if attempt + 1 < self.policy.max_tries:
                time.sleep(max(0.0, min(wait, self._remaining())))
        raise self.unavailable(self.down_reason or "skipped: the batch's time for providers ran out")

    def call_json(self, method: str, url: str, *, accept: Iterable[int] = (200,), **request):
        """(status code, decoded JSON body) of an accepted response, or ProviderUnavailable."""
        response = self.call(method, url, accept=accept, **request)
        try:
            return response.status_code, response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.unavailable("unavailable: malformed JSON in the response") from None

    def map_concurrently(self, call: Callable, items: list) -> list:
        """`call(item)` for every item on a small bounded pool; each result or the ProviderUnavailable it raised."""
        def guarded(item):
            try:
                return call(item)
            except ProviderUnavailable as exc:
                return exc

        if len(items) <= 1:
            return [guarded(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(settings.PRO_PROVIDER_CONCURRENCY, len(items)),
                                thread_name_prefix=f"pro-{self.name}") as pool:
            return list(pool.map(guarded, items))
