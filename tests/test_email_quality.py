"""Email quality: every email a job or a lookup finds carries a status and its reason, ZeroBounce's
documented answers are mapped and charged as the README's Credits section says, and catch-all domains
are remembered and delivered or refused as the job's `accept_catch_all` says."""

from decimal import Decimal

import pytest

from enrichment.models import Job, JobRow
from enrichment.tasks import run_enrichment_job
from sources.email_validation import (
    EmailStatus,
    LocalEmailValidator,
    MxStatus,
    catch_all_domains,
    email_validator_backend,
    zerobounce_verdict,
)
from sources.providers.zerobounce import ZeroBounceResult
from tests.factories import make_company, make_person
from tests.provider_server import ProviderServer
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

SUBMIT = "/api/v1/enrichment/submit/"
ESTIMATE = "/api/v1/enrichment/estimate/"
EMAIL = "/api/v1/external/email/enrichment/"
PRO_EMAIL_PRICE = Decimal("4")
STANDARD_EMAIL_PRICE = Decimal("2")

D, C, R, U, X = (EmailStatus.DELIVERABLE, EmailStatus.CATCH_ALL, EmailStatus.RISKY, EmailStatus.UNKNOWN,
                 EmailStatus.UNDELIVERABLE)
# Every (status, sub_status) ZeroBounce documents, and what it is to us.
ZEROBOUNCE_ANSWERS = [
    ("valid", "", D), ("valid", "alias_address", D), ("valid", "leading_period_removed", D), ("valid", "alternate", D),
    ("valid", "accept_all", C), ("valid", "role_based_accept_all", X),
    ("invalid", "", X), ("invalid", "does_not_accept_mail", X), ("invalid", "failed_syntax_check", X),
    ("invalid", "possible_typo", X), ("invalid", "mailbox_not_found", X), ("invalid", "no_dns_entries", X),
    ("invalid", "mailbox_quota_exceeded", X), ("invalid", "unroutable_ip_address", X),
    ("catch-all", "", C),
    ("spamtrap", "", X), ("abuse", "", X),
    ("do_not_mail", "", X), ("do_not_mail", "role_based", X), ("do_not_mail", "role_based_catch_all", X),
    ("do_not_mail", "disposable", X), ("do_not_mail", "toxic", X), ("do_not_mail", "global_suppression", X),
    ("do_not_mail", "possible_trap", X), ("do_not_mail", "mx_forward", X),
    ("unknown", "", U), ("unknown", "antispam_system", U), ("unknown", "exception_occurred", U),
    ("unknown", "failed_smtp_connection", U), ("unknown", "forcible_disconnect", U), ("unknown", "greylisted", U),
    ("unknown", "mail_server_did_not_respond", U), ("unknown", "mail_server_temporary_error", U),
    ("unknown", "timeout_exceeded", U),
]


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    """A nameserver that refuses at once: no lookups leave the machine and verdicts do not depend on them."""
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


@pytest.fixture
def server(settings):
    with ProviderServer() as running:
        running.configure(settings, providers=("zerobounce",))
        yield running


def submit(client, **body) -> str:
    response = client.post(SUBMIT, {"type": "contact", "fields_to_enrich": ["contact_email"], **body}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def results_of(client, job_id) -> list[dict]:
    return client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]


def refund_reasons(job_id) -> dict[int, str]:
    return dict(JobRow.objects.filter(job_id=job_id, refund_due__gt=0).values_list("position", "refund_reason"))


def quality(row: dict) -> tuple[str, str, str]:
    return row["contact_email"], row["contact_email_status"], row["contact_email_status_reason"]


# --- the mappings ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "sub_status", "expected"), ZEROBOUNCE_ANSWERS)
def test_each_documented_zerobounce_answer_has_one_status_and_names_itself_in_the_reason(status, sub_status, expected):
    verdict = zerobounce_verdict(ZeroBounceResult(address="jane@acme.com", status=status, sub_status=sub_status))

    assert verdict.status is expected
    assert verdict.accepted is (expected is not EmailStatus.UNDELIVERABLE)
    assert verdict.status_reason == ":".join(part for part in ("zerobounce", status, sub_status) if part)
    assert verdict.source == "zerobounce"


def test_an_undocumented_sub_status_counts_as_its_status_and_an_undocumented_status_as_unknown():
    def status_of(status, sub_status):
        return zerobounce_verdict(ZeroBounceResult(address="a@b.com", status=status, sub_status=sub_status)).status

    assert status_of("valid", "gold") is EmailStatus.DELIVERABLE
    assert status_of("invalid", "something_new") is EmailStatus.UNDELIVERABLE
    assert status_of("maybe", "") is EmailStatus.UNKNOWN


def test_a_guess_is_used_only_when_zerobounce_confirms_the_mailbox():
    def guess(status, sub_status=""):
        return zerobounce_verdict(ZeroBounceResult(address="g@acme.com", status=status, sub_status=sub_status),
                                  guessed=True)

    assert guess("valid").accepted
    assert [guess(*answer).accepted for answer in (("catch-all",), ("valid", "accept_all"), ("unknown",))] == [
        False, False, False]
    assert guess("catch-all").status is EmailStatus.CATCH_ALL


class FixedMx:
    """The MX status of each domain, as a DNS that answers would give it."""

    def __init__(self, statuses: dict[str, MxStatus]):
        self.statuses = statuses

    def check_many(self, domains):
        return {domain: self.statuses.get(domain, MxStatus.UNKNOWN) for domain in domains}


def test_the_local_checks_give_each_address_a_status_and_a_reason_code():
    make_company("Globex", "globex.com")
    validator = LocalEmailValidator(mx_checker=FixedMx({
        "acme.com": MxStatus.ACCEPTS_MAIL, "globex.com": MxStatus.ACCEPTS_MAIL, "gone.example": MxStatus.NO_SUCH_DOMAIN,
        "nomail.example": MxStatus.NO_MAIL}))

    verdicts = validator.validate_many(
        ["jane@acme.com", "joe@unsure.example", "ann@gone.example", "bob@nomail.example", "info@acme.com",
         "x@mailinator.com", "not an address", "homer.simpson@globex.com", "one.guess@globex.com"],
        guessed={"homer.simpson@globex.com": 3, "one.guess@globex.com": 1})

    assert {email: (str(verdict.status), verdict.status_reason, verdict.accepted)
            for email, verdict in verdicts.items()} == {
        "jane@acme.com": ("deliverable", "mx_found", True),
        "joe@unsure.example": ("unknown", "mx_unknown", True),
        "ann@gone.example": ("undeliverable", "domain_not_found", False),
        "bob@nomail.example": ("undeliverable", "mx_missing", False),
        "info@acme.com": ("undeliverable", "role_address", False),
        "x@mailinator.com": ("undeliverable", "disposable_domain", False),
        "not an address": ("undeliverable", "invalid_syntax", False),
        "homer.simpson@globex.com": ("risky", "pattern_guess", True),
        "one.guess@globex.com": ("unknown", "pattern_too_few_examples", False),
    }


def test_a_domain_zerobounce_finds_catch_all_is_remembered_for_the_local_checks(server):
    make_company("Catchall Co", "catchall.example")
    server.catch_all_domains.add("catchall.example")

    verdicts = email_validator_backend().validate_many(["ann@catchall.example", "jane@acme.com"])

    assert verdicts["ann@catchall.example"].status is EmailStatus.CATCH_ALL
    assert catch_all_domains(["catchall.example", "acme.com"]) == {"catchall.example"}
    local = LocalEmailValidator().validate_many(["bob@catchall.example", "new.guess@catchall.example"],
                                                guessed={"new.guess@catchall.example": 5})
    assert (local["bob@catchall.example"].status, local["bob@catchall.example"].status_reason) == (
        EmailStatus.CATCH_ALL, "catch_all_domain")
    assert local["bob@catchall.example"].accepted
    # Any address is accepted there, so a guess proves nothing.
    assert not local["new.guess@catchall.example"].accepted


# --- jobs -------------------------------------------------------------------------------------------

@pytest.fixture
def people_with_every_answer(server):
    """One DataCore person per kind of ZeroBounce answer, all at Acme."""
    acme = make_company("Acme Corp", "acme.com")
    answers = {"valid": ("valid", ""), "catchall": ("catch-all", ""), "unsure": ("unknown", "greylisted"),
               "gone": ("invalid", "mailbox_not_found"), "trap": ("spamtrap", ""), "complainer": ("abuse", ""),
               "toxic": ("do_not_mail", "toxic"), "scored": ("valid", "accept_all")}
    for first, answer in answers.items():
        email = f"{first}.person@acme.com"
        make_person(acme, first.capitalize(), "Person", contact_email=email)
        server.verdicts[email] = answer
    return [{"first_name": first.capitalize(), "last_name": "Person", "company_name": "Acme Corp"}
            for first in answers]


def test_a_pro_job_maps_each_zerobounce_answer_and_charges_only_the_emails_it_delivers(
        api_client, alice, people_with_every_answer):
    job_id = submit(api_client, level="pro", data=people_with_every_answer)
    run_enrichment_job(job_id)

    rows = results_of(api_client, job_id)
    assert [quality(row) for row in rows] == [
        ("valid.person@acme.com", "deliverable", "zerobounce:valid"),
        ("catchall.person@acme.com", "catch_all", "zerobounce:catch-all"),
        ("unsure.person@acme.com", "unknown", "zerobounce:unknown:greylisted"),
        ("", "undeliverable", "zerobounce:invalid:mailbox_not_found"),
        ("", "undeliverable", "zerobounce:spamtrap"),
        ("", "undeliverable", "zerobounce:abuse"),
        ("", "undeliverable", "zerobounce:do_not_mail:toxic"),
        ("scored.person@acme.com", "catch_all", "zerobounce:valid:accept_all"),
    ]
    assert rows[4]["notes"]["contact_email"] == "dropped: spamtrap"
    assert refund_reasons(job_id) == dict.fromkeys((3, 4, 5, 6), "no_deliverable_email")
    assert wallet_balance(user=alice) == Decimal("1000") - 4 * PRO_EMAIL_PRICE
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_a_job_that_refuses_catch_all_drops_and_refunds_them_and_says_so(api_client, alice, people_with_every_answer):
    job_id = submit(api_client, level="pro", data=people_with_every_answer, accept_catch_all=False)
    run_enrichment_job(job_id)

    rows = results_of(api_client, job_id)
    assert quality(rows[1]) == ("", "catch_all", "zerobounce:catch-all")
    assert rows[1]["notes"]["contact_email"] == "dropped: catch-all, and accept_catch_all is false"
    assert quality(rows[7]) == ("", "catch_all", "zerobounce:valid:accept_all")
    assert refund_reasons(job_id) == {1: "catch_all_refused", 3: "no_deliverable_email", 4: "no_deliverable_email",
                                      5: "no_deliverable_email", 6: "no_deliverable_email", 7: "catch_all_refused"}
    assert wallet_balance(user=alice) == Decimal("1000") - 2 * PRO_EMAIL_PRICE
    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    assert status["accept_catch_all"] is False
    assert next(entry for entry in status["stages"] if entry["name"] == "email_validation")["detail"] == (
        "4 undeliverable dropped, 2 catch-all refused")


def test_a_standard_job_knows_a_catch_all_domain_a_pro_job_found(api_client, alice, server):
    initech = make_company("Initech", "initech.com")
    make_person(initech, "Peter", "Gibbons", contact_email="peter@initech.com")
    make_person(initech, "Bill", "Lumbergh", contact_email="bill@initech.com")
    server.catch_all_domains.add("initech.com")
    pro = submit(api_client, level="pro", data=[{"first_name": "Peter", "last_name": "Gibbons",
                                                 "company_name": "Initech"}])
    run_enrichment_job(pro)

    bill = [{"first_name": "Bill", "last_name": "Lumbergh", "company_name": "Initech"}]
    accepting, refusing = (submit(api_client, level="standard", data=bill),
                           submit(api_client, level="standard", data=bill, accept_catch_all=False))
    run_enrichment_job(accepting)
    run_enrichment_job(refusing)

    assert quality(results_of(api_client, accepting)[0]) == ("bill@initech.com", "catch_all", "catch_all_domain")
    assert quality(results_of(api_client, refusing)[0]) == ("", "catch_all", "catch_all_domain")
    assert refund_reasons(refusing) == {0: "catch_all_refused"} and refund_reasons(accepting) == {}
    assert len(server.requests_to("zerobounce")) == 1  # Standard jobs never call the paid validator
    assert wallet_balance(user=alice) == Decimal("1000") - PRO_EMAIL_PRICE - STANDARD_EMAIL_PRICE


def test_rows_without_an_email_have_empty_status_columns_next_to_the_email(api_client, server):
    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com")
    job_id = submit(api_client, level="standard", fields_to_enrich=["contact_email", "job_title"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                          {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"}])
    run_enrichment_job(job_id)

    jane, nobody = results_of(api_client, job_id)
    assert quality(jane) == ("jane.doe@acme.com", "unknown", "mx_unknown")
    assert quality(nobody) == ("", "", "")
    csv = api_client.get(f"/api/v1/enrichment/results/{job_id}/", {"format": "csv"}).content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("contact_email,contact_email_status,contact_email_status_reason,job_title,")


# --- the options ------------------------------------------------------------------------------------

def test_accept_catch_all_defaults_to_true_and_is_a_boolean(api_client):
    body = {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
            "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}]}
    assert Job.objects.get(job_id=submit(api_client, **body)).accept_catch_all is True

    response = api_client.post(SUBMIT, {**body, "accept_catch_all": "perhaps"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"accept_catch_all"}
    assert api_client.post(ESTIMATE, {**body, "accept_catch_all": False}, format="json").status_code == 200


def test_a_file_submit_without_accept_catch_all_accepts_catch_all(api_client):
    """A form's missing boolean would read as false in DRF without the field's default."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    def upload(**fields):
        csv = SimpleUploadedFile("people.csv", b"first_name,last_name,company_name\nJane,Doe,Acme Corp\n",
                                 content_type="text/csv")
        response = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": "contact_email",
                                            "file": csv, **fields}, format="multipart")
        assert response.status_code == 200, response.json()
        return Job.objects.get(job_id=response.json()["job_id"])

    assert upload().accept_catch_all is True
    assert upload(accept_catch_all="false").accept_catch_all is False
    assert upload(accept_catch_all="").accept_catch_all is True


def test_the_new_options_leave_the_seeds_error_bodies_and_order_alone(api_client):
    options = {"accept_catch_all": False, "max_age_days": 30}
    bad_level = {"type": "account", "level": "pro", "fields_to_enrich": ["industry"],
                 "data": [{"company_name": "Acme Corp"}]}
    bad_identifier = {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"],
                      "data": [{"job_title": "CTO"}]}
    for body in (bad_level, bad_identifier, {**bad_level, "type": "person"}):
        plain = api_client.post(SUBMIT, body, format="json")
        with_options = api_client.post(SUBMIT, {**body, **options}, format="json")
        assert (with_options.status_code, with_options.json()) == (plain.status_code, plain.json())
        assert plain.status_code == 400


# --- the single email endpoint ---------------------------------------------------------------------

def test_the_email_endpoint_returns_the_status_beside_its_email_status(make_user, make_client, server):
    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com")
    server.verdicts["jane.doe@acme.com"] = ("catch-all", "")
    client = make_client(make_user("single", credits=10), scheme="Token")

    body = client.post(EMAIL, {"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                       format="json").json()

    assert body == {"success": True, "status": "success",
                    "results": {"email": "jane.doe@acme.com", "email_status": "catch-all",
                                "contact_email_status": "catch_all",
                                "contact_email_status_reason": "zerobounce:catch-all"},
                    "remaining_credits": 8}
