"""The Python client (`client/`, import `ecore_client`) against the real service: gunicorn and a Celery
worker on the test database. What a customer's script sees: jobs submitted, waited for and read,
the documented errors as typed exceptions, retries that never charge twice."""

import asyncio
import csv
import io
import json
import socket
import threading
import uuid
from decimal import Decimal

import httpx
import pytest
from ecore_client import (
    AsyncClient,
    AuthenticationFailed,
    BadRequest,
    Client,
    InsufficientCredits,
    NotFound,
    PlanLimitExceeded,
    RetryPolicy,
    SpendCapReached,
)
from openpyxl import load_workbook

from enrichment.models import Job
from pricing.services import plan_assign
from tests.factories import make_person
from tokens.models import ApiToken
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance
from wallet.services import spend_cap_set

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

FIELDS = ["contact_email", "job_title"]




@pytest.fixture
def ecore(service, api_client):
    with Client(service.url, api_client.token.plaintext, retry=RetryPolicy(backoff_seconds=0.05)) as client:
        yield client


def people(*firsts):
    return [{"first_name": first, "last_name": "Tester", "company_name": "Acme Corp"} for first in firsts]


def test_a_job_is_submitted_waited_for_and_read_back(ecore, alice, acme_officers):
    seen = []
    job = ecore.submit(people("Beatrice", "Nobody"), fields=FIELDS)
    status = ecore.wait(job.job_id, interval=0.2, on_progress=seen.append)

    assert job.estimated_credits == 4 and not job.replayed
    assert status.completed and status.rows_processed == 2
    assert status.credits.charged == 4 and status.credits.refunded == 2 and status.credits.net == 2
    assert status.fill_rates() == {"contact_email": 0.5, "job_title": 0.5}
    assert seen[-1].status == "Enrichment Completed"
    rows = list(ecore.results(job.job_id, page_size=1))  # two pages
    assert [(row["contact_email"], row["job_title"]) for row in rows] == [("beatrice.tester@acme.com", "CFO"),
                                                                            ("", "")]
    assert wallet_balance(user=alice) == Decimal("998") == ledger_sum(user=alice)


def test_results_download_as_csv_xlsx_and_json_lines(ecore, acme_officers):
    job = ecore.submit(people("Caleb", "Delia"), fields=FIELDS)
    ecore.wait(job.job_id, interval=0.2)

    from_csv = list(csv.DictReader(io.StringIO(ecore.download(job.job_id, format="csv").decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(ecore.download(job.job_id, format="xlsx"))).active
    lines = ecore.download(job.job_id, format="jsonl").decode().splitlines()

    assert [row["contact_email"] for row in from_csv] == ["caleb.tester@acme.com", "delia.tester@acme.com"]
    header = [cell.value for cell in sheet[1]]
    assert [sheet.cell(row=2, column=header.index("job_title") + 1).value, sheet.max_row] == ["CTO", 3]
    assert [json.loads(line)["job_title"] for line in lines] == ["CTO", "COO"]


def test_the_documented_errors_are_typed_exceptions_with_the_seeds_bodies(service, ecore, make_user, make_client):
    with pytest.raises(BadRequest) as bad_fields:
        ecore.submit(people("Caleb"), fields=["some_unknown_field"])
    assert bad_fields.value.status_code == 400
    assert bad_fields.value.body["fields_to_enrich"] == "Invalid fields: ['some_unknown_field']"

    with pytest.raises(PlanLimitExceeded) as over_plan:
        ecore.submit(people(*["Caleb"] * 51), fields=FIELDS)
    assert (over_plan.value.limit, over_plan.value.requested) == (50, 51)

    poor = make_client(make_user("poor", credits=1))
    with Client(service.url, poor.token.plaintext) as broke, pytest.raises(InsufficientCredits) as short:
        broke.submit(people("Caleb", "Delia"), fields=FIELDS)
    assert short.value.body == {"error": "You require 4 credits, but only 1 are available."}
    assert (short.value.required, short.value.available) == (4, 1)

    with Client(service.url, "eck_live_not-a-token") as stranger, pytest.raises(AuthenticationFailed) as refused:
        stranger.status("9f3e7a2b-7c1d-4f12-8c9a-1b2c3d4e5f60")
    assert refused.value.body == {"message": "Invalid or expired token"}

    with pytest.raises(NotFound):
        ecore.status("9f3e7a2b-7c1d-4f12-8c9a-1b2c3d4e5f60")

    capped = make_client(make_user("capped", credits=100))
    spend_cap_set(token=capped.token.token, period="daily", limit=Decimal("3"))
    with Client(service.url, capped.token.plaintext) as limited, pytest.raises(SpendCapReached) as over_cap:
        limited.submit(people("Caleb", "Delia"), fields=FIELDS)
    assert (over_cap.value.cap, over_cap.value.limit, over_cap.value.requested) == ("token_daily", 3, 4)
    assert isinstance(over_cap.value, InsufficientCredits) and over_cap.value.status_code == 402
    assert Job.objects.count() == 0


class DropFirstResponse:
    """A TCP proxy in front of the service that forwards the first request, lets the service answer it
    in full, and closes the connection before the client reads a byte of the answer."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            drop = self.dropped == 0
            self.dropped += drop
            threading.Thread(target=self._pump, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self._answer, args=(upstream, downstream, drop), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    @staticmethod
    def _answer(upstream, downstream, drop: bool):
        if drop:
            upstream.recv(65536)  # the service has answered: the job exists
            downstream.shutdown(socket.SHUT_RDWR)
            downstream.close()
            upstream.close()
            return
        DropFirstResponse._pump(upstream, downstream)

    def close(self):
        self.listener.close()


def test_a_submit_whose_answer_was_lost_is_retried_and_makes_one_job_and_one_charge(service, api_client, alice,
                                                                                     acme_officers):
    proxy = DropFirstResponse(service.web.port)
    try:
        with Client(proxy.url, api_client.token.plaintext, retry=RetryPolicy(backoff_seconds=0.05)) as ecore:
            job = ecore.submit(people("Beatrice", "Caleb"), fields=FIELDS)
    finally:
        proxy.close()

    assert proxy.dropped == 1
    assert job.replayed  # the second try got the first try's answer
    assert list(Job.objects.values_list("job_id", flat=True)) == [uuid.UUID(job.job_id)]
    assert LedgerEntry.objects.filter(wallet__user=alice, amount__lt=0).count() == 1
    assert wallet_balance(user=alice) == Decimal("996")


def test_bulk_splits_by_the_plan_and_submits_nothing_when_any_part_is_invalid_or_unaffordable(
        ecore, alice, acme_officers, make_user, make_client, service):
    plan_assign(username="alice", enrichment_limit=4)
    bad = people(*["Beatrice"] * 9) + [{"job_title": "no identifier"}] + people("Caleb")
    with pytest.raises(BadRequest) as refused:
        ecore.bulk(bad, fields=FIELDS)
    assert refused.value.record_number == 10 and "(record 10 of the input)" in str(refused.value)
    assert Job.objects.count() == 0

    poor = make_client(make_user("poor", credits=17))
    plan_assign(username="poor", enrichment_limit=4)
    with Client(service.url, poor.token.plaintext) as broke, pytest.raises(InsufficientCredits) as short:
        broke.bulk(people(*["Caleb"] * 9), fields=FIELDS)
    assert (short.value.required, short.value.available) == (18, 17)
    assert Job.objects.count() == 0

    submitted = ecore.bulk(people(*["Beatrice", "Caleb", "Delia"] * 3), fields=FIELDS, idempotency_key="crm-export")
    again = ecore.bulk(people(*["Beatrice", "Caleb", "Delia"] * 3), fields=FIELDS, idempotency_key="crm-export")
    statuses = ecore.wait_all(submitted.job_ids, interval=0.2)

    assert [len(s.raw["fields_to_enrich"]) for s in statuses] == [2, 2, 2]
    assert [s.rows_total for s in statuses] == [4, 4, 1]
    assert again.job_ids == submitted.job_ids and Job.objects.count() == 3
    rows = [row for job_id in submitted.job_ids for row in ecore.results(job_id)]
    assert [row["job_title"] for row in rows] == ["CFO", "CTO", "COO"] * 3
    # 18 charged; three people, each paid for once: the six repeats are refunded already_paid.
    assert wallet_balance(user=alice) == Decimal("994") == ledger_sum(user=alice)


class StatusesSeen(httpx.AsyncHTTPTransport):
    """The real transport, noting the status of every answer."""

    def __init__(self):
        super().__init__()
        self.statuses = []

    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        self.statuses.append(response.status_code)
        return response


def test_rate_limited_lookups_back_off_and_all_succeed_charged_once_each(service, make_user, make_client, acme_officers):
    firsts = ["Aaron", "Fiona", "Gideon", "Harriet", "Ivan", "Juno"]  # six people: a repeat would be free
    for index, first in enumerate(firsts):
        make_person(acme_officers, first, "Tester", contact_mobile_phone=f"+1 512 555 01{index:02d}")
    user = make_user("burst", credits=100)
    issued = make_client(user).token
    ApiToken.objects.filter(pk=issued.token.pk).update(rate_limit_per_second=2)
    token = issued.plaintext
    transport = StatusesSeen()

    async def burst():
        async with AsyncClient(service.url, token, retry=RetryPolicy(tries=8), transport=transport) as ecore:
            return await asyncio.gather(*(ecore.phone(first_name=first, last_name="Tester", company_name="Acme Corp")
                                          for first in firsts))

    lookups = asyncio.run(burst())

    assert 429 in transport.statuses  # six at once against two a second: some were refused, then retried
    assert transport.statuses.count(200) == 6
    assert [(lookup.found, lookup.charged) for lookup in lookups] == [(True, 5)] * 6
    assert sorted(lookup.remaining_credits for lookup in lookups) == [70, 75, 80, 85, 90, 95]
    assert wallet_balance(user=user) == Decimal("70") == ledger_sum(user=user)


def test_the_async_client_runs_a_job_and_a_lookup(service, api_client, acme_officers):
    async def run():
        async with AsyncClient(service.url, api_client.token.plaintext) as ecore:
            job = await ecore.submit(people("Delia"), fields=FIELDS)
            status = await ecore.wait(job.job_id, interval=0.2)
            rows = [row async for row in ecore.results(job.job_id)]
            missing = await ecore.email(first_name="Nobody", last_name="Here", company_name="Acme Corp")
            return status, rows, missing, await ecore.account()

    status, rows, missing, account = asyncio.run(run())

    assert status.completed and rows[0]["contact_email"] == "delia.tester@acme.com"
    assert (missing.found, missing.charged, missing.message) == (False, 0, "Email not found")
    assert account.balance == Decimal("998") and account.records_per_submission == 50
