"""Never charge twice: values a customer paid for are free when delivered again within repeat_free_days,
in jobs (refunded `already_paid` at reconciliation) and in single lookups (not charged)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from enrichment.credits import PaidClaim, RowCharge, repeat_charges_waive
from enrichment.models import PaidValue
from enrichment.tasks import run_enrichment_job
from pricing.services import price_set
from tests.concurrency import run_at_once
from tests.factories import make_company, make_person
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
PHONE = "/api/v1/external/phone/enrichment/"
EMAIL = "/api/v1/external/email/enrichment/"
SINGLE = "/api/v1/enrichment/single/"
PEOPLE = ["Aaron", "Beatrice", "Caleb", "Delia", "Edgar", "Fiona", "Gideon", "Harriet", "Ivan", "Juno",
          "Kieran", "Lorna", "Magnus", "Nadia", "Oscar", "Petra", "Quentin", "Rosalind", "Silas", "Tamsin"]


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    """A nameserver that refuses at once: no lookups leave the machine and verdicts do not depend on them."""
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "acme.com")
    for index, first in enumerate(PEOPLE):
        make_person(company, first, "Tester", contact_email=f"{first.lower()}.tester@acme.com",
                    contact_linkedin_url=f"https://www.linkedin.com/in/{first.lower()}-tester",
                    contact_mobile_phone=f"+1512555{index:04d}")
    return company


def people(count=20):
    return [{"first_name": first, "last_name": "Tester", "company_name": "Acme Corp"} for first in PEOPLE[:count]]


def job_run(client, **body) -> str:
    response = client.post(SUBMIT, body, format="json")
    assert response.status_code == 200, response.json()
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)
    return job_id


def phones_job(client, data) -> str:
    return job_run(client, type="contact", level="standard", fields_to_enrich=["contact_mobile_phone"], data=data)


def results(client, job_id) -> list[dict]:
    return client.get(f"/api/v1/enrichment/results/{job_id}/", {"page_size": 1000}).json()["results"]


def credits_of(client, job_id) -> dict:
    return client.get(f"/api/v1/enrichment/status/{job_id}/").json()["credits"]


def payments_age(user, days: int) -> None:
    """Time travel: every payment of `user` was made `days` days earlier than recorded."""
    for paid in PaidValue.objects.filter(user=user):
        PaidValue.objects.filter(pk=paid.pk).update(paid_at=paid.paid_at - timedelta(days=days))


# --- jobs -------------------------------------------------------------------------------------------

def test_the_same_people_in_a_second_job_are_refunded_already_paid_row_by_row(api_client, alice, acme):
    first = phones_job(api_client, people())
    assert wallet_balance(user=alice) == Decimal("900")  # 20 phones at 5
    assert {row["charge_reason"] for row in results(api_client, first)} == {"charged"}

    second = phones_job(api_client, people())

    rows = results(api_client, second)
    assert [row["contact_mobile_phone"] for row in rows] == [f"+1512555{index:04d}" for index in range(20)]
    assert {row["charge_reason"] for row in rows} == {"already_paid"}
    assert wallet_balance(user=alice) == Decimal("900") == ledger_sum(user=alice)
    assert credits_of(api_client, second) == {
        "estimated": "100", "charged": "100", "refunded": "100", "net": "0",
        "refunds_by_reason": {"already_paid": {"rows": 20, "credits": "100"}}}
    refunds = LedgerEntry.objects.filter(job_id=second, kind="refund")
    assert refunds.count() == 20  # one ledger row per row and reason
    assert all(entry.reference.endswith(":already_paid") for entry in refunds)


def test_repeat_free_days_after_the_payment_the_same_people_pay_again(api_client, alice, acme):
    phones_job(api_client, people(4))
    payments_age(alice, 29)
    within = phones_job(api_client, people(4))
    assert {row["charge_reason"] for row in results(api_client, within)} == {"already_paid"}
    assert wallet_balance(user=alice) == Decimal("980")

    payments_age(alice, 2)  # 31 days now
    after = phones_job(api_client, people(4))

    assert {row["charge_reason"] for row in results(api_client, after)} == {"charged"}
    assert wallet_balance(user=alice) == Decimal("960")
    again = phones_job(api_client, people(4))  # the new payment starts a new window
    assert {row["charge_reason"] for row in results(api_client, again)} == {"already_paid"}
    assert wallet_balance(user=alice) == Decimal("960") == ledger_sum(user=alice)


def test_the_window_is_the_price_configs_and_zero_turns_it_off(api_client, alice, acme):
    price_set(name="repeat_free_days", value=Decimal("7"))
    phones_job(api_client, people(2))
    payments_age(alice, 8)
    phones_job(api_client, people(2))
    assert wallet_balance(user=alice) == Decimal("980")

    price_set(name="repeat_free_days", value=Decimal("0"))
    off = phones_job(api_client, people(2) * 2)

    assert {row["charge_reason"] for row in results(api_client, off)} == {"charged"}
    assert wallet_balance(user=alice) == Decimal("960")


def test_rows_of_one_job_that_resolve_to_one_person_are_charged_once(api_client, alice, acme, settings):
    settings.ENRICHMENT_BATCH_SIZE = 2  # the same person within a batch and across batches
    aaron = [{"first_name": "Aaron", "last_name": "Tester", "company_name": "Acme Corp"},
             {"contact_email": "Aaron.Tester@acme.com"},
             {"contact_linkedin_url": "https://linkedin.com/in/aaron-tester/"},
             {"first_name": "Beatrice", "last_name": "Tester", "company_website": "acme.com"},
             {"first_name": "Aaron", "last_name": "Tester", "company_website": "https://www.acme.com"}]

    job_id = phones_job(api_client, aaron)

    assert [row["charge_reason"] for row in results(api_client, job_id)] == [
        "charged", "already_paid", "already_paid", "charged", "already_paid"]
    assert wallet_balance(user=alice) == Decimal("990")  # Aaron and Beatrice, once each
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_a_person_paid_for_an_email_pays_for_their_phone_and_a_phone_row_pays_for_its_email(
        api_client, alice, acme):
    emails = job_run(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                     data=people(1))
    assert results(api_client, emails)[0]["contact_email"] == "aaron.tester@acme.com"
    assert wallet_balance(user=alice) == Decimal("998")

    phones = phones_job(api_client, people(1))
    assert results(api_client, phones)[0]["charge_reason"] == "charged"
    assert wallet_balance(user=alice) == Decimal("993")

    both = job_run(api_client, type="contact", level="standard",
                   fields_to_enrich=["contact_mobile_phone", "contact_email"], data=people(2)[1:])
    assert results(api_client, both)[0]["charge_reason"] == "charged"  # Beatrice's phone and email, at 5
    again = job_run(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                    data=people(2))
    assert [row["charge_reason"] for row in results(api_client, again)] == ["already_paid", "already_paid"]
    assert wallet_balance(user=alice) == Decimal("988") == ledger_sum(user=alice)


def test_a_row_that_is_not_delivered_is_refunded_for_that_and_records_no_payment(api_client, alice, acme):
    job_id = phones_job(api_client, [{"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"}])
    assert results(api_client, job_id)[0]["charge_reason"] == "not_found"
    assert not PaidValue.objects.filter(user=alice).exists()
    assert wallet_balance(user=alice) == Decimal("1000")


def test_another_customer_pays_for_the_same_people(api_client, make_client, bob, acme):
    phones_job(api_client, people(3))
    bobs = phones_job(make_client(bob), people(3))
    assert {row["charge_reason"] for row in results(make_client(bob), bobs)} == {"charged"}
    assert wallet_balance(user=bob) == Decimal("985")


def test_a_company_paid_for_is_free_again_and_an_expanded_account_pays_only_for_new_contacts(
        api_client, alice, acme):
    make_company("Globex Corporation", "globex.com")
    firmographics = {"type": "account", "level": "standard", "fields_to_enrich": ["industry"]}
    job_run(api_client, **firmographics, data=[{"company_website": "acme.com"}])
    again = job_run(api_client, **firmographics, data=[{"company_name": "Acme Corp"}, {"company_name": "Globex Corp"}])
    assert [row["charge_reason"] for row in results(api_client, again)] == ["already_paid", "charged"]
    assert wallet_balance(user=alice) == Decimal("998")

    contacts = {"type": "account", "level": "standard", "fields_to_enrich": ["first_name", "job_title"],
                "criteria": {"limit": 3, "keyword": "cto"}, "data": [{"company_website": "acme.com"}]}
    make_person(acme, "Robert", "Smith", job_title="CTO")
    make_person(acme, "Ruth", "Jones", job_title="Deputy CTO")
    job_run(api_client, **contacts)
    assert wallet_balance(user=alice) == Decimal("996")  # 2 of 3 contacts returned, at 1 each
    make_person(acme, "Rita", "Moreno", job_title="CTO Office")
    expanded = job_run(api_client, **contacts)

    rows = {row["first_name"]: row["charge_reason"] for row in results(api_client, expanded)}
    assert rows == {"Robert": "already_paid", "Ruth": "already_paid", "Rita": "charged"}
    assert wallet_balance(user=alice) == Decimal("995") == ledger_sum(user=alice)
    assert credits_of(api_client, expanded)["refunds_by_reason"] == {"already_paid": {"rows": 1, "credits": "2"}}


# --- single lookups ---------------------------------------------------------------------------------

def test_a_repeated_phone_lookup_answers_the_same_body_and_charges_nothing(make_user, make_client, acme):
    client = make_client(make_user("looker", credits=100), scheme="Token")
    body = {"email": "aaron.tester@acme.com"}
    first = client.post(PHONE, body, format="json")
    assert first.json()["status"] == "success" and first.json()["remaining_credits"] == 95
    assert (first.json()["results"]["phone"], first.json()["results"]["email"]) == (
        "+15125550000", "aaron.tester@acme.com")
    assert first["X-Credits-Charged"] == "5" and first["X-Charge-Reason"] == "charged"

    repeat = client.post(PHONE, {"linkedin_url": "linkedin.com/in/aaron-tester"}, format="json")

    assert repeat.status_code == 200
    assert repeat.json() == first.json()  # the values, and remaining_credits unchanged
    assert repeat["X-Credits-Charged"] == "0" and repeat["X-Charge-Reason"] == "already_paid"
    assert repeat["X-Remaining-Credits"] == "95"
    assert LedgerEntry.objects.filter(kind="deduction", wallet__user__username="looker").count() == 1


def test_values_a_job_paid_for_are_free_in_a_lookup_and_the_reverse(api_client, alice, acme):
    phones_job(api_client, people(1))
    lookup = api_client.post(PHONE, {"email": "aaron.tester@acme.com"}, format="json")
    assert lookup["X-Credits-Charged"] == "0" and lookup.json()["remaining_credits"] == 995
    # The job asked for no email, and the free lookup's bonus email was not paid for: the email lookup pays.
    email = api_client.post(EMAIL, {"email": "aaron.tester@acme.com"}, format="json")
    assert email.json()["status"] == "success" and email["X-Credits-Charged"] == "2"

    emails_job = job_run(api_client, type="contact", level="standard", fields_to_enrich=["contact_email"],
                         data=people(1))
    assert results(api_client, emails_job)[0]["charge_reason"] == "already_paid"
    assert wallet_balance(user=alice) == Decimal("993") == ledger_sum(user=alice)


def test_a_lookup_pays_again_after_repeat_free_days(make_user, make_client, acme):
    user = make_user("looker", credits=100)
    client = make_client(user, scheme="Token")
    client.post(EMAIL, {"email": "aaron.tester@acme.com"}, format="json")
    payments_age(user, 31)
    again = client.post(EMAIL, {"email": "aaron.tester@acme.com"}, format="json")
    assert again["X-Credits-Charged"] == "2" and again.json()["remaining_credits"] == 96


def test_a_repeated_person_and_company_lookup_says_already_paid(api_client, alice, acme):
    body = {"person": {"email": "aaron.tester@acme.com"}, "fields_to_enrich": ["job_title", "industry"]}
    first = api_client.post(SINGLE, body, format="json").json()
    assert first["charged_credits"] == "2" and first["charge_reason"] == "charged"

    repeat = api_client.post(SINGLE, body, format="json").json()

    assert repeat["charged_credits"] == "0" and repeat["charge_reason"] == "already_paid"
    assert repeat["data"] == first["data"] and repeat["remaining_credits"] == 998


def test_a_lookup_the_wallet_can_no_longer_pay_records_no_payment(make_user, make_client, acme, monkeypatch):
    from enrichment import single
    from wallet.services import wallet_adjust

    user = make_user("poor", credits=5)
    enrich_one = single.enrich_one

    def enrich_while_another_request_spends_the_wallet(**kwargs):
        row = enrich_one(**kwargs)
        wallet_adjust(user=user, amount=Decimal("-5"), note="spent meanwhile")
        return row

    monkeypatch.setattr(single, "enrich_one", enrich_while_another_request_spends_the_wallet)
    refused = make_client(user, scheme="Token").post(PHONE, {"email": "aaron.tester@acme.com"}, format="json")

    assert refused.status_code == 402
    assert not PaidValue.objects.filter(user=user).exists()


# --- concurrency ------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_lookups_of_one_person_charge_it_once(make_user, make_client, acme):
    user = make_user("racer", credits=100)
    token = make_client(user).token.plaintext
    answers = []

    def lookup(_index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post(PHONE, {"email": "aaron.tester@acme.com"}, format="json")
        answers.append((response.status_code, response["X-Credits-Charged"], response.json()["results"]["phone"]))

    run_at_once(lookup, 16)

    assert sorted(charged for _, charged, _ in answers) == ["0"] * 15 + ["5"]
    assert {(code, phone) for code, _, phone in answers} == {(200, "+15125550000")}
    assert wallet_balance(user=user) == Decimal("95") == ledger_sum(user=user)


@pytest.mark.django_db(transaction=True)
def test_concurrent_settlements_of_one_person_from_separate_connections_pay_it_once(make_user):
    """Sixteen batches (each in its own transaction, as `_rows_save` runs them) deliver one person at once."""
    from django.db import transaction

    user = make_user("racer")
    claim = PaidClaim(keys=(("person:li:linkedin.com/in/aaron-tester", "phone"),))
    charges = [RowCharge(charge=Decimal("5"), refund_due=Decimal("0"), reason="", claim=claim, reference=f"row:{i}")
               for i in range(16)]

    def settle(index):
        with transaction.atomic():
            repeat_charges_waive(user=user, job=None, charges=[charges[index]])

    run_at_once(settle, 16)

    assert sorted(charge.already_paid for charge in charges) == [Decimal("0")] + [Decimal("5")] * 15
    assert PaidValue.objects.get(user=user).reference == next(c.reference for c in charges if not c.already_paid)


# --- through real workers ---------------------------------------------------------------------------

def job_submit(client, data) -> str:
    response = client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_mobile_phone"],
                                    "data": data}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def job_completed(job_id) -> bool:
    from enrichment.models import Job

    return Job.objects.get(job_id=job_id).status == "Enrichment Completed"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_through_a_real_worker_the_same_twenty_people_are_free_in_a_second_job_until_the_window_ends(
        api_client, alice, acme, workers):
    from tests.worker import wait_for

    workers("w1")
    for expected_balance in ("900", "900"):
        job_id = job_submit(api_client, people())
        wait_for(lambda job_id=job_id: job_completed(job_id), timeout=60, message="job completion")
        assert wallet_balance(user=alice) == Decimal(expected_balance)
    rows = results(api_client, job_id)
    assert {row["charge_reason"] for row in rows} == {"already_paid"} and len(rows) == 20
    assert all(row["contact_mobile_phone"] for row in rows)
    assert credits_of(api_client, job_id)["net"] == "0"

    payments_age(alice, 31)
    job_id = job_submit(api_client, people())
    wait_for(lambda: job_completed(job_id), timeout=60, message="job completion")

    assert {row["charge_reason"] for row in results(api_client, job_id)} == {"charged"}
    assert wallet_balance(user=alice) == Decimal("800") == ledger_sum(user=alice)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_jobs_on_two_workers_delivering_the_same_people_at_once_pay_for_each_once(
        api_client, alice, acme, workers):
    from tests.worker import wait_for

    # One row per batch, and the second job in the opposite order: the two meet in the middle, person by person.
    for worker in [workers(name, ENRICHMENT_BATCH_SIZE=1) for name in ("w1", "w2")]:
        worker.wait_until_ready()
    first, second = job_submit(api_client, people()), job_submit(api_client, people()[::-1])
    wait_for(lambda: job_completed(first) and job_completed(second), timeout=120, message="both jobs")

    reasons = [row["charge_reason"] for job_id in (first, second) for row in results(api_client, job_id)]
    assert reasons.count("charged") == 20 and reasons.count("already_paid") == 20
    charged = {row["imported_first_name"] for job_id in (first, second) for row in results(api_client, job_id)
               if row["charge_reason"] == "charged"}
    assert charged == set(PEOPLE)
    assert PaidValue.objects.filter(user=alice).count() == 20
    assert wallet_balance(user=alice) == Decimal("900") == ledger_sum(user=alice)
