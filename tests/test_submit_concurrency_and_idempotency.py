"""Parallel submissions against a small wallet, and Idempotency-Key replays."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from enrichment.models import IdempotencyRecord, Job
from tests.concurrency import run_at_once
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

SUBMIT = "/api/v1/enrichment/submit/"
BODY = {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_mobile_phone"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}] * 2}  # 10 credits


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_from_separate_connections_never_overdraw(make_user, make_client):
    user = make_user("racer", credits=75)  # pays for 7 of 24 ten-credit jobs
    token = make_client(user).token.plaintext
    statuses = []

    def submit(_index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(SUBMIT, BODY, format="json")
        statuses.append((response.status_code, response.json()))

    run_at_once(submit, 24)

    codes = [code for code, _ in statuses]
    assert codes.count(200) == 7 and codes.count(402) == 17
    refusals = {body["error"] for code, body in statuses if code == 402}
    assert refusals <= {"You require 10 credits, but only 5 are available.",
                        *(f"You require 10 credits, but only {n} are available." for n in range(5, 10))}
    assert Job.objects.filter(user=user).count() == 7
    assert wallet_balance(user=user) == Decimal("5")
    assert ledger_sum(user=user) == Decimal("5")
    assert LedgerEntry.objects.filter(wallet__user=user, balance_after__lt=0).count() == 0


@pytest.mark.django_db
class TestIdempotencyKey:
    def test_a_retry_with_the_same_key_replays_the_first_response_and_charges_once(self, api_client, alice):
        first = api_client.post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
        second = api_client.post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert second["Idempotent-Replayed"] == "true"
        assert Job.objects.count() == 1
        assert wallet_balance(user=alice) == Decimal("990")

    def test_the_same_key_with_a_different_body_is_a_400(self, api_client):
        api_client.post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        response = api_client.post(SUBMIT, {**BODY, "level": "pro"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        assert response.status_code == 400
        assert response.json() == {"error": "This Idempotency-Key was already used with a different request."}
        assert Job.objects.count() == 1

    def test_validation_errors_are_replayed_too(self, api_client):
        bad = {**BODY, "fields_to_enrich": ["bogus"]}
        first = api_client.post(SUBMIT, bad, format="json", HTTP_IDEMPOTENCY_KEY="k2")
        second = api_client.post(SUBMIT, bad, format="json", HTTP_IDEMPOTENCY_KEY="k2")
        assert first.status_code == second.status_code == 400
        assert second.json()["fields_to_enrich"] == "Invalid fields: ['bogus']"

    def test_keys_are_scoped_to_the_token(self, api_client, make_client, alice, bob):
        assert api_client.post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code == 200
        other = make_client(bob).post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
        assert other.status_code == 200 and "Idempotent-Replayed" not in other
        assert Job.objects.count() == 2

    def test_keys_expire_after_24_hours(self, api_client):
        from datetime import timedelta

        from django.utils import timezone

        api_client.post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
        response = api_client.post(SUBMIT, BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
        assert response.status_code == 200 and "Idempotent-Replayed" not in response
        assert Job.objects.count() == 2

    def test_without_the_header_the_endpoint_is_not_idempotent(self, api_client):
        api_client.post(SUBMIT, BODY, format="json")
        api_client.post(SUBMIT, BODY, format="json")
        assert Job.objects.count() == 2

    def test_file_uploads_are_fingerprinted_by_content(self, api_client):
        from django.core.files.uploadedfile import SimpleUploadedFile

        def upload(content):
            return {"file": SimpleUploadedFile("c.csv", content), "type": "contact", "level": "standard",
                    "fields_to_enrich": "job_title"}

        assert api_client.post(SUBMIT, upload(b"first_name\nJane\n"), format="multipart",
                               HTTP_IDEMPOTENCY_KEY="f").status_code == 200
        response = api_client.post(SUBMIT, upload(b"first_name\nJohn\n"), format="multipart",
                                   HTTP_IDEMPOTENCY_KEY="f")
        assert response.status_code == 400
