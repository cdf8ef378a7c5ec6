"""The MCP server (`python -m ecore_client.mcp_server`) driven by the MCP SDK's client over stdio, against
the real service: gunicorn and a Celery worker on the test database. What an AI agent sees: the tools,
a cost it must confirm before anything is spent, and the service's refusals as tool errors."""

import sys
import time
import uuid

import anyio
import pytest
from mcp import Client, StdioServerParameters

from enrichment.models import Job
from wallet.selectors import wallet_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

FIELDS = ["contact_email", "job_title"]
PEOPLE = [{"first_name": "Beatrice", "last_name": "Tester", "company_name": "Acme Corp"},
          {"first_name": "Nobody", "last_name": "Here", "company_name": "Acme Corp"}]
JOB = {"records": PEOPLE, "fields_to_enrich": FIELDS, "type": "contact", "level": "standard"}
# Every row found, so no refund can move the balance while the test reads it.
FOUND_JOB = {**JOB, "records": PEOPLE[:1]}




@pytest.fixture
def agent(service, make_client, alice):
    """Runs `scenario(session)` against an MCP server subprocess holding the token of `user` (alice by default)."""

    def run(scenario, *, user=alice, token=None):
        token = make_client(user).token.plaintext if token is None else token
        server = StdioServerParameters(command=sys.executable, args=["-m", "ecore_client.mcp_server"],
                                       env={"ECORE_URL": service.url, "ECORE_TOKEN": token})

        async def connected():
            async with Client(server, read_timeout_seconds=60) as session:
                return await scenario(session)

        return anyio.run(connected)

    return run


def text_of(result) -> str:
    return " ".join(block.text for block in result.content)


def test_the_tools_are_listed_and_those_that_spend_say_so(agent):
    tools = {tool.name: tool for tool in agent(lambda session: session.list_tools()).tools}

    assert set(tools) == {"estimate_enrichment", "submit_enrichment", "job_status", "job_results", "find_phone",
                          "find_email", "enrich_person_company", "account_balance"}
    submit = tools["submit_enrichment"]
    assert submit.annotations.read_only_hint is False and submit.annotations.idempotent_hint is False
    assert submit.annotations.open_world_hint is True
    assert "SPENDS CREDITS" in submit.description
    assert "confirm_credits" in submit.input_schema["required"]
    for free in ("estimate_enrichment", "job_status", "job_results", "account_balance"):
        assert tools[free].annotations.read_only_hint is True
    for tool in tools.values():  # the token comes from the environment only
        assert not any("token" in name for name in tool.input_schema.get("properties", {}))


def test_estimate_then_submit_with_the_confirmed_cost_creates_one_job_and_charges_it(agent, alice, acme_officers):
    async def scenario(session):
        estimate = await session.call_tool("estimate_enrichment", FOUND_JOB)
        submitted = await session.call_tool("submit_enrichment", {
            **FOUND_JOB, "confirm_credits": estimate.structured_content["estimated_credits"]})
        return estimate, submitted

    estimate, submitted = agent(scenario)

    assert not estimate.is_error
    assert estimate.structured_content["estimated_credits"] == 2  # the standard email rate
    assert estimate.structured_content["credits_charged"] == 0
    assert estimate.structured_content["balance_left"] == 1000
    assert "confirm_credits=2" in text_of(estimate)
    assert not submitted.is_error, text_of(submitted)
    assert submitted.structured_content["credits_charged"] == 2
    assert submitted.structured_content["balance_left"] == 998
    assert list(Job.objects.values_list("job_id", flat=True)) == [uuid.UUID(submitted.structured_content["job_id"])]
    assert wallet_balance(user=alice) == 998


def test_a_wrong_or_missing_confirmation_submits_nothing_and_charges_nothing(agent, alice, acme_officers):
    async def scenario(session):
        wrong = await session.call_tool("submit_enrichment", {**JOB, "confirm_credits": 2})
        missing = await session.call_tool("submit_enrichment", JOB)
        return wrong, missing

    wrong, missing = agent(scenario)

    assert wrong.is_error and missing.is_error
    assert "estimated at 4 credits" in text_of(wrong) and "confirm_credits=4" in text_of(wrong)
    assert "confirm_credits" in text_of(missing)
    assert Job.objects.count() == 0
    assert wallet_balance(user=alice) == 1000


def test_a_completed_job_reports_its_credits_fill_rates_and_pages_of_rows(agent, alice, acme_officers):
    async def scenario(session):
        submitted = await session.call_tool("submit_enrichment", {**JOB, "confirm_credits": 4})
        job_id = submitted.structured_content["job_id"]
        deadline = time.monotonic() + 60
        while True:
            status = await session.call_tool("job_status", {"job_id": job_id})
            if status.structured_content["status"] == "Enrichment Completed" or time.monotonic() > deadline:
                break
            await anyio.sleep(0.3)
        pages = [await session.call_tool("job_results", {"job_id": job_id, "page": page, "page_size": 1})
                 for page in (1, 2)]
        everything = await session.call_tool("job_results", {"job_id": job_id, "page_size": 5000})
        return status, pages, everything

    status, pages, everything = agent(scenario)

    document = status.structured_content
    assert document["status"] == "Enrichment Completed"
    assert document["progress"]["rows_processed"] == 2
    assert document["credits"] == {"estimated": 4, "charged": 4, "refunded": 2, "net": 2}
    assert document["fill_rates"] == {"contact_email": 0.5, "job_title": 0.5}
    assert document["credits_charged"] == 0 and document["balance_left"] == 998
    first, second = (page.structured_content for page in pages)
    assert [row["contact_email"] for row in first["rows"]] == ["beatrice.tester@acme.com"]
    assert first["has_more"] is True and second["has_more"] is False
    assert [row["job_title"] for row in second["rows"]] == [""]
    assert everything.structured_content["page_size"] == 200
    assert len(everything.structured_content["rows"]) == 2
    assert wallet_balance(user=alice) == 998


def test_find_phone_charges_5_when_found_and_nothing_when_not(agent, alice, acme_officers):
    async def scenario(session):
        found = await session.call_tool("find_phone", {"first_name": "Beatrice", "last_name": "Tester",
                                                       "company_name": "Acme Corp"})
        missing = await session.call_tool("find_phone", {"first_name": "Nobody", "last_name": "Here",
                                                         "company_name": "Acme Corp"})
        return found.structured_content, missing.structured_content

    found, missing = agent(scenario)

    assert found["found"] is True and found["results"]["phone"]
    assert found["credits_charged"] == 5 and found["balance_left"] == 995
    assert missing["found"] is False
    assert missing["credits_charged"] == 0 and missing["balance_left"] == 995
    assert wallet_balance(user=alice) == 995


def test_a_wallet_without_credits_gets_the_services_402_message_and_no_job(agent, make_user, acme_officers):
    broke = make_user("broke")

    async def scenario(session):
        return await session.call_tool("submit_enrichment", {**JOB, "confirm_credits": 4})

    refused = agent(scenario, user=broke)

    assert refused.is_error
    assert "You require 4 credits, but only 0 are available." in text_of(refused)
    assert Job.objects.count() == 0


def test_a_bad_token_is_a_tool_error_not_a_crash(agent):
    async def scenario(session):
        return await session.call_tool("account_balance", {})

    refused = agent(scenario, token="not-a-token")

    assert refused.is_error
    assert "Invalid or expired token" in text_of(refused)
