"""Spend caps per user and per token, daily and monthly: refused with a 402 naming the cap before anything is
created, exact under concurrent requests, and counted net of refunds."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from enrichment.models import Job
from enrichment.tasks import run_enrichment_job
from tests.concurrency import run_at_once
from tests.factories import make_company, make_person
from wallet.models import LedgerEntry, SpendCap, SpendCounter
from wallet.selectors import ledger_sum, wallet_balance
from wallet.services import spend_cap_set

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
ESTIMATE = "/api/v1/enrichment/estimate/"
CONTROL = "/api/v1/enrichment-control/"
PHONE = "/api/v1/external/phone/enrichment/"


def tomorrow() -> str:
    return f"{datetime.now(UTC).date() + timedelta(days=1):%Y-%m-%d}T00:00:00Z"


def next_month() -> str:
    first = (datetime.now(UTC).date().replace(day=28) + timedelta(days=4)).replace(day=1)
    return f"{first:%Y-%m-%d}T00:00:00Z"


def cap_body(cap: str, *, limit: str, spent: str, requested: str, resets_at: str) -> dict:
    return {"error": "Spend cap reached", "cap": cap, "limit": limit, "spent": spent, "requested": requested,
            "resets_at": resets_at}


def phones(count: int, *, first: str = "Nobody") -> dict:
    return {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_mobile_phone"],
            "data": [{"first_name": first, "last_name": f"Known{index}", "company_name": "Ghost LLC"}
                     for index in range(count)]}


def deductions(user) -> int:
    return LedgerEntry.objects.filter(wallet__user=user, kind=LedgerEntry.Kind.DEDUCTION).count()


def spent(user, *, token=None, period="daily") -> Decimal:
    counter = SpendCounter.objects.filter(user=user, token=token, period=period).order_by("-period_start").first()
    return counter.spent if counter else Decimal("0")


@pytest.fixture
def callers(db):
    """Sixteen people, each with a phone: lookups that all deliver, each for someone else."""
    company = make_company("Acme Corp", "acme.com")
    for index in range(16):
        make_person(company, "Caller", f"Number{index}", contact_email=f"caller{index}@acme.com",
                    contact_mobile_phone=f"+151255502{index:02d}")


# --- setting caps -----------------------------------------------------------------------------------

def test_set_spend_cap_sets_changes_and_removes_caps_and_prints_only_the_result(alice, api_client):
    def run(*args) -> str:
        out = io.StringIO()
        call_command("set_spend_cap", *args, stdout=out)
        return out.getvalue()

    prefix = api_client.token.token.display_prefix
    assert run("--user", "alice", "daily", "100") == "user_daily for alice: 100\n"
    assert run("--user", "alice", "daily", "150.5") == "user_daily for alice: 150.5\n"
    assert run("--token", prefix, "monthly", "40") == f"token_monthly for {prefix}: 40\n"
    assert run("--token", api_client.token.plaintext, "monthly", "none") == f"token_monthly for {prefix}: none\n"
    assert [(cap.name, cap.limit) for cap in SpendCap.objects.all()] == [("user_daily", Decimal("150.5"))]
    for args in (("--user", "nobody", "daily", "1"), ("--token", "eck_live_unknown1234", "daily", "1"),
                 ("--user", "alice", "daily", "-1"), ("--user", "alice", "daily", "lots")):
        with pytest.raises(CommandError):
            run(*args)


def test_admin_sets_a_cap_for_a_user_or_a_token_but_not_both(admin_client, alice, api_client):
    both = admin_client.post("/admin/wallet/spendcap/add/", {"user": alice.pk, "token": api_client.token.token.pk,
                                                             "period": "daily", "limit": "10"})
    assert both.status_code == 200 and not SpendCap.objects.exists()
    created = admin_client.post("/admin/wallet/spendcap/add/", {"user": alice.pk, "period": "daily", "limit": "10"})
    assert created.status_code == 302
    assert SpendCap.objects.get().name == "user_daily"
    assert admin_client.get("/admin/wallet/spendcounter/").status_code == 200


# --- submit, estimate, resume -----------------------------------------------------------------------

def test_a_submit_past_the_users_daily_cap_is_a_402_naming_it_and_creates_no_job_and_no_ledger_row(
        api_client, alice):
    spend_cap_set(user=alice, period="daily", limit=Decimal("12"))
    assert api_client.post(SUBMIT, phones(2), format="json").status_code == 200

    response = api_client.post(SUBMIT, phones(1), format="json")

    assert response.status_code == 402
    assert response.json() == cap_body("user_daily", limit="12", spent="10", requested="5", resets_at=tomorrow())
    assert Job.objects.filter(user=alice).count() == 1
    assert deductions(alice) == 1 and wallet_balance(user=alice) == Decimal("990") == ledger_sum(user=alice)


def test_the_estimate_refuses_as_the_submit_would(api_client, alice):
    spend_cap_set(user=alice, period="monthly", limit=Decimal("4"))
    response = api_client.post(ESTIMATE, phones(1), format="json")
    assert response.status_code == 402
    assert response.json() == cap_body("user_monthly", limit="4", spent="0", requested="5", resets_at=next_month())


def test_the_wallets_402_comes_before_the_caps(make_user, make_client):
    poor = make_user("poor", credits=3)
    spend_cap_set(user=poor, period="daily", limit=Decimal("1"))
    response = make_client(poor).post(SUBMIT, phones(1), format="json")
    assert response.status_code == 402
    assert response.json() == {"error": "You require 5 credits, but only 3 are available."}


def test_a_tokens_cap_limits_that_token_and_the_users_cap_all_of_them(make_client, alice, api_client):
    other = make_client(alice)
    spend_cap_set(token=api_client.token.token, period="daily", limit=Decimal("5"))
    spend_cap_set(user=alice, period="monthly", limit=Decimal("12"))
    assert api_client.post(SUBMIT, phones(1), format="json").status_code == 200

    capped_token = api_client.post(SUBMIT, phones(1), format="json")
    assert capped_token.json() == cap_body("token_daily", limit="5", spent="5", requested="5", resets_at=tomorrow())
    assert other.post(SUBMIT, phones(1), format="json").status_code == 200
    capped_user = other.post(SUBMIT, phones(1), format="json")
    assert capped_user.json() == cap_body("user_monthly", limit="12", spent="10", requested="5",
                                          resets_at=next_month())
    assert spent(alice) == Decimal("10") and spent(alice, token=api_client.token.token) == Decimal("5")


def test_refunds_give_room_back(api_client, alice):
    spend_cap_set(user=alice, period="daily", limit=Decimal("10"))
    job_id = api_client.post(SUBMIT, phones(2), format="json").json()["job_id"]
    assert api_client.post(SUBMIT, phones(1), format="json").status_code == 402

    run_enrichment_job(job_id)  # nobody is known: both rows refunded

    assert spent(alice) == Decimal("0")
    assert api_client.post(SUBMIT, phones(2), format="json").status_code == 200


def test_a_refund_gives_room_back_in_the_day_its_charge_was_made(api_client, alice, callers):
    job_id = api_client.post(SUBMIT, phones(1), format="json").json()["job_id"]
    yesterday = datetime.now(UTC) - timedelta(days=1)
    Job.objects.filter(job_id=job_id).update(charged_at=yesterday)  # as if submitted yesterday
    SpendCounter.objects.filter(user=alice, period="daily").update(period_start=yesterday.date())
    assert api_client.post(PHONE, {"email": "caller0@acme.com"}, format="json").status_code == 200

    run_enrichment_job(job_id)

    daily = dict(SpendCounter.objects.filter(user=alice, token=None, period="daily")
                 .values_list("period_start", "spent"))
    assert daily == {yesterday.date(): Decimal("0"), datetime.now(UTC).date(): Decimal("5")}


def test_a_resume_past_a_cap_is_refused_and_the_job_stays_paused(api_client, alice):
    spend_cap_set(user=alice, period="daily", limit=Decimal("14"))
    job_id = api_client.post(SUBMIT, phones(2), format="json").json()["job_id"]
    api_client.post(CONTROL, {"job_id": job_id, "action": "pause"}, format="json")  # releases its 10
    assert api_client.post(SUBMIT, phones(1), format="json").status_code == 200

    response = api_client.post(CONTROL, {"job_id": job_id, "action": "resume"}, format="json")

    assert response.status_code == 402
    assert response.json() == cap_body("user_daily", limit="14", spent="5", requested="10", resets_at=tomorrow())
    assert Job.objects.get(job_id=job_id).status == "Paused"
    assert not LedgerEntry.objects.filter(job_id=job_id, reference__contains=":resume:").exists()
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


# --- lookups ----------------------------------------------------------------------------------------

def test_a_lookup_whose_price_would_pass_the_cap_is_refused_before_anything_is_looked_up(
        make_user, make_client, callers, monkeypatch):
    from enrichment import single

    user = make_user("capped", credits=100)
    client = make_client(user, scheme="Token")
    spend_cap_set(token=client.token.token, period="daily", limit=Decimal("4"))
    monkeypatch.setattr(single, "enrich_one", lambda **kwargs: pytest.fail("looked up past the cap"))

    response = client.post(PHONE, {"email": "caller0@acme.com"}, format="json")

    assert response.status_code == 402
    assert response.json() == cap_body("token_daily", limit="4", spent="0", requested="5", resets_at=tomorrow())
    assert response["X-Remaining-Credits"] == "100"
    assert deductions(user) == 0


def test_the_account_shows_each_cap_with_what_is_spent_and_left(api_client, alice, callers):
    spend_cap_set(token=api_client.token.token, period="daily", limit=Decimal("15"))
    spend_cap_set(user=alice, period="monthly", limit=Decimal("100"))
    api_client.post(PHONE, {"email": "caller0@acme.com"}, format="json")

    assert api_client.get("/api/v1/account/").json()["spend_caps"] == [
        {"cap": "token_daily", "limit": "15", "spent": "5", "remaining": "10", "resets_at": tomorrow()},
        {"cap": "user_monthly", "limit": "100", "spent": "5", "remaining": "95", "resets_at": next_month()},
    ]


# --- concurrency ------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_lookups_against_a_cap_of_three_lookups_let_exactly_three_through(
        make_user, make_client, callers):
    user = make_user("racer", credits=100)
    issued = make_client(user).token
    spend_cap_set(token=issued.token, period="daily", limit=Decimal("15"))  # three phones at 5
    answers = []

    def lookup(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {issued.plaintext}")
        response = client.post(PHONE, {"email": f"caller{index}@acme.com"}, format="json")
        answers.append((response.status_code, response.json()))

    run_at_once(lookup, 16)

    codes = [code for code, _ in answers]
    assert codes.count(200) == 3 and codes.count(402) == 13
    assert all(body["status"] == "success" for code, body in answers if code == 200)
    refusals = [body for code, body in answers if code == 402]
    assert {(body["error"], body["cap"], body["limit"], body["requested"]) for body in refusals} == {
        ("Spend cap reached", "token_daily", "15", "5")}
    assert deductions(user) == 3
    assert spent(user, token=issued.token) == Decimal("15") == spent(user)
    assert wallet_balance(user=user) == Decimal("85") == ledger_sum(user=user)


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_against_a_cap_create_only_the_jobs_it_allows(make_user, make_client):
    user = make_user("racer", credits=100)
    issued = make_client(user).token
    spend_cap_set(user=user, period="daily", limit=Decimal("15"))
    codes = []

    def submit(_index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        codes.append(client.post(SUBMIT, phones(1), format="json").status_code)

    run_at_once(submit, 8)

    assert sorted(codes) == [200] * 3 + [402] * 5
    assert Job.objects.filter(user=user).count() == 3 == deductions(user)
    assert spent(user) == Decimal("15")
    assert wallet_balance(user=user) == Decimal("85") == ledger_sum(user=user)
