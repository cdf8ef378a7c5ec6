"""`Client` and `AsyncClient`: every endpoint, safe retries, polling and paging.

Each operation is written once, as a generator that yields the HTTP calls and pauses it needs and
receives their answers; the sync and the async client only drive it. So the two cannot drift.

Retries are only where they cannot charge twice: reads, the free estimate, and submits, which
always carry an `Idempotency-Key` (one per call unless given) so the service replays the first
answer. A lookup that charges is retried only when it surely did not run: the connection was never
made, or the rate limiter refused it (429 with `Retry-After`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from ecore_client import __version__
from ecore_client.errors import (
    ConnectionFailed,
    EcoreError,
    InsufficientCredits,
    JobFailed,
    WaitTimedOut,
    decimal_or_none,
    error_for,
    retry_after_seconds,
)
from ecore_client.models import (
    Account,
    BulkSubmission,
    Estimate,
    JobStatus,
    JobSummary,
    Lookup,
    PersonCompany,
    Submission,
)
from ecore_client.records import rows_as_jsonl

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_RETRY_AFTER_SECONDS = 60.0
RESULTS_PAGE_SIZE = 1000  # the largest page the service serves

# How a call may be retried.
SAFE = "safe"  # a read, or a write the service deduplicates: any failure
ONCE = "once"  # a write that may charge: only when it surely did not run


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 4
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 20.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
        base = min(self.backoff_seconds * 2 ** attempt, self.max_backoff_seconds)
        return base * (1 + random.random() / 2)


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    retry: str = SAFE
    json: Any = None
    params: dict | None = None
    files: dict | None = None
    data: dict | None = None
    headers: dict | None = None
    lookup: bool = False  # counted by the per-token rate limiter


@dataclass(frozen=True)
class _Pause:
    seconds: float


Operation = Generator["_Call | _Pause", Any, Any]


def _transport_retryable(call: _Call, exc: httpx.TransportError) -> bool:
    if call.retry == SAFE:
        return True
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))  # the request never left


def _status_retryable(call: _Call, response: httpx.Response) -> bool:
    status = response.status_code
    if status == 429:
        # The rate limiter refused before any work and says when to come back; a spent daily
        # quota (no Retry-After) does not come back today.
        return retry_after_seconds(response.headers) is not None
    if call.retry == SAFE:
        # 409: the first request with this Idempotency-Key is still being processed.
        return status in (409, 502, 503, 504)
    return False


class _RateGate:
    """Spaces lookups so they stay under the token's rate limit, from the headers of the last answer."""

    def __init__(self):
        self._lock = threading.Lock()
        self._next_at = 0.0

    def wait_seconds(self) -> float:
        with self._lock:
            return max(0.0, self._next_at - time.monotonic())

    def observe(self, response: httpx.Response) -> None:
        try:
            limit = int(response.headers["X-RateLimit-Limit"])
            remaining = int(response.headers["X-RateLimit-Remaining"])
        except (KeyError, ValueError):
            return
        if remaining <= 0 and limit > 0:
            with self._lock:
                self._next_at = max(self._next_at, time.monotonic() + 1.0 / limit)


def _submission_body(*, type: str, level: str, fields: Sequence[str], criteria: dict | None,
                     min_confidence: int | None, webhook_url: str | None, **options) -> dict:
    """The parameters as Submit takes them; `options` are further ones by name (`max_age_days`,
    `accept_catch_all`), sent when not None."""
    body = {"type": type, "level": level, "fields_to_enrich": list(fields)}
    optional = {"criteria": criteria, "min_confidence": min_confidence, "webhook_url": webhook_url, **options}
    body.update({name: value for name, value in optional.items() if value is not None})
    return body


def _submission_call(path: str, *, records, file, body: dict, headers: dict | None = None) -> _Call:
    """Submit and Estimate take records as JSON or a file as a multipart form (the seed's two modes)."""
    if (records is None) == (file is None):
        raise ValueError("Give either records or a file.")
    if records is not None:
        return _Call("POST", path, json={**body, "data": list(records)}, headers=headers)
    path_of_file = Path(file)
    form = {key: (",".join(value) if key == "fields_to_enrich" else
                  json.dumps(value) if isinstance(value, dict) else str(value))
            for key, value in body.items()}
    # Bytes, not an open file: a retried upload sends the same bytes again.
    return _Call("POST", path, data=form, files={"file": (path_of_file.name, path_of_file.read_bytes())},
                 headers=headers)


RECORD_NUMBER = re.compile(r"^Record (\d+):")


def _locate(error: EcoreError, *, first: int, last: int, total: int) -> EcoreError:
    """Says which records of the whole input a part's error is about (1-based), when it is not all of them."""
    error.records = (first, last)
    number = RECORD_NUMBER.match(str(error.body.get("data", ""))) if isinstance(error.body, dict) else None
    error.record_number = first + int(number[1]) - 1 if number else None
    if error.record_number is not None and total > last - first + 1:
        where = f"record {error.record_number}"
    elif total > last - first + 1:
        where = f"records {first}–{last}"
    else:
        return error
    error.message = f"{error.message} ({where} of the input)"
    error.args = (error.message,)
    return error


class _Operations:
    """The operations, as generators; see the module's docstring."""

    def _retry_delay(self, call: _Call, attempt: int, *, response: httpx.Response | None = None,
                     failure: httpx.TransportError | None = None) -> float:
        """How long to wait before trying `call` again after this failed attempt; raises when it must not be."""
        last = attempt + 1 >= self.retry.tries
        if failure is not None:
            if last or not _transport_retryable(call, failure):
                raise ConnectionFailed(
                    f"{call.method} {self.base_url}{call.url}: {failure or type(failure).__name__}") from failure
            return self.retry.delay(attempt)
        if last or not _status_retryable(call, response):
            raise error_for(response)
        return self.retry.delay(attempt, retry_after_seconds(response.headers))

    def _op_submit(self, records=None, *, file=None, type: str, level: str, fields: Sequence[str],
                   criteria: dict | None = None, min_confidence: int | None = None, webhook_url: str | None = None,
                   idempotency_key: str | None = None, **extra) -> Operation:
        body = _submission_body(type=type, level=level, fields=fields, criteria=criteria,
                                min_confidence=min_confidence, webhook_url=webhook_url, **extra)
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        response = yield _submission_call("api/v1/enrichment/submit/", records=records, file=file, body=body,
                                          headers=headers)
        return Submission.from_response(response.json(),
                                        replayed=response.headers.get("Idempotent-Replayed") == "true")

    def _op_estimate(self, records=None, *, file=None, type: str, level: str, fields: Sequence[str],
                     criteria: dict | None = None, min_confidence: int | None = None, **extra) -> Operation:
        body = _submission_body(type=type, level=level, fields=fields, criteria=criteria,
                                min_confidence=min_confidence, webhook_url=None, **extra)
        response = yield _submission_call("api/v1/enrichment/estimate/", records=records, file=file, body=body)
        return Estimate.from_response(response.json())

    def _op_bulk_estimate(self, records: Sequence[dict], *, chunk_size: int | None, **options) -> Operation:
        """(chunk size, one Estimate per chunk): validates every chunk before anything is submitted."""
        if not records:
            raise ValueError("No records to submit.")
        if chunk_size is None:
            chunk_size = (yield from self._op_account()).records_per_submission
        estimates = []
        for start in range(0, len(records), chunk_size):
            chunk = records[start:start + chunk_size]
            try:
                estimates.append((yield from self._op_estimate(chunk, **options)))
            except EcoreError as error:
                raise _locate(error, first=start + 1, last=start + len(chunk), total=len(records)) from None
        return chunk_size, estimates

    def _op_bulk(self, records: Sequence[dict], *, type: str, level: str, fields: Sequence[str],
                 criteria: dict | None = None, min_confidence: int | None = None, webhook_url: str | None = None,
                 chunk_size: int | None = None, idempotency_key: str | None = None,
                 on_submitted: Callable[[Submission], None] | None = None, **extra) -> Operation:
        records = list(records)
        options = {"type": type, "level": level, "fields": fields, "criteria": criteria,
                   "min_confidence": min_confidence, **extra}
        chunk_size, estimates = yield from self._op_bulk_estimate(records, chunk_size=chunk_size, **options)
        required = sum((estimate.exact_credits for estimate in estimates), Decimal(0))
        available = estimates[-1].wallet_balance
        if required > available:
            message = f"You require {_credits_text(required)} credits, but only {_credits_text(available)} are available."
            raise InsufficientCredits(message, status_code=402, body={"error": message})
        key = idempotency_key or uuid.uuid4().hex
        submissions = []
        for index, start in enumerate(range(0, len(records), chunk_size)):
            chunk = records[start:start + chunk_size]
            try:
                submission = yield from self._op_submit(chunk, webhook_url=webhook_url,
                                                        idempotency_key=f"{key}-{index}", **options)
            except EcoreError as error:
                raise _locate(error, first=start + 1, last=start + len(chunk), total=len(records)) from None
            submissions.append(submission)
            if on_submitted is not None:
                on_submitted(submission)
        return BulkSubmission(submissions=submissions, chunk_size=chunk_size)

    def _op_status(self, job_id: str) -> Operation:
        response = yield _Call("GET", f"api/v1/enrichment/status/{job_id}/")
        return JobStatus.from_response(response.json())

    def _op_jobs(self, *, status: str | None = None, page_size: int = 20) -> Operation:
        params = {"page_size": page_size, **({"status": status} if status else {})}
        response = yield _Call("GET", "api/v1/enrichment/status/", params=params)
        return [JobSummary.from_response(item) for item in response.json()["results"]]

    def _op_wait(self, job_ids: Sequence[str], *, interval: float, max_interval: float, timeout: float | None,
                 on_progress: Callable[[list[JobStatus]], None] | None, raise_on_failure: bool) -> Operation:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause, last_seen = interval, None
        while True:
            statuses = []
            for job_id in job_ids:
                statuses.append((yield from self._op_status(job_id)))
            if on_progress is not None:
                on_progress(statuses)
            if all(status.finished for status in statuses):
                failed = [status for status in statuses if status.status == "Failure"]
                if failed and raise_on_failure:
                    reason = (failed[0].failure or {}).get("reason") or "no reason given"
                    raise JobFailed(f"Job {failed[0].job_id} failed: {reason}", status=failed[0])
                return statuses
            seen = [(status.status, status.rows_processed) for status in statuses]
            pause = interval if seen != last_seen else min(pause * 1.5, max_interval)
            last_seen = seen
            if deadline is not None and time.monotonic() + pause > deadline:
                raise WaitTimedOut(f"Gave up waiting after {timeout:g} s; the job goes on.")
            yield _Pause(pause)

    def _op_results_page(self, url: str, params: dict | None) -> Operation:
        response = yield _Call("GET", url, params=params)
        body = response.json()
        return body["results"], body.get("next")

    def _op_download(self, job_id: str, *, format: str) -> Operation:
        if format == "jsonl":
            rows, url, params = [], f"api/v1/enrichment/results/{job_id}/", {"page_size": RESULTS_PAGE_SIZE}
            while url:
                page, url = yield from self._op_results_page(url, params)
                rows.extend(page)
                params = None  # `next` carries them
            return rows_as_jsonl(rows)
        if format not in ("csv", "xlsx"):
            raise ValueError("format is csv, xlsx or jsonl")
        response = yield _Call("GET", f"api/v1/enrichment/results/{job_id}/", params={"format": format})
        return response.content

    def _op_control(self, job_id: str, action: str, *, retry: str) -> Operation:
        response = yield _Call("POST", "api/v1/enrichment-control/", json={"job_id": job_id, "action": action},
                               retry=retry)
        return response.json()

    def _op_lookup(self, path: str, **inputs) -> Operation:
        body = {name: value for name, value in inputs.items() if value is not None}
        response = yield _Call("POST", path, json=body, retry=ONCE, lookup=True)
        charged = decimal_or_none(response.headers.get("X-Credits-Charged")) or Decimal(0)
        return Lookup.from_response(response.json(), charged=charged)

    def _op_person_company(self, *, person: dict | None = None, company: dict | None = None,
                           external_id: str | None = None, custom_fields: list | None = None,
                           fields_to_enrich: Sequence[str] | None = None,
                           min_confidence: int | None = None) -> Operation:
        body = {"person": person, "company": company, "external_id": external_id, "custom_fields": custom_fields,
                "fields_to_enrich": list(fields_to_enrich) if fields_to_enrich is not None else None,
                "min_confidence": min_confidence}
        response = yield _Call("POST", "api/v1/enrichment/single/",
                               json={key: value for key, value in body.items() if value is not None},
                               retry=ONCE, lookup=True)
        return PersonCompany.from_response(response.json())

    def _op_usage(self, *, group_by: str, start: str | None, end: str | None) -> Operation:
        params = {"group_by": group_by, "page_size": 1000, **({"from": start} if start else {}),
                  **({"to": end} if end else {})}
        rows, url = [], "api/v1/account/usage/"
        while url:
            page, url = yield from self._op_results_page(url, params)
            rows.extend(page)
            params = None
        return rows

    def _op_account(self) -> Operation:
        response = yield _Call("GET", "api/v1/account/")
        return Account.from_response(response.json())


def _credits_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _settings(base_url: str | None, token: str | None) -> tuple[str, str]:
    base_url = base_url or os.environ.get("ECORE_URL") or DEFAULT_URL
    token = token or os.environ.get("ECORE_TOKEN")
    if not token:
        raise ValueError("No API token: pass token= or set ECORE_TOKEN.")
    return base_url.rstrip("/") + "/", token


def _headers(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json",
            "User-Agent": f"ecore-client/{__version__}"}


class Client(_Operations):
    """The eCore API, synchronously. `base_url` and `token` default to `ECORE_URL` and `ECORE_TOKEN`.

    >>> with Client() as ecore:
    ...     job = ecore.submit(records, type="contact", level="standard", fields=["contact_email"])
    ...     ecore.wait(job.job_id)
    ...     rows = list(ecore.results(job.job_id))
    """

    def __init__(self, base_url: str | None = None, token: str | None = None, *, timeout: float = 60.0,
                 retry: RetryPolicy = RetryPolicy(), transport: httpx.BaseTransport | None = None):
        base_url, token = _settings(base_url, token)
        self.base_url = base_url
        self.retry = retry
        self._gate = _RateGate()
        self._http = httpx.Client(base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- the driver ---------------------------------------------------------------------------

    def _run(self, operation: Operation):
        try:
            step = operation.send(None)
            while True:
                if isinstance(step, _Pause):
                    time.sleep(step.seconds)
                    step = operation.send(None)
                    continue
                try:
                    reply = self._send(step)
                except EcoreError as error:
                    step = operation.throw(error)
                else:
                    step = operation.send(reply)
        except StopIteration as done:
            return done.value

    def _send(self, call: _Call) -> httpx.Response:
        for attempt in itertools.count():
            if call.lookup:
                time.sleep(self._gate.wait_seconds())
            try:
                response = self._http.request(call.method, call.url, json=call.json, params=call.params,
                                              files=call.files, data=call.data, headers=call.headers)
            except httpx.TransportError as exc:
                time.sleep(self._retry_delay(call, attempt, failure=exc))
                continue
            if call.lookup:
                self._gate.observe(response)
            if response.is_success:
                return response
            time.sleep(self._retry_delay(call, attempt, response=response))

    # --- jobs ---------------------------------------------------------------------------------

    def submit(self, records: Sequence[dict] | None = None, *, file: str | os.PathLike | None = None,
               type: str = "contact", level: str = "standard", fields: Sequence[str], criteria: dict | None = None,
               min_confidence: int | None = None, webhook_url: str | None = None,
               idempotency_key: str | None = None, **extra) -> Submission:
        """One job of at most the plan's records (500 at most), as JSON records or a CSV/Excel file.

        `extra` are further Submit parameters by name, e.g. `max_age_days=90`, `accept_catch_all=False`.
        """
        return self._run(self._op_submit(records, file=file, type=type, level=level, fields=fields,
                                         criteria=criteria, min_confidence=min_confidence,
                                         webhook_url=webhook_url, idempotency_key=idempotency_key, **extra))

    def estimate(self, records: Sequence[dict] | None = None, *, file: str | os.PathLike | None = None,
                 type: str = "contact", level: str = "standard", fields: Sequence[str],
                 criteria: dict | None = None, min_confidence: int | None = None, **extra) -> Estimate:
        """What `submit` would charge, validated as Submit validates; free."""
        return self._run(self._op_estimate(records, file=file, type=type, level=level, fields=fields,
                                           criteria=criteria, min_confidence=min_confidence, **extra))

    def bulk_estimate(self, records: Sequence[dict], *, type: str = "contact", level: str = "standard",
                      fields: Sequence[str], criteria: dict | None = None, min_confidence: int | None = None,
                      chunk_size: int | None = None, **extra) -> list[Estimate]:
        """One estimate per submission `bulk` would make."""
        return self._run(self._op_bulk_estimate(list(records), chunk_size=chunk_size, type=type, level=level,
                                                fields=fields, criteria=criteria, min_confidence=min_confidence,
                                                **extra))[1]

    def bulk(self, records: Sequence[dict], *, type: str = "contact", level: str = "standard",
             fields: Sequence[str], criteria: dict | None = None, min_confidence: int | None = None,
             webhook_url: str | None = None, chunk_size: int | None = None, idempotency_key: str | None = None,
             on_submitted: Callable[[Submission], None] | None = None, **extra) -> BulkSubmission:
        """Any number of records, as submissions of the plan's records per submission each.

        Every submission is estimated (validated) first, and the total checked against the
        balance, so a bad record or a short wallet submits nothing. Each submission's
        Idempotency-Key is `idempotency_key` plus its index: calling again with the same key
        replays the jobs already made instead of making new ones.
        """
        return self._run(self._op_bulk(records, type=type, level=level, fields=fields, criteria=criteria,
                                       min_confidence=min_confidence, webhook_url=webhook_url,
                                       chunk_size=chunk_size, idempotency_key=idempotency_key,
                                       on_submitted=on_submitted, **extra))

    def status(self, job_id: str) -> JobStatus:
        return self._run(self._op_status(job_id))

    def jobs(self, *, status: str | None = None, page_size: int = 20) -> list[JobSummary]:
        """The newest jobs first."""
        return self._run(self._op_jobs(status=status, page_size=page_size))

    def wait(self, job_id: str, *, interval: float = 1.0, max_interval: float = 10.0, timeout: float | None = None,
             on_progress: Callable[[JobStatus], None] | None = None, raise_on_failure: bool = True) -> JobStatus:
        """Polls until the job is completed, failed or paused; `on_progress` gets every status read."""
        callback = None if on_progress is None else (lambda statuses: on_progress(statuses[0]))
        return self._run(self._op_wait([job_id], interval=interval, max_interval=max_interval, timeout=timeout,
                                       on_progress=callback, raise_on_failure=raise_on_failure))[0]

    def wait_all(self, job_ids: Sequence[str], *, interval: float = 1.0, max_interval: float = 10.0,
                 timeout: float | None = None, on_progress: Callable[[list[JobStatus]], None] | None = None,
                 raise_on_failure: bool = True) -> list[JobStatus]:
        return self._run(self._op_wait(list(job_ids), interval=interval, max_interval=max_interval, timeout=timeout,
                                       on_progress=on_progress, raise_on_failure=raise_on_failure))

    def results(self, job_id: str, *, page_size: int = RESULTS_PAGE_SIZE) -> Iterator[dict]:
        """Every result row, in input order, page after page."""
        url, params = f"api/v1/enrichment/results/{job_id}/", {"page_size": page_size}
        while url:
            page, url = self._run(self._op_results_page(url, params))
            params = None
            yield from page

    def results_page(self, job_id: str, *, page: int = 1, page_size: int = 100) -> tuple[list[dict], bool]:
        """One page of result rows and whether there are more."""
        rows, next_url = self._run(self._op_results_page(
            f"api/v1/enrichment/results/{job_id}/", {"page": page, "page_size": page_size}))
        return rows, next_url is not None

    def download(self, job_id: str, *, format: str = "csv", path: str | os.PathLike | None = None) -> bytes:
        """The results as CSV or XLSX (rendered by the service) or JSON Lines; written to `path` if given."""
        content = self._run(self._op_download(job_id, format=format))
        if path is not None:
            Path(path).write_bytes(content)
        return content

    def pause(self, job_id: str) -> dict:
        return self._run(self._op_control(job_id, "pause", retry=SAFE))

    def resume(self, job_id: str) -> dict:
        """Resumes a paused job; the service charges the remaining rows at current prices."""
        return self._run(self._op_control(job_id, "resume", retry=ONCE))

    # --- single lookups -----------------------------------------------------------------------

    def phone(self, *, linkedin_url: str | None = None, email: str | None = None, first_name: str | None = None,
              last_name: str | None = None, company_name: str | None = None, company_website: str | None = None,
              min_confidence: int | None = None) -> Lookup:
        """A phone for one person (charged only when found)."""
        return self._run(self._op_lookup("api/v1/external/phone/enrichment/", linkedin_url=linkedin_url, email=email,
                                         first_name=first_name, last_name=last_name, company_name=company_name,
                                         company_website=company_website, min_confidence=min_confidence))

    def email(self, *, linkedin_url: str | None = None, email: str | None = None, first_name: str | None = None,
              last_name: str | None = None, company_name: str | None = None, company_website: str | None = None,
              min_confidence: int | None = None) -> Lookup:
        """A deliverable email for one person (charged only when found)."""
        return self._run(self._op_lookup("api/v1/external/email/enrichment/", linkedin_url=linkedin_url, email=email,
                                         first_name=first_name, last_name=last_name, company_name=company_name,
                                         company_website=company_website, min_confidence=min_confidence))

    def person_company(self, *, person: dict | None = None, company: dict | None = None,
                       external_id: str | None = None, custom_fields: list | None = None,
                       fields_to_enrich: Sequence[str] | None = None,
                       min_confidence: int | None = None) -> PersonCompany:
        return self._run(self._op_person_company(person=person, company=company, external_id=external_id,
                                                 custom_fields=custom_fields, fields_to_enrich=fields_to_enrich,
                                                 min_confidence=min_confidence))

    def account(self) -> Account:
        return self._run(self._op_account())

    def usage(self, *, group_by: str = "day", start: str | None = None, end: str | None = None) -> list[dict]:
        """Credits charged, refunded and net, rows and lookups per `day`, `job` or `endpoint`; `start`/`end`
        are UTC days (YYYY-MM-DD), both included."""
        return self._run(self._op_usage(group_by=group_by, start=start, end=end))


class AsyncClient(_Operations):
    """The same API as `Client`, with `await`: `async with AsyncClient() as ecore: await ecore.status(id)`."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *, timeout: float = 60.0,
                 retry: RetryPolicy = RetryPolicy(), transport: httpx.AsyncBaseTransport | None = None):
        base_url, token = _settings(base_url, token)
        self.base_url = base_url
        self.retry = retry
        self._gate = _RateGate()
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(token), timeout=timeout,
                                       transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, operation: Operation):
        try:
            step = operation.send(None)
            while True:
                if isinstance(step, _Pause):
                    await asyncio.sleep(step.seconds)
                    step = operation.send(None)
                    continue
                try:
                    reply = await self._send(step)
                except EcoreError as error:
                    step = operation.throw(error)
                else:
                    step = operation.send(reply)
        except StopIteration as done:
            return done.value

    async def _send(self, call: _Call) -> httpx.Response:
        for attempt in itertools.count():
            if call.lookup:
                await asyncio.sleep(self._gate.wait_seconds())
            try:
                response = await self._http.request(call.method, call.url, json=call.json, params=call.params,
                                                    files=call.files, data=call.data, headers=call.headers)
            except httpx.TransportError as exc:
                await asyncio.sleep(self._retry_delay(call, attempt, failure=exc))
                continue
            if call.lookup:
                self._gate.observe(response)
            if response.is_success:
                return response
            await asyncio.sleep(self._retry_delay(call, attempt, response=response))

    async def submit(self, records: Sequence[dict] | None = None, *, file=None, type: str = "contact",
                     level: str = "standard", fields: Sequence[str], criteria: dict | None = None,
                     min_confidence: int | None = None, webhook_url: str | None = None,
                     idempotency_key: str | None = None, **extra) -> Submission:
        return await self._run(self._op_submit(records, file=file, type=type, level=level, fields=fields,
                                               criteria=criteria, min_confidence=min_confidence,
                                               webhook_url=webhook_url, idempotency_key=idempotency_key, **extra))

    async def estimate(self, records: Sequence[dict] | None = None, *, file=None, type: str = "contact",
                       level: str = "standard", fields: Sequence[str], criteria: dict | None = None,
                       min_confidence: int | None = None, **extra) -> Estimate:
        return await self._run(self._op_estimate(records, file=file, type=type, level=level, fields=fields,
                                                 criteria=criteria, min_confidence=min_confidence, **extra))

    async def bulk(self, records: Sequence[dict], *, type: str = "contact", level: str = "standard",
                   fields: Sequence[str], criteria: dict | None = None, min_confidence: int | None = None,
                   webhook_url: str | None = None, chunk_size: int | None = None,
                   idempotency_key: str | None = None,
                   on_submitted: Callable[[Submission], None] | None = None, **extra) -> BulkSubmission:
        return await self._run(self._op_bulk(records, type=type, level=level, fields=fields, criteria=criteria,
                                             min_confidence=min_confidence, webhook_url=webhook_url,
                                             chunk_size=chunk_size, idempotency_key=idempotency_key,
                                             on_submitted=on_submitted, **extra))

    async def status(self, job_id: str) -> JobStatus:
        return await self._run(self._op_status(job_id))

    async def jobs(self, *, status: str | None = None, page_size: int = 20) -> list[JobSummary]:
        return await self._run(self._op_jobs(status=status, page_size=page_size))

    async def wait(self, job_id: str, *, interval: float = 1.0, max_interval: float = 10.0,
                   timeout: float | None = None, on_progress: Callable[[JobStatus], None] | None = None,
                   raise_on_failure: bool = True) -> JobStatus:
        callback = None if on_progress is None else (lambda statuses: on_progress(statuses[0]))
        return (await self._run(self._op_wait([job_id], interval=interval, max_interval=max_interval,
                                              timeout=timeout, on_progress=callback,
                                              raise_on_failure=raise_on_failure)))[0]

    async def results(self, job_id: str, *, page_size: int = RESULTS_PAGE_SIZE) -> AsyncIterator[dict]:
        url, params = f"api/v1/enrichment/results/{job_id}/", {"page_size": page_size}
        while url:
            page, url = await self._run(self._op_results_page(url, params))
            params = None
            for row in page:
                yield row

    async def results_page(self, job_id: str, *, page: int = 1, page_size: int = 100) -> tuple[list[dict], bool]:
        """One page of result rows and whether there are more."""
        rows, next_url = await self._run(self._op_results_page(
            f"api/v1/enrichment/results/{job_id}/", {"page": page, "page_size": page_size}))
        return rows, next_url is not None

    async def download(self, job_id: str, *, format: str = "csv") -> bytes:
        return await self._run(self._op_download(job_id, format=format))

    async def pause(self, job_id: str) -> dict:
        return await self._run(self._op_control(job_id, "pause", retry=SAFE))

    async def resume(self, job_id: str) -> dict:
        return await self._run(self._op_control(job_id, "resume", retry=ONCE))

    async def phone(self, **inputs) -> Lookup:
        """The inputs of `Client.phone`."""
        return await self._run(self._op_lookup("api/v1/external/phone/enrichment/", **inputs))

    async def email(self, **inputs) -> Lookup:
        """The inputs of `Client.email`."""
        return await self._run(self._op_lookup("api/v1/external/email/enrichment/", **inputs))

    async def person_company(self, **inputs) -> PersonCompany:
        """The inputs of `Client.person_company`."""
        return await self._run(self._op_person_company(**inputs))

    async def account(self) -> Account:
        return await self._run(self._op_account())

    async def usage(self, *, group_by: str = "day", start: str | None = None, end: str | None = None) -> list[dict]:
        return await self._run(self._op_usage(group_by=group_by, start=start, end=end))


