"""`ecore mcp`: the eCore API as tools for AI agents, over the official MCP SDK's `MCPServer`.

The token comes from `ECORE_TOKEN` (and the service from `ECORE_URL`), never from a tool argument,
so a prompt cannot make the agent spend someone else's credits. Every result says what the call
charged (`credits_charged`) and what is left (`balance_left`); the API's refusals come back as tool
errors in the server's own words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from ecore_client import __version__
from ecore_client.client import AsyncClient
from ecore_client.errors import EcoreError
from ecore_client.models import Estimate, JobStatus

MAX_RESULTS_PAGE_SIZE = 200  # rows of one tool answer; more would crowd an agent's context

INSTRUCTIONS = """\
eCore enriches people and companies with emails, phones, titles and firmographics, for credits.
To enrich records: call estimate_enrichment, show the user the cost, then call submit_enrichment with
the same arguments and confirm_credits set to the estimated credits. Poll job_status until the status
is "Enrichment Completed", then read job_results page by page. find_phone, find_email and
enrich_person_company look up one person at once. Every result states credits_charged and balance_left."""

FREE = ToolAnnotations(read_only_hint=True, open_world_hint=False)
# Spending credits adds a job and a ledger entry and overwrites nothing, which the spec calls
# additive (destructive_hint=False); not idempotent, since calling again spends again.
SPENDS_CREDITS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                 open_world_hint=True)

Records = Annotated[list[dict[str, Any]], Field(
    description="The rows to enrich, e.g. {\"first_name\": \"Jane\", \"last_name\": \"Doe\", "
                "\"company_name\": \"Acme Corp\"}; at most the plan's records per submission.")]
JobType = Annotated[str, Field(description="contact (people) or account (companies).")]
Level = Annotated[str, Field(description="standard or pro (account jobs: standard only).")]
FieldsToEnrich = Annotated[list[str], Field(
    description="Output fields, e.g. contact_email, contact_mobile_phone, job_title.")]
Criteria = Annotated[dict[str, Any] | None, Field(
    description="For account jobs: which contacts to return, e.g. {\"limit\": 3}.")]
MinConfidence = Annotated[int | None, Field(
    ge=0, le=100, description="Matches scored below this are not returned and not charged.")]


def _number(value: Decimal) -> int | float:
    """Credits as a JSON number: whole credits as integers."""
    return int(value) if value == value.to_integral_value() else float(value)


@asynccontextmanager
async def _calling_ecore(client_factory: Callable[[], AbstractAsyncContextManager[AsyncClient]]
                         ) -> AsyncIterator[AsyncClient]:
    """A client for one tool call, whose refusals become tool errors the agent can read and act on."""
    try:
        async with client_factory() as ecore:
            yield ecore
    except EcoreError as error:
        raise ToolError(error.message) from error
    except ValueError as error:  # refused by the client before any request, e.g. no ECORE_TOKEN
        raise ToolError(str(error)) from error


def _estimate_document(estimate: Estimate) -> dict[str, Any]:
    return {"estimated_credits": estimate.estimated_credits, "exact_credits": _number(estimate.exact_credits),
            "per_row_rate": _number(estimate.per_row_rate), "rate_category": estimate.rate_category,
            "record_count": estimate.record_count, "wallet_balance": _number(estimate.wallet_balance)}


def _status_document(status: JobStatus) -> dict[str, Any]:
    credits = status.credits
    return {"job_id": status.job_id, "status": status.status, "finished": status.finished,
            "progress": {"rows_total": status.rows_total, "rows_processed": status.rows_processed,
                         "percent": (status.raw.get("progress") or {}).get("percent")},
            "credits": {"estimated": _number(credits.estimated), "charged": _number(credits.charged),
                        "refunded": _number(credits.refunded), "net": _number(credits.net)},
            "fill_rates": status.fill_rates(), "failure": status.failure}


def build_server(client_factory: Callable[[], AbstractAsyncContextManager[AsyncClient]] | None = None) -> MCPServer:
    """The server and its tools; `client_factory` makes the `AsyncClient` of each call (from the environment)."""
    client_factory = client_factory or AsyncClient
    server = MCPServer("ecore", title="eCore enrichment", instructions=INSTRUCTIONS, version=__version__)

    def calling_ecore():
        return _calling_ecore(client_factory)

    async def balance_of(ecore: AsyncClient) -> int | float:
        return _number((await ecore.account()).balance)

    @server.tool(annotations=FREE)
    async def estimate_enrichment(records: Records, fields_to_enrich: FieldsToEnrich, type: JobType = "contact",
                                  level: Level = "standard", criteria: Criteria = None,
                                  min_confidence: MinConfidence = None) -> dict[str, Any]:
        """What enriching these records would cost, validated as a submission is. Free; creates nothing.
        submit_enrichment needs the estimated credits as confirm_credits."""
        async with calling_ecore() as ecore:
            estimate = await ecore.estimate(records, type=type, level=level, fields=fields_to_enrich,
                                            criteria=criteria, min_confidence=min_confidence)
        return {**_estimate_document(estimate),
                "next_step": f"To run it, call submit_enrichment with the same arguments and "
                             f"confirm_credits={estimate.estimated_credits}.",
                "credits_charged": 0, "balance_left": _number(estimate.wallet_balance)}

    @server.tool(annotations=SPENDS_CREDITS)
    async def submit_enrichment(records: Records, fields_to_enrich: FieldsToEnrich,
                                confirm_credits: Annotated[int, Field(
                                    description="The estimated_credits of estimate_enrichment for these arguments, "
                                                "as shown to the user.")],
                                type: JobType = "contact", level: Level = "standard", criteria: Criteria = None,
                                min_confidence: MinConfidence = None) -> dict[str, Any]:
        """Starts an enrichment job. SPENDS CREDITS: the estimate is charged at once; rows that find nothing
        are refunded when the job completes. Refused, spending nothing, unless confirm_credits equals the
        current estimate."""
        options = {"type": type, "level": level, "fields": fields_to_enrich, "criteria": criteria,
                   "min_confidence": min_confidence}
        async with calling_ecore() as ecore:
            estimate = await ecore.estimate(records, **options)
            if confirm_credits != estimate.estimated_credits:
                raise ToolError(
                    f"Not submitted, nothing charged: this job is estimated at {estimate.estimated_credits} credits "
                    f"(balance {_number(estimate.wallet_balance)}), not {confirm_credits}. Show the user the cost, "
                    f"then call again with confirm_credits={estimate.estimated_credits}.")
            submission = await ecore.submit(records, **options)
            balance_left = await balance_of(ecore)
        return {"job_id": submission.job_id, "status": submission.status,
                "estimated_credits": submission.estimated_credits,
                "next_step": "Poll job_status until the status is \"Enrichment Completed\", then read job_results.",
                "credits_charged": _number(estimate.exact_credits), "balance_left": balance_left}

    @server.tool(annotations=FREE)
    async def job_status(job_id: str) -> dict[str, Any]:
        """A job's status, progress, credits (estimated, charged, refunded, net) and the fill rate of each field."""
        async with calling_ecore() as ecore:
            status = await ecore.status(job_id)
            balance_left = await balance_of(ecore)
        return {**_status_document(status), "credits_charged": 0, "balance_left": balance_left}

    @server.tool(annotations=FREE)
    async def job_results(job_id: str, page: Annotated[int, Field(ge=1)] = 1,
                          page_size: Annotated[int, Field(ge=1, description=(
                              f"Rows per page, at most {MAX_RESULTS_PAGE_SIZE}."))] = 50) -> dict[str, Any]:
        """One page of a job's result rows, in input order, and whether there are more pages."""
        page_size = min(page_size, MAX_RESULTS_PAGE_SIZE)
        async with calling_ecore() as ecore:
            rows, has_more = await ecore.results_page(job_id, page=page, page_size=page_size)
            balance_left = await balance_of(ecore)
        return {"job_id": job_id, "page": page, "page_size": page_size, "rows": rows, "has_more": has_more,
                "credits_charged": 0, "balance_left": balance_left}

    async def lookup(kind: str, **inputs) -> dict[str, Any]:
        async with calling_ecore() as ecore:
            found = await getattr(ecore, kind)(**inputs)
        return {"found": found.found, "results": found.results, "message": found.message,
                "credits_charged": _number(found.charged), "balance_left": found.remaining_credits}

    @server.tool(annotations=SPENDS_CREDITS)
    async def find_phone(linkedin_url: str | None = None, email: str | None = None, first_name: str | None = None,
                         last_name: str | None = None, company_name: str | None = None,
                         company_website: str | None = None, min_confidence: MinConfidence = None) -> dict[str, Any]:
        """A phone (mobile, else direct) for one person, from a LinkedIn URL, an email, or first and last name
        with a company name or website. SPENDS CREDITS only when a phone is found."""
        return await lookup("phone", linkedin_url=linkedin_url, email=email, first_name=first_name,
                            last_name=last_name, company_name=company_name, company_website=company_website,
                            min_confidence=min_confidence)

    @server.tool(annotations=SPENDS_CREDITS)
    async def find_email(linkedin_url: str | None = None, email: str | None = None, first_name: str | None = None,
                         last_name: str | None = None, company_name: str | None = None,
                         company_website: str | None = None, min_confidence: MinConfidence = None) -> dict[str, Any]:
        """A deliverable email for one person, from a LinkedIn URL, an email, or first and last name with a
        company name or website. SPENDS CREDITS only when an email is found."""
        return await lookup("email", linkedin_url=linkedin_url, email=email, first_name=first_name,
                            last_name=last_name, company_name=company_name, company_website=company_website,
                            min_confidence=min_confidence)

    @server.tool(annotations=SPENDS_CREDITS)
    async def enrich_person_company(person: dict[str, Any] | None = None, company: dict[str, Any] | None = None,
                                    fields_to_enrich: list[str] | None = None,
                                    min_confidence: MinConfidence = None) -> dict[str, Any]:
        """One person and their company (or a company alone), matched and enriched at once. SPENDS CREDITS for
        what is found."""
        async with calling_ecore() as ecore:
            enriched = await ecore.person_company(person=person, company=company, fields_to_enrich=fields_to_enrich,
                                                  min_confidence=min_confidence)
        return {"found": enriched.found, "data": enriched.data, "credits_charged": _number(enriched.charged),
                "balance_left": enriched.remaining_credits}

    @server.tool(annotations=FREE)
    async def account_balance() -> dict[str, Any]:
        """The wallet's balance and the plan's limits: records per submission, lookups per second."""
        async with calling_ecore() as ecore:
            account = await ecore.account()
        return {"balance": _number(account.balance), "plan": account.plan_name,
                "records_per_submission": account.records_per_submission,
                "rate_limit_per_second": account.rate_limit_per_second, "token_kind": account.token_kind,
                "requests_left_today": account.requests_left_today,
                "credits_charged": 0, "balance_left": _number(account.balance)}

    return server


def run(transport: Literal["stdio", "streamable-http"] = "stdio", **options) -> None:
    """Serves until the client goes away. Over streamable HTTP (`host`, `port` in `options`) everyone who can
    reach the port spends this one token's credits, so keep it on 127.0.0.1 (the SDK's default)."""
    build_server().run(transport, **options)


if __name__ == "__main__":
    run()
