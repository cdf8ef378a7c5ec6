"""Job webhooks: signed events a receiver can verify, retried with backoff, never holding up the job."""

import hashlib
import hmac
import json
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from enrichment.models import Job, WebhookDelivery
from enrichment.pipeline.runner import job_fail
from enrichment.tasks import run_enrichment_job
from enrichment.webhook_tasks import deliver_webhook
from enrichment.webhooks import WebhookDestinationRefused, webhook_destination
from tests.conftest import TEST_QUEUE
from tests.factories import make_company, make_person
from wallet.selectors import wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
SECRET = "/api/v1/account/webhook-secret/"
SIGNATURE_TOLERANCE_SECONDS = 300


class Receiver:
    """A webhook receiver on loopback: records each request and answers with the next scripted status."""

    def __init__(self, statuses=(200,), *, stall: bool = False):
        self.statuses = list(statuses)
        self.stall = stall
        self.release = threading.Event()
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ecore"

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                if receiver.stall:
                    receiver.release.wait(10)
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                answer = b'{"received": true}' if status < 300 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        return Handler

    @contextmanager
    def running(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.server.daemon_threads = True
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join(5)


def signature_is_valid(*, secret: str, header: str, body: bytes) -> bool:
    """What a receiver does: recompute the HMAC over "<t>.<body>" and refuse stale timestamps."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "https://www.acme.com")
    make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales")


@pytest.fixture
def broker_queue(redis_client):
    """The tasks waiting on the test queue, as (task name, args, headers)."""
    redis_client.delete(TEST_QUEUE)

    def read() -> list[tuple[str, str, dict]]:
        messages = [json.loads(raw) for raw in redis_client.lrange(TEST_QUEUE, 0, -1)]
        return [(m["headers"]["task"], m["headers"]["argsrepr"], m["headers"]) for m in messages]

    yield read
    redis_client.delete(TEST_QUEUE)


def job_body(webhook_url: str) -> dict:
    return {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
            "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}],
            "webhook_url": webhook_url}


def submit_job(client, webhook_url: str, **overrides) -> str:
    response = client.post(SUBMIT, {**job_body(webhook_url), **overrides}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def run_job(job_id, capture):
    with capture(execute=True):
        run_enrichment_job(job_id)


def test_completed_job_posts_a_signed_event_the_receiver_verifies(
        api_client, acme, broker_queue, django_capture_on_commit_callbacks):
    with Receiver().running() as receiver:
        job_id = submit_job(api_client, receiver.url)
        run_job(job_id, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(job_id=job_id)
        assert ("enrichment.webhook_tasks.deliver_webhook", f"({delivery.pk},)") in [m[:2] for m in broker_queue()]
        assert receiver.requests == []  # the runner only records the event; a worker sends it

        deliver_webhook(delivery.pk)

    [request] = receiver.requests
    secret = api_client.get(SECRET).json()["secret"]
    headers, body = request["headers"], request["body"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Ecore-Event-Id"] == str(delivery.event_id)
    assert headers["X-Ecore-Signature"].startswith(f"t={headers['X-Ecore-Timestamp']},v1=")
    assert signature_is_valid(secret=secret, header=headers["X-Ecore-Signature"], body=body)
    assert not signature_is_valid(secret=secret, header=headers["X-Ecore-Signature"],
                                  body=body.replace(b"Enrichment Completed", b"Enrichment Completes"))
    assert not signature_is_valid(secret="whsec_someone-else", header=headers["X-Ecore-Signature"], body=body)

    event = json.loads(body)
    assert event["event_id"] == str(delivery.event_id) and event["event"] == "job.completed"
    assert event["created_at"]
    assert event["data"]["job_id"] == job_id and event["data"]["status"] == "Enrichment Completed"
    assert event["data"]["progress"]["rows_processed"] == 1

    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.last_response_excerpt == '{"received": true}'
    [shown] = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["webhooks"]
    assert shown == {"event_id": str(delivery.event_id), "event": "job.completed", "status": "delivered",
                     "attempts": 1, "last_status_code": 200, "delivered_at": delivery.delivered_at.isoformat()}


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
        api_client, acme, broker_queue, django_capture_on_commit_callbacks):
    with Receiver(statuses=(500, 503, 200)).running() as receiver:
        job_id = submit_job(api_client, receiver.url)
        run_job(job_id, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(job_id=job_id)

        before = timezone.now()
        deliver_webhook(delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
        assert delivery.last_response_excerpt == "receiver is down"
        assert before + timedelta(seconds=60) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=60)
        [retry] = [message for message in broker_queue() if message[2]["eta"]]
        assert retry[:2] == ("enrichment.webhook_tasks.deliver_webhook", f"({delivery.pk},)")

        deliver_webhook(delivery.pk)  # the retry's message arriving early finds it not yet due
        assert len(receiver.requests) == 1

        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        before = timezone.now()
        deliver_webhook(delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
        assert before + timedelta(seconds=120) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=120)

        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        deliver_webhook(delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
        assert delivery.delivered_at and delivery.next_attempt_at is None

        deliver_webhook(delivery.pk)  # a redelivered message does not send a delivered event again
    assert len(receiver.requests) == 3
    assert len({request["headers"]["X-Ecore-Event-Id"] for request in receiver.requests}) == 1
    assert api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["webhooks"][0]["attempts"] == 3


def test_a_delivery_is_abandoned_once_its_day_of_retries_is_over(
        api_client, acme, django_capture_on_commit_callbacks):
    with Receiver(statuses=(500,)).running() as receiver:
        job_id = submit_job(api_client, receiver.url)
        run_job(job_id, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(job_id=job_id)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
        deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert Job.objects.get(job_id=job_id).status == "Enrichment Completed"


def test_a_receiver_that_times_out_neither_blocks_nor_fails_the_job(
        api_client, alice, acme, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    with Receiver(stall=True).running() as receiver:
        job_id = submit_job(api_client, receiver.url)
        started = time.monotonic()
        run_job(job_id, django_capture_on_commit_callbacks)
        assert time.monotonic() - started < 5
        assert Job.objects.get(job_id=job_id).status == "Enrichment Completed"

        delivery = WebhookDelivery.objects.get(job_id=job_id)
        started = time.monotonic()
        deliver_webhook(delivery.pk)
        assert time.monotonic() - started < 3
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "Timeout" in delivery.last_error
    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    assert status["status"] == "Enrichment Completed" and status["webhooks"][0]["status"] == "pending"


def test_pausing_a_queued_job_and_a_failing_job_record_their_events(api_client, acme):
    paused = submit_job(api_client, "https://hooks.example.com/ecore")
    response = api_client.post("/api/v1/enrichment-control/", {"job_id": paused, "action": "pause"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "Paused"
    failed = submit_job(api_client, "https://hooks.example.com/ecore")
    job_fail(Job.objects.get(job_id=failed), reason="RuntimeError: source down", meta={"stage": "DataCore Lookup"})

    assert [d.event for d in WebhookDelivery.objects.filter(job_id=paused)] == ["job.paused"]
    [failure] = WebhookDelivery.objects.filter(job_id=failed)
    assert failure.event == "job.failed" and failure.url == "https://hooks.example.com/ecore"
    assert failure.payload["data"]["failure"]["reason"] == "RuntimeError: source down"
    assert api_client.get(f"/api/v1/enrichment/status/{paused}/").json()["webhooks"][0]["event"] == "job.paused"


def test_a_job_without_a_webhook_records_no_event(api_client, acme):
    job_id = submit_job(api_client, "")
    run_enrichment_job(job_id)
    assert not WebhookDelivery.objects.exists()
    assert api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["webhooks"] == []


@pytest.mark.parametrize("url", ["http://hooks.example.com/ecore", "http://10.0.0.5/hook", "ftp://127.0.0.1/x"])
def test_a_webhook_that_is_not_https_nor_to_an_allowed_http_host_is_rejected_at_submit(api_client, alice, url):
    body = job_body(url)
    response = api_client.post(SUBMIT, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"webhook_url": [
        "Webhook URLs must use https; plain http is only allowed to localhost, 127.0.0.1."]}
    form = api_client.post(SUBMIT, {**body, "data": json.dumps(body["data"]), "fields_to_enrich": "job_title"})
    assert form.status_code == 400 and "webhook_url" in form.json()
    assert not Job.objects.exists() and wallet_balance(user=alice) == 1000


def test_allowed_http_hosts_come_from_settings(api_client, acme, settings):
    settings.WEBHOOK_ALLOWED_HTTP_HOSTS = ["receiver.internal"]
    submit_job(api_client, "http://receiver.internal:8080/hook")
    submit_job(api_client, "https://anywhere.example.com/hook")
    refused = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
                                       "data": [{"contact_email": "a@b.com"}],
                                       "webhook_url": "http://127.0.0.1/hook"}, format="json")
    assert refused.status_code == 400 and "receiver.internal" in refused.json()["webhook_url"][0]


@pytest.mark.parametrize("url", ["https://10.0.0.5/hook", "https://[::1]:8443/hook", "https://[::ffff:127.0.0.1]/x",
                                 "https://169.254.169.254/latest/meta-data", "https://localhost/hook",
                                 "https://ecore.localhost/hook"])
def test_a_private_address_is_refused_at_submit_unless_its_host_is_allowed(api_client, alice, settings, url):
    settings.WEBHOOK_ALLOWED_HTTP_HOSTS = ["receiver.internal"]
    body = job_body(url)
    response = api_client.post(SUBMIT, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"webhook_url": [
        "Webhook URLs must point to a public address; private, loopback and link-local ones are refused."]}
    assert not Job.objects.exists() and wallet_balance(user=alice) == 1000

    settings.WEBHOOK_ALLOWED_HTTP_HOSTS = [urlsplit(url).hostname]
    assert api_client.post(SUBMIT, body, format="json").status_code == 200


def test_a_host_that_resolves_to_a_private_address_is_never_posted_to_nor_retried(
        api_client, acme, settings, broker_queue, django_capture_on_commit_callbacks):
    with Receiver().running() as receiver:
        job_id = submit_job(api_client, receiver.url.replace("127.0.0.1", "localhost"))
        run_job(job_id, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(job_id=job_id)
        settings.WEBHOOK_ALLOWED_HTTP_HOSTS = []  # the operator no longer allows it
        broker_queue_before = broker_queue()
        deliver_webhook(delivery.pk)
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error.startswith("WebhookDestinationRefused: localhost resolves to 127.0.0.1")
    assert broker_queue() == broker_queue_before  # no retry
    assert Job.objects.get(job_id=job_id).status == "Enrichment Completed"


def fake_resolver(addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in addresses[host]]
    return getaddrinfo


def test_a_public_host_is_posted_to_at_the_address_checked_with_its_own_name_for_host_and_tls(monkeypatch):
    # Public DNS cannot be reached here, so the resolver is the one thing replaced.
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({
        "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "rebound.example.com": ["93.184.215.14", "10.0.0.5"]}))
    assert webhook_destination("https://hooks.example.com:8443/ecore?x=1") == (
        "https://93.184.215.14:8443/ecore?x=1", {"Host": "hooks.example.com:8443"},
        {"sni_hostname": "hooks.example.com"})
    with pytest.raises(WebhookDestinationRefused, match="rebound.example.com resolves to 10.0.0.5"):
        webhook_destination("https://rebound.example.com/ecore")


def test_the_webhook_secret_is_per_user_readable_and_rotatable(api_client, make_client, bob, client):
    first = api_client.get(SECRET).json()
    assert first["secret"].startswith("whsec_") and len(first["secret"]) > 40
    assert api_client.get(SECRET).json()["secret"] == first["secret"]
    assert make_client(bob).get(SECRET).json()["secret"] != first["secret"]

    rotated = api_client.post(SECRET)
    assert rotated.status_code == 200 and rotated.json()["secret"] != first["secret"]
    assert api_client.get(SECRET).json()["secret"] == rotated.json()["secret"]
    assert client.get(SECRET).status_code == 401


def test_retries_are_signed_with_the_rotated_secret(api_client, acme, django_capture_on_commit_callbacks):
    with Receiver(statuses=(500, 200)).running() as receiver:
        job_id = submit_job(api_client, receiver.url)
        run_job(job_id, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get(job_id=job_id)
        deliver_webhook(delivery.pk)
        rotated = api_client.post(SECRET).json()["secret"]
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        deliver_webhook(delivery.pk)
    last = receiver.requests[-1]
    assert signature_is_valid(secret=rotated, header=last["headers"]["X-Ecore-Signature"], body=last["body"])


def test_the_sweep_enqueues_pending_deliveries_whose_message_was_lost(api_client, acme, broker_queue):
    from enrichment.webhook_tasks import retry_lost_webhooks

    job_id = submit_job(api_client, "https://hooks.example.com/ecore")
    run_enrichment_job(job_id)  # on_commit never runs here: as if the broker had lost the message
    delivery = WebhookDelivery.objects.get(job_id=job_id)
    assert retry_lost_webhooks() == 0  # not late yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert retry_lost_webhooks() == 1
    assert [m[:2] for m in broker_queue() if m[0] == "enrichment.webhook_tasks.deliver_webhook"] == [
        ("enrichment.webhook_tasks.deliver_webhook", f"({delivery.pk},)")]
