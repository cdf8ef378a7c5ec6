"""Per-token rate limits on the single-record endpoints, counted in the real Redis."""

import time
from decimal import Decimal

import pytest
from django.urls import resolve
from rest_framework.test import APIClient

from enrichment.single import contact_lookup_record
from pricing.services import plan_assign
from tests.concurrency import run_at_once
from tests.factories import make_company, make_person
from tokens.models import ApiToken
from wallet.selectors import wallet_balance

PHONE = "/api/v1/external/phone/enrichment/"
EMAIL = "/api/v1/external/email/enrichment/"
SINGLE = "/api/v1/enrichment/single/"
UNKNOWN_PERSON = {"email": "ghost@nowhere-known.com"}  # not found: free, and nothing to validate


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


@pytest.fixture(autouse=True, scope="module")
def _warm_process():
    """A process's first request imports the views and loads the name lists: no window should pay for that."""
    resolve(PHONE)
    contact_lookup_record({"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"})


@pytest.fixture
def limited_client(make_user, make_client):
    def make(limit: int | None, *, user=None):
        client = make_client(user or make_user(f"user{time.monotonic_ns()}", credits=100), scheme="Token")
        ApiToken.objects.filter(pk=client.token.token.pk).update(rate_limit_per_second=limit)
        return client

    return make


def phone(client, body=UNKNOWN_PERSON):
    return client.post(PHONE, body, format="json")


@pytest.mark.django_db(transaction=True)
def test_a_token_limited_to_5_per_second_gets_5_through_from_two_threads_then_429_until_it_refills(
        limited_client):
    client = limited_client(5)
    token = f"Token {client.token.plaintext}"
    answers = []

    def three_requests(_index):
        own = APIClient()
        own.credentials(HTTP_AUTHORIZATION=token)
        for _ in range(3):
            # Input errors: counted like any request, and quick, so the burst ends long before a refill.
            answers.append(phone(own, {}))

    run_at_once(three_requests, 2)

    assert sorted(response.status_code for response in answers) == [400] * 5 + [429]
    [refused] = [response for response in answers if response.status_code == 429]
    assert refused.json() == {"error": "Rate limit exceeded. Retry after 1 seconds."}
    assert refused["Retry-After"] == "1"
    assert refused["X-RateLimit-Limit"] == "5" and refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Reset"] == "1" and refused["X-Remaining-Credits"] == "100"
    assert sorted(response["X-RateLimit-Remaining"] for response in answers if response.status_code == 400) == [
        "0", "1", "2", "3", "4"]

    time.sleep(int(refused["Retry-After"]))
    again = phone(client)
    assert again.status_code == 200 and again.json()["status"] == "not_found"


@pytest.mark.django_db
def test_a_client_pacing_itself_at_the_limit_is_never_refused(limited_client):
    client = limited_client(20)
    started = time.monotonic()
    codes = []
    for number in range(30):
        time.sleep(max(0.0, started + number / 20 - time.monotonic()))
        codes.append(phone(client, {}).status_code)
    assert codes == [400] * 30


@pytest.mark.django_db
class TestConfiguration:
    def test_without_a_plan_or_an_override_the_limit_is_30(self, limited_client):
        response = phone(limited_client(None))
        assert response["X-RateLimit-Limit"] == "30" and response["X-RateLimit-Remaining"] == "29"

    def test_the_plan_sets_the_limit(self, limited_client, make_user):
        user = make_user("planned", credits=100)
        plan_assign(username="planned", enrichment_limit=50, rate_limit_per_second=3)
        client = limited_client(None, user=user)
        codes = [phone(client, {}).status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]
        assert phone(client)["X-RateLimit-Limit"] == "3"

    def test_the_token_overrides_the_plan(self, limited_client, make_user):
        user = make_user("overridden", credits=100)
        plan_assign(username="overridden", enrichment_limit=50, rate_limit_per_second=3)
        client = limited_client(10, user=user)
        responses = [phone(client) for _ in range(4)]
        assert [response.status_code for response in responses] == [200] * 4
        assert responses[-1]["X-RateLimit-Limit"] == "10"
        assert int(responses[-1]["X-RateLimit-Remaining"]) >= 6  # and more once the bucket refills

    def test_each_token_has_its_own_window(self, limited_client, make_user):
        user = make_user("two-tokens", credits=100)
        first, second = limited_client(1, user=user), limited_client(1, user=user)
        assert phone(first).status_code == 200 and phone(first).status_code == 429
        assert phone(second).status_code == 200

    def test_the_three_endpoints_share_the_tokens_window(self, limited_client):
        client = limited_client(2)
        assert phone(client).status_code == 200
        assert client.post(EMAIL, UNKNOWN_PERSON, format="json").status_code == 200
        refused = client.post(SINGLE, {"person": UNKNOWN_PERSON}, format="json")
        assert refused.status_code == 429
        assert refused.json() == {"error": "Rate limit exceeded. Retry after 1 seconds."}

    def test_a_refused_request_is_neither_looked_up_nor_charged(self, limited_client, make_user):
        company = make_company("Acme Corp", "acme.com")
        make_person(company, "John", "Doe", contact_email="john.doe@acme.com", contact_mobile_phone="+15125550111")
        make_person(company, "Jim", "Doe", contact_email="jim.doe@acme.com", contact_mobile_phone="+15125550112")
        user = make_user("payer", credits=100)
        # A first found lookup in a process warms the validators; the limited token's second call must follow
        # its first within the second it has to wait. Each is someone else: a repeat would be free.
        assert phone(limited_client(None, user=user), {"email": "john.doe@acme.com"}).json()["remaining_credits"] == 95
        client = limited_client(1, user=user)
        assert phone(client, {"email": "jim.doe@acme.com"}).json()["remaining_credits"] == 90
        refused = phone(client, {"email": "jim.doe@acme.com"})
        assert refused.status_code == 429 and refused["X-Remaining-Credits"] == "90"
        assert wallet_balance(user=user) == Decimal("90")

    def test_bad_requests_count_and_carry_the_headers(self, limited_client):
        client = limited_client(2)
        invalid = phone(client, {})
        assert invalid.status_code == 400
        assert invalid["X-RateLimit-Remaining"] == "1" and invalid["X-Remaining-Credits"] == "100"
        assert phone(client, {}).status_code == 400
        assert phone(client, {}).status_code == 429

    def test_a_test_tokens_daily_quota_keeps_its_own_429(self, make_user, make_client):
        client = make_client(make_user("tester", credits=100), kind=ApiToken.Kind.TEST, scheme="Token",
                             daily_limit=1)
        assert phone(client).status_code == 200
        response = phone(client)
        assert response.status_code == 429
        assert response.json() == {"error": {"message": "Daily usage limit exceeded for this test token.",
                                             "current_usage": 1, "daily_limit": 1, "resets_at": "midnight UTC"}}

    def test_job_endpoints_are_not_rate_limited_here(self, api_client):
        response = api_client.get("/api/v1/enrichment/status/")
        assert "X-RateLimit-Limit" not in response
