"""GET /api/v1/account/ and the credit headers of the single lookups: what a client reads to size and
account for its requests."""


import pytest

from pricing.services import plan_assign
from tests.factories import make_company, make_person
from tokens.models import ApiToken

ACCOUNT = "/api/v1/account/"
PHONE = "/api/v1/external/phone/enrichment/"


def test_the_account_shows_balance_plan_limits_and_a_live_token(api_client, alice, settings):
    body = api_client.get(ACCOUNT).json()

    assert body == {
        "username": "alice", "balance": "1000",
        "plan": {"name": None, "records_per_submission": settings.ENRICHMENT_DEFAULT_PLAN_LIMIT,
                 "rate_limit_per_second": 30},
        "token": {"kind": "live", "name": "", "daily_limit": None, "requests_today": None,
                  "requests_left_today": None},
    }


def test_a_plan_and_a_test_token_show_their_limits_and_what_is_left_today(make_user, make_client):
    carol = make_user("carol", credits="12.5")
    plan_assign(username="carol", enrichment_limit=2000, rate_limit_per_second=7)
    client = make_client(carol, kind=ApiToken.Kind.TEST, daily_limit=5)
    client.get(ACCOUNT)

    body = client.get(ACCOUNT).json()

    assert body["balance"] == "12.5"
    assert body["plan"]["records_per_submission"] == 500  # the hard ceiling caps the plan's 2000
    assert body["plan"]["rate_limit_per_second"] == 7
    assert body["token"] == {"kind": "test", "name": "", "daily_limit": 5, "requests_today": 2,
                             "requests_left_today": 3}


def test_a_lookup_says_what_it_charged_in_a_header(api_client, alice):
    make_person(make_company("Acme Corp", "acme.com"), "John", "Doe", contact_mobile_phone="+1 555-123-4567")

    found = api_client.post(PHONE, {"first_name": "John", "last_name": "Doe", "company_name": "Acme Corp"},
                            format="json")
    missing = api_client.post(PHONE, {"first_name": "Nobody", "last_name": "Here", "company_name": "Acme Corp"},
                              format="json")

    assert found.json()["status"] == "success" and found["X-Credits-Charged"] == "5"
    assert found["X-Remaining-Credits"] == "995"
    assert missing.json()["status"] == "not_found" and missing["X-Credits-Charged"] == "0"


@pytest.mark.parametrize("endpoint", [ACCOUNT, PHONE])
def test_without_a_token_there_is_no_account_and_no_charge_header(endpoint, client):
    response = client.get(endpoint) if endpoint == ACCOUNT else client.post(endpoint, {}, format="json")
    assert response.status_code == 401 and "X-Credits-Charged" not in response
