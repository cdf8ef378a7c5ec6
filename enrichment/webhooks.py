"""Job webhooks: signed POSTs of a job's status document on completion, failure and pause.

Signatures follow Stripe's scheme: `X-Ecore-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" keyed with the user's webhook secret>`, so a receiver can verify the body and
refuse a replay whose timestamp is outside its tolerance.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecore.metrics import WEBHOOK_DELIVERIES
from enrichment.models import Job, JobStatus, WebhookDelivery, WebhookSecret
from enrichment.selectors import job_status_document

logger = logging.getLogger(__name__)
events = structlog.get_logger(__name__)

EVENTS = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILURE: "job.failed",
    JobStatus.PAUSED: "job.paused",
}
SECRET_PREFIX = "whsec_"
RESPONSE_EXCERPT_BYTES = 1000
# How long an attempt owns its delivery: above the delivery task's time limit, so a second
# delivery of the same message cannot POST while the first is still waiting on the receiver.
ATTEMPT_CLAIM_SECONDS = 120
# A pending delivery this far past its due time lost its message (broker outage, worker killed).
LOST_AFTER_SECONDS = 60
# An attempt's outcome on ecore_webhook_deliveries_total: still pending after an attempt means it will be retried.
WEBHOOK_OUTCOMES = {WebhookDelivery.Status.DELIVERED: "delivered", WebhookDelivery.Status.PENDING: "retrying",
                    WebhookDelivery.Status.FAILED: "failed"}
PRIVATE_DESTINATION = "Webhook URLs must point to a public address; private, loopback and link-local ones are refused."


class WebhookDestinationRefused(Exception):
    """The receiver's address is not public and its host is not one the operator allows."""


def _allowed_hosts() -> list[str]:
    return [host.lower() for host in settings.WEBHOOK_ALLOWED_HTTP_HOSTS]


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def webhook_url_problem(url: str) -> str:
    """Why `url` cannot receive webhooks, or "" when it can.

    Only the operator's allowed hosts may be reached over plain http or at a private address: anything
    else would let a client make the worker POST into the operator's own network.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    allowed_hosts = _allowed_hosts()
    if host in allowed_hosts and parts.scheme in ("http", "https"):
        return ""
    if parts.scheme != "https":
        if not allowed_hosts:
            return "Webhook URLs must use https."
        return f"Webhook URLs must use https; plain http is only allowed to {', '.join(allowed_hosts)}."
    address = _literal_address(host)
    if _is_loopback_name(host) or (address is not None and not address.is_global):
        return PRIVATE_DESTINATION
    return ""


def webhook_destination(url: str) -> tuple[str, dict, dict]:
    """(URL, headers, request extensions) to POST to: the URL itself for an allowed host, else the URL with its
    host replaced by the public address it resolves to now, so a DNS answer that changes between this check
    and the connection cannot lead into a private network. Host header and TLS name stay the URL's own.

    Raises `WebhookDestinationRefused` when the host resolves to any address that is not public.
    """
    parts = httpx.URL(url)
    host = parts.host.lower()
    if host in _allowed_hosts():
        return url, {}, {}
    try:
        answers = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                     type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses = [ipaddress.ip_address(answer[4][0].split("%")[0]) for answer in answers]
    refused = [str(address) for address in addresses if not address.is_global]
    if refused or not addresses:
        raise WebhookDestinationRefused(f"{host} resolves to {', '.join(refused) or 'nothing'}, not a public address")
    host_header = parts.netloc.decode("ascii").rpartition("@")[2]
    return str(parts.copy_with(host=str(addresses[0]))), {"Host": host_header}, {"sni_hostname": host}


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_secret_for_user(*, user) -> WebhookSecret:
    """The user's signing secret, created on first use."""
    secret, _ = WebhookSecret.objects.get_or_create(user=user, defaults={"secret": _new_secret()})
    return secret


def webhook_secret_rotate(*, user) -> WebhookSecret:
    """Replaces the user's secret; deliveries from now on, retries included, are signed with the new one."""
    secret, _ = WebhookSecret.objects.update_or_create(
        user=user, defaults={"secret": _new_secret(), "created_at": timezone.now()})
    return secret


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def job_status_changed(job) -> None:
    """Called on every terminal or paused status; records the job's webhook event and sends it after commit.

    Webhook bookkeeping must never fail the job, so its errors are logged and swallowed here.
    """
    if not job.webhook_url or job.status not in EVENTS:
        return
    try:
        with transaction.atomic():
            delivery = webhook_delivery_create(job=Job.objects.get(pk=job.pk))
            transaction.on_commit(lambda: webhook_delivery_enqueue(delivery_id=delivery.pk))
    except Exception:
        logger.exception("Could not record the webhook event of job %s", job.job_id)


def webhook_delivery_create(*, job: Job) -> WebhookDelivery:
    delivery = WebhookDelivery(job=job, event=EVENTS[job.status], url=job.webhook_url)
    delivery.next_attempt_at = delivery.created_at
    delivery.payload = {
        "event_id": str(delivery.event_id),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": job_status_document(job),
    }
    delivery.save()
    return delivery


def webhook_delivery_enqueue(*, delivery_id: int, countdown: float = 0) -> None:
    """A broker outage only delays a delivery: the lost-webhook sweep enqueues it again."""
    # Imported here: the tasks call these services.
    from enrichment.webhook_tasks import deliver_webhook

    try:
        deliver_webhook.apply_async((delivery_id,), countdown=countdown)
    except Exception:
        logger.exception("Could not enqueue webhook delivery %s; the sweep will retry", delivery_id)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Takes a due pending delivery, or returns None: delivered, failed, not yet due, or being attempted.

    A conditional UPDATE, so of two deliveries of the same task exactly one POSTs.
    """
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + timedelta(seconds=ATTEMPT_CLAIM_SECONDS))
    return WebhookDelivery.objects.select_related("job__user").get(pk=delivery_id) if claimed else None


def _post(url: str, body: bytes, headers: dict) -> tuple[int, str]:
    """(status code, start of the response body); reads no more of the body than the excerpt keeps."""
    target, destination_headers, extensions = webhook_destination(url)
    with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client, \
            client.stream("POST", target, content=body, headers={**headers, **destination_headers},
                          extensions=extensions) as response:
        excerpt = b""
        for chunk in response.iter_bytes():
            excerpt += chunk
            if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                break
    return response.status_code, excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")


def retry_delay_seconds(attempts: int) -> int:
    """1 minute after the first failure, then doubling, capped."""
    return min(settings.WEBHOOK_RETRY_FIRST_DELAY_SECONDS * 2 ** (attempts - 1),
               settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS)


def webhook_delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """One POST of a due delivery, its outcome recorded; None when there was nothing to do."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    # The sweep's re-enqueued deliveries carry no job in their message: the attempt's lines name it.
    structlog.contextvars.bind_contextvars(job_id=str(delivery.job.job_id))
    deadline = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    if timezone.now() >= deadline:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
        delivery.save(update_fields=["status", "next_attempt_at"])
        WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    secret = webhook_secret_for_user(user=delivery.job.user).secret
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "eCore-Webhooks/1.0",
        "X-Ecore-Event-Id": str(delivery.event_id),
        "X-Ecore-Event": delivery.event,
        "X-Ecore-Timestamp": str(timestamp),
        "X-Ecore-Signature": webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    delivery.attempts += 1
    delivery.last_error = ""
    refused = False
    started = time.perf_counter()
    try:
        delivery.last_status_code, delivery.last_response_excerpt = _post(delivery.url, body, headers)
    except (httpx.HTTPError, httpx.InvalidURL, WebhookDestinationRefused) as exc:
        delivery.last_status_code, delivery.last_response_excerpt = None, ""
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        refused = isinstance(exc, WebhookDestinationRefused)
    now = timezone.now()
    retry_delay = retry_delay_seconds(delivery.attempts)
    if delivery.last_status_code is not None and 200 <= delivery.last_status_code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDelivery.Status.DELIVERED, now, None
    elif refused or now + timedelta(seconds=retry_delay) >= deadline:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=retry_delay)
    delivery.save(update_fields=["attempts", "status", "next_attempt_at", "delivered_at", "last_status_code",
                                 "last_response_excerpt", "last_error"])
    WEBHOOK_DELIVERIES.labels(outcome=WEBHOOK_OUTCOMES[delivery.status]).inc()
    events.info("webhook_attempted", webhook_event=delivery.event, outcome=WEBHOOK_OUTCOMES[delivery.status],
                attempt=delivery.attempts, status_code=delivery.last_status_code, error=delivery.last_error,
                duration_ms=round((time.perf_counter() - started) * 1000, 1))
    if delivery.status == WebhookDelivery.Status.PENDING:
        webhook_delivery_enqueue(delivery_id=delivery.pk, countdown=retry_delay)
    return delivery


def webhook_deliveries_retry_lost() -> int:
    """Enqueues again the pending deliveries whose message never ran; returns how many."""
    lost_before = timezone.now() - timedelta(seconds=LOST_AFTER_SECONDS)
    ids = list(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING,
                                              next_attempt_at__lt=lost_before).values_list("pk", flat=True))
    for delivery_id in ids:
        webhook_delivery_enqueue(delivery_id=delivery_id)
    return len(ids)
