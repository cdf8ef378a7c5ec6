"""POST /api/v1/external/phone/enrichment/ — seed 001, every body quoted from it."""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from pricing.services import price_set
from tests.concurrency import run_at_once
from tests.factories import make_company, make_person
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

PHONE = "/api/v1/external/phone/enrichment/"
SEED_400 = {"error": "Provide linkedin_url, email, or first_name + last_name + (company_name OR company_website)."}
SEED_401 = {"detail": "Invalid token."}
SEED_402 = {"error": "Insufficient credits."}


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    """A nameserver that refuses at once: no lookups leave the machine and verdicts do not depend on them."""
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "https://www.acme.com")
    john = make_person(company, "John", "Doe", contact_email="john.doe@acme.com",
                       contact_linkedin_url="https://www.linkedin.com/in/johndoe",
                       contact_mobile_phone="+1 555-123-4567")
    make_person(company, "Robert", "Smith", contact_email="rsmith@acme.com", contact_direct_phone="+1 555-000-2222")
    make_person(company, "Nora", "Phoneless", contact_email="nora@acme.com")
    return company, john


@pytest.fixture
def client_with_100(make_user, make_client):
    user = make_user("hundred", credits=100)
    client = make_client(user, scheme="Token")
    client.user = user
    return client


def post(client, body):
    return client.post(PHONE, body, format="json")


def seed_keys(results: dict) -> dict:
    """The keys seed 001 gives a phone lookup's results; the rest are added."""
    return {name: results[name] for name in ("phone", "email") if name in results}


def debits(user):
    return list(LedgerEntry.objects.filter(wallet__user=user, kind=LedgerEntry.Kind.DEDUCTION))


@pytest.mark.django_db
class TestInputShapes:
    def test_name_and_company_name_gives_the_seeds_success_body_and_charges_5(self, client_with_100, acme):
        response = post(client_with_100, {"first_name": "John", "last_name": "Doe", "company_name": "Acme Corp"})
        assert response.status_code == 200
        assert response.json() == {
            "success": True,
            "status": "success",
            # The seed's keys, then the phone's E.164 form, type and country and the email's status: the
            # seed's example number has no place in the US plan, so its type and country are unknown.
            "results": {"phone": "+1 555-123-4567", "phone_e164": "+15551234567", "phone_type": "unknown",
                        "phone_country": "", "email": "john.doe@acme.com", "contact_email_status": "unknown",
                        "contact_email_status_reason": "mx_unknown"},
            "remaining_credits": 95,
        }
        assert wallet_balance(user=client_with_100.user) == Decimal("95")
        [debit] = debits(client_with_100.user)
        assert debit.amount == Decimal("-5") and debit.reference.startswith("single:")

    def test_linkedin_url_alone(self, client_with_100, acme):
        response = post(client_with_100, {"linkedin_url": "https://www.linkedin.com/in/johndoe"})
        assert seed_keys(response.json()["results"]) == {"phone": "+1 555-123-4567", "email": "john.doe@acme.com"}

    def test_email_alone(self, client_with_100, acme):
        response = post(client_with_100, {"email": "John.Doe@acme.com"})
        assert response.json()["status"] == "success"
        assert response.json()["results"]["phone"] == "+1 555-123-4567"

    def test_name_and_company_website(self, client_with_100, acme):
        response = post(client_with_100, {"first_name": "John", "last_name": "Doe",
                                          "company_website": "https://acme.com/about"})
        assert response.json()["results"]["phone"] == "+1 555-123-4567"
        assert response.json()["remaining_credits"] == 95

    def test_a_direct_phone_is_returned_when_there_is_no_mobile(self, client_with_100, acme):
        response = post(client_with_100, {"email": "rsmith@acme.com"})
        assert seed_keys(response.json()["results"]) == {"phone": "+1 555-000-2222", "email": "rsmith@acme.com"}

    def test_bearer_is_accepted_as_well_as_token(self, make_user, make_client, acme):
        client = make_client(make_user("bearer", credits=10), scheme="Bearer")
        assert post(client, {"email": "john.doe@acme.com"}).json()["remaining_credits"] == 5

    @pytest.mark.parametrize("body", [
        {},
        {"first_name": "John", "last_name": "Doe"},
        {"first_name": "John", "company_name": "Acme Corp"},
        {"last_name": "Doe", "company_website": "acme.com"},
        {"email": "not-an-email"},
        {"linkedin_url": "https://example.com/johndoe"},
        {"first_name": "John", "last_name": "Doe", "company_website": "acme"},
        {"email": 42, "linkedin_url": None},
        ["john.doe@acme.com"],
    ])
    def test_anything_else_is_the_seeds_400(self, client_with_100, acme, body):
        response = post(client_with_100, body)
        assert response.status_code == 400
        assert response.json() == SEED_400
        assert debits(client_with_100.user) == []


    @pytest.mark.parametrize("hostile", ["John\x00", "Jo\ud800hn", "J" * 2001])
    @pytest.mark.parametrize("name", ["first_name", "last_name", "company_name", "company_website", "email",
                                      "linkedin_url"])
    def test_text_a_record_could_not_hold_is_the_seeds_400_and_free(self, client_with_100, acme, name, hostile):
        body = {"first_name": "John", "last_name": "Doe", "company_name": "Acme Corp", name: hostile}
        # As a hostile client sends it: NUL and lone surrogates as \\u escapes of ASCII JSON.
        response = client_with_100.generic("POST", PHONE, json.dumps(body), content_type="application/json")
        assert response.status_code == 400
        assert response.json() == SEED_400
        assert debits(client_with_100.user) == [] and wallet_balance(user=client_with_100.user) == Decimal("100")

    def test_json_nested_too_deep_is_a_400_and_free(self, client_with_100, acme):
        body = '{"email": "john.doe@acme.com", "min_confidence": ' + "[" * 2000 + "]" * 2000 + "}"
        response = client_with_100.generic("POST", PHONE, body, content_type="application/json")
        assert response.status_code == 400
        assert response.json() == {"error": "Malformed request body: JSON parse error - JSON nested more than 64 "
                                            "levels deep."}
        assert debits(client_with_100.user) == []


@pytest.mark.django_db
class TestNotFoundIsFree:
    def test_an_unknown_person_gets_the_seeds_not_found_body(self, client_with_100, acme):
        response = post(client_with_100, {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"})
        assert response.status_code == 200
        assert response.json() == {"success": True, "status": "not_found", "message": "Phone not found",
                                   "remaining_credits": 100}
        assert debits(client_with_100.user) == []
        assert ledger_sum(user=client_with_100.user) == Decimal("100")

    def test_a_known_person_without_a_phone_is_not_found_and_free(self, client_with_100, acme):
        response = post(client_with_100, {"email": "nora@acme.com"})
        assert response.json() == {"success": True, "status": "not_found", "message": "Phone not found",
                                   "remaining_credits": 100}

    def test_a_profile_whose_name_contradicts_the_input_is_withheld_and_free(self, client_with_100, acme):
        response = post(client_with_100, {"linkedin_url": "https://www.linkedin.com/in/johndoe",
                                          "first_name": "Margaret", "last_name": "Thornton"})
        assert response.json()["status"] == "not_found"
        assert wallet_balance(user=client_with_100.user) == Decimal("100")

    def test_an_opted_out_person_is_never_returned(self, client_with_100, acme):
        company, _ = acme
        make_person(company, "Olga", "Private", contact_email="olga@acme.com", contact_mobile_phone="+15125550199",
                    opted_out=True)
        response = post(client_with_100, {"email": "olga@acme.com"})
        assert response.json()["status"] == "not_found"
        assert "results" not in response.json()


@pytest.mark.django_db
class TestAuthentication:
    def test_a_missing_token_is_the_seeds_401(self, acme):
        response = APIClient().post(PHONE, {"email": "john.doe@acme.com"}, format="json")
        assert response.status_code == 401
        assert response.json() == SEED_401

    @pytest.mark.parametrize("header", ["Token eck_live_nope", "Token", "Basic abc", "Token a b"])
    def test_an_invalid_token_is_the_seeds_401(self, acme, header):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.post(PHONE, {"email": "john.doe@acme.com"}, format="json")
        assert response.status_code == 401
        assert response.json() == SEED_401

    def test_an_inactive_users_token_is_the_seeds_401_too(self, make_user, make_client, acme):
        client = make_client(make_user("gone", credits=100, is_active=False), scheme="Token")
        response = post(client, {"email": "john.doe@acme.com"})
        assert response.status_code == 401
        assert response.json() == SEED_401


@pytest.mark.django_db
class TestCredits:
    def test_a_balance_below_the_price_is_the_seeds_402_and_nothing_is_looked_up_or_charged(
            self, make_user, make_client, acme):
        user = make_user("poor", credits=4)
        response = post(make_client(user, scheme="Token"), {"email": "john.doe@acme.com"})
        assert response.status_code == 402
        assert response.json() == SEED_402
        assert wallet_balance(user=user) == Decimal("4")
        assert response["X-Remaining-Credits"] == "4"

    def test_a_user_without_a_wallet_gets_402(self, make_user, make_client, acme):
        response = post(make_client(make_user("walletless"), scheme="Token"), {"email": "john.doe@acme.com"})
        assert response.status_code == 402 and response.json() == SEED_402

    def test_the_price_comes_from_pricing(self, client_with_100, acme):
        price_set(name="single_phone_cost", value=Decimal("7"))
        response = post(client_with_100, {"email": "john.doe@acme.com"})
        assert response.json()["remaining_credits"] == 93
        assert wallet_balance(user=client_with_100.user) == Decimal("93")

    @pytest.mark.parametrize(("credits", "expected"), [("100.5", 96), ("100.4", 95), ("100.49", 95)])
    def test_remaining_credits_is_the_balance_rounded_half_up(self, make_user, make_client, acme, credits, expected):
        client = make_client(make_user("fractional", credits=credits), scheme="Token")
        response = post(client, {"email": "john.doe@acme.com"})
        assert response.json()["remaining_credits"] == expected
        assert response["X-Remaining-Credits"] == str(expected)

    def test_with_repeat_free_days_off_each_call_is_charged_separately(self, client_with_100, acme):
        price_set(name="repeat_free_days", value=Decimal("0"))
        for expected in (95, 90, 85):
            assert post(client_with_100, {"email": "john.doe@acme.com"}).json()["remaining_credits"] == expected
        assert len({debit.reference for debit in debits(client_with_100.user)}) == 3


@pytest.mark.django_db
def test_every_answer_carries_the_limit_and_credit_headers(client_with_100, acme):
    for body, status in (({"email": "john.doe@acme.com"}, 200), ({"email": "ghost@nowhere.example"}, 200),
                         ({}, 400)):
        response = post(client_with_100, body)
        assert response.status_code == status
        assert response["X-RateLimit-Limit"] == "30"
        assert int(response["X-RateLimit-Remaining"]) < 30
        assert int(response["X-RateLimit-Reset"]) >= 0
        assert response["X-Remaining-Credits"] == "95"


@pytest.mark.django_db(transaction=True)
def test_parallel_lookups_from_separate_connections_never_overdraw(make_user, make_client):
    company = make_company("Acme Corp", "acme.com")
    for index in range(16):
        make_person(company, "John", f"Doe{index}", contact_email=f"john.doe{index}@acme.com",
                    contact_mobile_phone=f"+151255501{index:02d}")
    user = make_user("racer", credits=17)  # pays for 3 of 16 five-credit phones, each someone else's
    token = make_client(user).token.plaintext
    answers = []

    def lookup(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(PHONE, {"email": f"john.doe{index}@acme.com"}, format="json")
        answers.append((response.status_code, response.json()))

    run_at_once(lookup, 16)

    codes = [code for code, _ in answers]
    assert codes.count(200) == 3 and codes.count(402) == 13
    assert all(body == SEED_402 for code, body in answers if code == 402)
    assert sorted(body["remaining_credits"] for code, body in answers if code == 200) == [2, 7, 12]
    assert wallet_balance(user=user) == Decimal("2") == ledger_sum(user=user)
    assert len(debits(user)) == 3
    assert LedgerEntry.objects.filter(wallet__user=user, balance_after__lt=0).count() == 0


MIN_CONFIDENCE_400 = {"error": "min_confidence must be an integer from 0 to 100."}


@pytest.fixture
def name_at_company_only(db):
    """A person reachable only by name at their company: no email or profile in the request to key on."""
    company = make_company("Globex Industries", "globex.com")
    make_person(company, "Priya", "Raman", contact_email="priya.raman@globex.com", contact_mobile_phone="+1 555-777-8888")
    return {"first_name": "Priya", "last_name": "Raman", "company_name": "Globex Industries"}


@pytest.mark.django_db
class TestMinConfidence:
    def test_a_match_below_min_confidence_is_the_seeds_not_found_body_and_free(self, client_with_100,
                                                                                name_at_company_only):
        response = post(client_with_100, {**name_at_company_only, "min_confidence": 95})
        assert response.status_code == 200
        assert response.json() == {"success": True, "status": "not_found", "message": "Phone not found",
                                   "remaining_credits": 100}
        assert debits(client_with_100.user) == []

    def test_without_it_the_same_match_is_found_and_charged(self, client_with_100, name_at_company_only):
        response = post(client_with_100, name_at_company_only)
        body = response.json()
        assert body["status"] == "success" and body["remaining_credits"] == 95
        assert seed_keys(body["results"]) == {"phone": "+1 555-777-8888", "email": "priya.raman@globex.com"}
        assert len(debits(client_with_100.user)) == 1

    @pytest.mark.parametrize("min_confidence", [None, 0, 50])
    def test_null_or_a_minimum_the_match_meets_finds_it(self, client_with_100, name_at_company_only, min_confidence):
        response = post(client_with_100, {**name_at_company_only, "min_confidence": min_confidence})
        assert response.json()["status"] == "success"
        assert response.json()["remaining_credits"] == 95

    def test_an_email_match_meets_a_minimum_no_name_and_company_match_can(self, client_with_100, acme):
        response = post(client_with_100, {"email": "john.doe@acme.com", "min_confidence": 90})
        assert response.json()["results"]["phone"] == "+1 555-123-4567"

    @pytest.mark.parametrize("min_confidence", [101, -1, True, False, "95", 95.0, 50.5, [95], {"value": 95}])
    def test_an_invalid_min_confidence_is_a_400_and_free(self, client_with_100, name_at_company_only, min_confidence):
        response = post(client_with_100, {**name_at_company_only, "min_confidence": min_confidence})
        assert response.status_code == 400
        assert response.json() == MIN_CONFIDENCE_400
        assert debits(client_with_100.user) == []

    @pytest.mark.parametrize("body", [{"first_name": "Priya", "min_confidence": 101},
                                      {"email": "not-an-email", "min_confidence": True}])
    def test_the_seeds_input_400_wins_over_an_invalid_min_confidence(self, client_with_100, name_at_company_only,
                                                                      body):
        response = post(client_with_100, body)
        assert response.status_code == 400
        assert response.json() == SEED_400
