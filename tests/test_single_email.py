"""POST /api/v1/external/email/enrichment/ — the phone endpoint's inputs and errors, its own price."""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from pricing.services import price_set
from sources import email_validation
from tests.factories import make_company, make_person
from wallet.models import LedgerEntry
from wallet.selectors import wallet_balance

EMAIL = "/api/v1/external/email/enrichment/"
SEED_400 = {"error": "Provide linkedin_url, email, or first_name + last_name + (company_name OR company_website)."}

pytestmark = pytest.mark.django_db
# What the local validator says of a well-formed address when DNS cannot tell whether its domain takes mail.
STATUS = "valid (mail server unknown)"


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    """A nameserver that refuses at once: no lookups leave the machine and verdicts do not depend on them."""
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "https://www.acme.com")
    make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com",
                contact_linkedin_url="https://www.linkedin.com/in/janedoe", contact_mobile_phone="+15125550111")
    make_person(company, "Info", "Desk", contact_email="info@acme.com")  # a role address: not deliverable
    make_person(company, "Paul", "Noemail")
    return company


@pytest.fixture
def client_with_10(make_user, make_client):
    user = make_user("ten", credits=10)
    client = make_client(user, scheme="Token")
    client.user = user
    return client


def post(client, body):
    return client.post(EMAIL, body, format="json")


def charged(user) -> Decimal:
    return -sum((entry.amount for entry in LedgerEntry.objects.filter(wallet__user=user,
                                                                      kind=LedgerEntry.Kind.DEDUCTION)), Decimal("0"))


@pytest.mark.parametrize("body", [
    {"linkedin_url": "linkedin.com/in/janedoe/"},
    {"email": "jane.doe@acme.com"},
    {"first_name": "Jane", "last_name": "Doe", "company_name": "ACME Corporation"},
    {"first_name": "Jane", "last_name": "Doe", "company_website": "www.acme.com"},
])
def test_each_input_shape_finds_the_deliverable_email_and_charges_the_email_price(client_with_10, acme, body):
    response = post(client_with_10, body)
    assert response.status_code == 200
    assert response.json() == {"success": True, "status": "success",
                               "results": {"email": "jane.doe@acme.com", "email_status": STATUS,
                                           "contact_email_status": "unknown",
                                           "contact_email_status_reason": "mx_unknown"},
                               "remaining_credits": 8}
    assert charged(client_with_10.user) == Decimal("2")


def test_not_found_is_free(client_with_10, acme):
    response = post(client_with_10, {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"})
    assert response.json() == {"success": True, "status": "not_found", "message": "Email not found",
                               "remaining_credits": 10}
    assert charged(client_with_10.user) == 0


def test_a_known_person_without_an_email_is_not_found_and_free(client_with_10, acme):
    response = post(client_with_10, {"first_name": "Paul", "last_name": "Noemail", "company_name": "Acme Corp"})
    assert response.json()["status"] == "not_found"
    assert wallet_balance(user=client_with_10.user) == Decimal("10")


def test_an_undeliverable_email_is_not_found_and_free(client_with_10, acme):
    response = post(client_with_10, {"first_name": "Info", "last_name": "Desk", "company_website": "acme.com"})
    assert response.json() == {"success": True, "status": "not_found", "message": "Email not found",
                               "remaining_credits": 10}
    assert charged(client_with_10.user) == 0


def test_the_email_price_is_its_own(client_with_10, acme):
    price_set(name="single_email_cost", value=Decimal("3"))
    price_set(name="single_phone_cost", value=Decimal("9"))
    assert post(client_with_10, {"email": "jane.doe@acme.com"}).json()["remaining_credits"] == 7


def test_a_balance_below_the_email_price_is_402(make_user, make_client, acme):
    user = make_user("one", credits=1)
    response = post(make_client(user, scheme="Token"), {"email": "jane.doe@acme.com"})
    assert response.status_code == 402
    assert response.json() == {"error": "Insufficient credits."}
    assert wallet_balance(user=user) == Decimal("1")


def test_the_input_errors_and_auth_errors_are_the_seeds(client_with_10, make_user, make_client, acme):
    assert post(client_with_10, {"first_name": "Jane"}).json() == SEED_400
    assert APIClient().post(EMAIL, {"email": "jane.doe@acme.com"}, format="json").json() == {
        "detail": "Invalid token."}
    inactive = make_client(make_user("inactive", credits=10, is_active=False), scheme="Token")
    response = post(inactive, {"email": "jane.doe@acme.com"})
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}


def test_without_a_paid_validator_the_email_is_checked_once(client_with_10, acme, monkeypatch):
    checked = []
    check_many = email_validation.MxChecker.check_many
    monkeypatch.setattr(email_validation.MxChecker, "check_many",
                        lambda self, domains: checked.append(list(domains)) or check_many(self, checked[-1]))
    response = post(client_with_10, {"email": "jane.doe@acme.com"})
    assert response.json()["results"]["email_status"] == STATUS
    assert checked == [["acme.com"]]


def test_a_lookup_that_fails_halfway_charges_nothing(client_with_10, acme, monkeypatch):
    class UnreachableValidator:
        source = "remote_validator"

        def validate_many(self, emails):
            raise ConnectionError("validator unreachable")

    monkeypatch.setattr(email_validation, "email_validator_backend", lambda **_: UnreachableValidator())
    with pytest.raises(ConnectionError):
        post(client_with_10, {"email": "jane.doe@acme.com"})
    assert wallet_balance(user=client_with_10.user) == Decimal("10")
    assert charged(client_with_10.user) == 0


MIN_CONFIDENCE_400 = {"error": "min_confidence must be an integer from 0 to 100."}
BY_NAME_AT_COMPANY = {"first_name": "Priya", "last_name": "Raman", "company_name": "Globex Industries"}


@pytest.fixture
def globex(db):
    """A person reachable only by name at their company: no email or profile in the request to key on."""
    make_person(make_company("Globex Industries", "globex.com"), "Priya", "Raman",
                contact_email="priya.raman@globex.com")


def test_a_match_below_min_confidence_is_the_seeds_not_found_body_and_free(client_with_10, globex):
    response = post(client_with_10, {**BY_NAME_AT_COMPANY, "min_confidence": 95})
    assert response.status_code == 200
    assert response.json() == {"success": True, "status": "not_found", "message": "Email not found",
                               "remaining_credits": 10}
    assert charged(client_with_10.user) == 0


def test_without_min_confidence_the_same_match_is_found_and_charged(client_with_10, globex):
    response = post(client_with_10, BY_NAME_AT_COMPANY)
    body = response.json()
    assert body["status"] == "success" and body["remaining_credits"] == 8
    assert body["results"]["email"] == "priya.raman@globex.com" and body["results"]["email_status"] == STATUS
    assert charged(client_with_10.user) == Decimal("2")


@pytest.mark.parametrize("min_confidence", [101, -1, True, "95", 95.0])
def test_an_invalid_min_confidence_is_a_400_and_free(client_with_10, globex, min_confidence):
    response = post(client_with_10, {**BY_NAME_AT_COMPANY, "min_confidence": min_confidence})
    assert response.status_code == 400
    assert response.json() == MIN_CONFIDENCE_400
    assert charged(client_with_10.user) == 0


def test_the_seeds_input_400_wins_over_an_invalid_min_confidence(client_with_10, globex):
    response = post(client_with_10, {"last_name": "Raman", "min_confidence": False})
    assert response.status_code == 400
    assert response.json() == SEED_400


@pytest.mark.parametrize("body", [
    {"email": "jane.doe@acme.com\x00"},
    {"email": "jane.doe@acme.com", "first_name": "\udc00"},
    {"linkedin_url": "https://www.linkedin.com/in/janedoe", "company_name": "A" * 2001},
])
def test_text_a_record_could_not_hold_is_the_seeds_400_and_free(client_with_10, acme, body):
    response = client_with_10.generic("POST", EMAIL, json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == SEED_400
    assert charged(client_with_10.user) == 0
