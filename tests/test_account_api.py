"""GET /api/v1/account/ and the credit headers of the single lookups: what a client reads to size and
account for its requests."""


from decimal import Decimal

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
        "spend_caps": [],
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


USAGE = "/api/v1/account/usage/"
LEDGER = "/api/v1/account/ledger/"
SUBMIT = "/api/v1/enrichment/submit/"


@pytest.fixture
def spent(api_client, alice):
    """Two jobs (one row refunded) and two phone lookups (one found): 2 + 4 - 2 + 5 credits net."""
    from enrichment.tasks import run_enrichment_job

    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "John", "Doe", contact_email="john.doe@acme.com", contact_mobile_phone="+1 555-123-4567")
    make_person(acme, "Mary", "Major", contact_email="mary.major@acme.com")
    job_ids = []
    # Someone else in each job: John again would be free, as already paid for.
    for data in ([{"first_name": "John", "last_name": "Doe", "company_name": "Acme Corp"}],
                 [{"first_name": "Mary", "last_name": "Major", "company_name": "Acme Corp"},
                  {"first_name": "Nobody", "last_name": "Here", "company_name": "Acme Corp"}]):
        job_id = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
                                          "data": data}, format="json").json()["job_id"]
        run_enrichment_job(job_id)
        job_ids.append(job_id)
    for first in ("John", "Nobody"):
        api_client.post(PHONE, {"first_name": first, "last_name": "Doe", "company_name": "Acme Corp"}, format="json")
    return job_ids


def test_usage_by_endpoint_day_and_job_adds_up_to_the_wallet(api_client, alice, spent):
    from wallet.selectors import wallet_balance

    by_endpoint = api_client.get(USAGE, {"group_by": "endpoint"}).json()
    by_day = api_client.get(USAGE).json()["results"]
    by_job = api_client.get(USAGE, {"group_by": "job"}).json()["results"]

    assert by_endpoint["count"] == 2 and by_endpoint["results"] == [
        {"endpoint": "jobs", "charged": "6", "refunded": "2", "net": "4", "rows": 3, "lookups": 0},
        {"endpoint": "phone", "charged": "5", "refunded": "0", "net": "5", "rows": 0, "lookups": 1},
    ]
    assert len(by_day) == 1 and by_day[0]["net"] == "9" and by_day[0]["rows"] == 3
    assert [(group["job"], group["net"]) for group in by_job] == [(None, "5"), (spent[1], "2"), (spent[0], "2")]
    assert Decimal(1000) - Decimal(by_day[0]["net"]) == wallet_balance(user=alice)


def test_usage_outside_the_period_is_empty_and_a_bad_group_is_a_400(api_client, spent):
    assert api_client.get(USAGE, {"from": "2001-01-01", "to": "2001-12-31"}).json()["results"] == []
    assert api_client.get(USAGE, {"from": "0001-01-01", "to": "9999-12-31"}).json()["count"] == 1
    refused = api_client.get(USAGE, {"group_by": "week"})
    assert refused.status_code == 400 and "group_by" in refused.json()


def test_the_ledger_lists_every_movement_with_its_reason_and_as_csv(api_client, alice, spent, bob):
    import csv
    import io

    from wallet.selectors import wallet_balance

    entries = api_client.get(LEDGER, {"page_size": 100}).json()["results"]
    as_csv = list(csv.DictReader(io.StringIO(b"".join(api_client.get(LEDGER, {"format": "csv"})
                                                       .streaming_content).decode())))

    assert [entry["reason"] for entry in reversed(entries)] == [
        "topup", "submit", "submit", "not_found", "phone_lookup"]
    assert entries[0]["balance_after"] == format(wallet_balance(user=alice).normalize(), "f") == "991"
    assert sum(Decimal(entry["amount"]) for entry in entries) == wallet_balance(user=alice)
    assert entries[1]["job_id"] == spent[1] and entries[1]["note"].startswith("row ")
    assert [row["reason"] for row in as_csv] == [entry["reason"] for entry in entries]
    assert as_csv[0]["job_id"] == "" and as_csv[0]["amount"] == "-5"


def test_a_submit_says_what_it_charged_and_a_replay_that_it_charged_nothing(api_client, alice):
    body = {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
            "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}] * 3}

    first = api_client.post(SUBMIT, body, format="json", HTTP_IDEMPOTENCY_KEY="headers-1")
    replay = api_client.post(SUBMIT, body, format="json", HTTP_IDEMPOTENCY_KEY="headers-1")
    unkeyed = api_client.post(SUBMIT, body, format="json")

    assert (first["X-Credits-Charged"], first["X-Credits-Remaining"]) == ("6", "994")
    assert (replay["Idempotent-Replayed"], replay["X-Credits-Charged"], replay["X-Credits-Remaining"]) == (
        "true", "0", "994")
    assert (unkeyed["X-Credits-Charged"], unkeyed["X-Credits-Remaining"]) == ("6", "988")
