"""Typed answers. Each keeps the server's JSON as `raw`, so nothing the API adds later is lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ecore_client.errors import decimal_or_none

TERMINAL_STATUSES = frozenset({"Enrichment Completed", "Failure", "Paused"})
PHONE_FIELDS = ("contact_mobile_phone", "contact_direct_phone")


def _credits(value) -> Decimal:
    return decimal_or_none(value) or Decimal(0)


@dataclass(frozen=True)
class Submission:
    """A job the service accepted (Submit's body), or one it replayed for the same Idempotency-Key."""

    job_id: str
    estimated_credits: int
    status: str
    message: str
    replayed: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_response(cls, body: dict, *, replayed: bool) -> Submission:
        return cls(job_id=body["job_id"], estimated_credits=body["estimated_credits"], status=body["status"],
                   message=body.get("message", ""), replayed=replayed, raw=body)


@dataclass(frozen=True)
class Estimate:
    """What a submission would cost; creates and charges nothing."""

    estimated_credits: int
    exact_credits: Decimal
    per_row_rate: Decimal
    rate_category: str
    criteria_multiplier: int
    record_count: int
    wallet_balance: Decimal
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_response(cls, body: dict) -> Estimate:
        return cls(estimated_credits=body["estimated_credits"],
                   exact_credits=_credits(body.get("estimated_credits_exact", body["estimated_credits"])),
                   per_row_rate=_credits(body.get("per_row_rate")), rate_category=body.get("rate_category", ""),
                   criteria_multiplier=body.get("criteria_multiplier", 1), record_count=body.get("record_count", 0),
                   wallet_balance=_credits(body.get("wallet_balance")), raw=body)


@dataclass(frozen=True)
class Credits:
    estimated: Decimal
    charged: Decimal
    refunded: Decimal
    net: Decimal

    @classmethod
    def from_response(cls, body: dict | None) -> Credits:
        body = body or {}
        return cls(*(_credits(body.get(name)) for name in ("estimated", "charged", "refunded", "net")))


@dataclass(frozen=True)
class JobStatus:
    """A job's status document."""

    job_id: str
    status: str
    type: str
    level: str
    fields_to_enrich: list[str]
    rows_total: int
    rows_processed: int
    credits: Credits
    field_stats: dict | None
    stages: list
    failure: dict | None
    created_at: str | None
    finished_at: str | None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_response(cls, body: dict) -> JobStatus:
        progress = body.get("progress") or {}
        return cls(job_id=body["job_id"], status=body["status"], type=body.get("type", ""),
                   level=body.get("level", ""), fields_to_enrich=list(body.get("fields_to_enrich") or []),
                   rows_total=progress.get("rows_total", 0), rows_processed=progress.get("rows_processed", 0),
                   credits=Credits.from_response(body.get("credits")), field_stats=body.get("field_stats"),
                   stages=list(body.get("stages") or []), failure=body.get("failure"),
                   created_at=body.get("created_at"), finished_at=body.get("finished_at"), raw=body)

    @property
    def finished(self) -> bool:
        """Completed, failed or paused: nothing more happens until someone resumes it."""
        return self.status in TERMINAL_STATUSES

    @property
    def completed(self) -> bool:
        return self.status == "Enrichment Completed"

    def fill_rates(self) -> dict[str, float]:
        """For each requested field, the share of output rows that got it (0–1); empty before stats exist."""
        fields = (self.field_stats or {}).get("fields") or {}
        rates = {}
        for name, counts in fields.items():
            total = counts.get("enriched", 0) + counts.get("not_enriched", 0)
            rates[name] = counts.get("enriched", 0) / total if total else 0.0
        return rates


@dataclass(frozen=True)
class JobSummary:
    """One line of the job list."""

    job_id: str
    status: str
    type: str
    level: str
    record_count: int
    rows_processed: int
    estimated_credits: int
    created_at: str | None
    finished_at: str | None

    @classmethod
    def from_response(cls, body: dict) -> JobSummary:
        return cls(**{name: body.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Lookup:
    """A phone or email lookup: `found`, what was found in `results`, what it charged and the balance left."""

    status: str
    results: dict
    message: str
    charged: Decimal
    remaining_credits: int
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def found(self) -> bool:
        return self.status == "success"

    @classmethod
    def from_response(cls, body: dict, *, charged: Decimal) -> Lookup:
        return cls(status=body["status"], results=body.get("results") or {}, message=body.get("message", ""),
                   charged=charged, remaining_credits=body.get("remaining_credits", 0), raw=body)


@dataclass(frozen=True)
class PersonCompany:
    """One person and their company (or a company alone), matched and enriched."""

    status: str
    data: dict
    external_id: str | None
    custom_fields: list
    charged: Decimal
    remaining_credits: int
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def found(self) -> bool:
        return self.status == "success"

    @classmethod
    def from_response(cls, body: dict) -> PersonCompany:
        return cls(status=body["status"], data=body.get("data") or {}, external_id=body.get("external_id"),
                   custom_fields=body.get("custom_fields") or [], charged=_credits(body.get("charged_credits")),
                   remaining_credits=body.get("remaining_credits", 0), raw=body)


@dataclass(frozen=True)
class Account:
    """The caller's balance, plan limits and token."""

    username: str
    balance: Decimal
    plan_name: str | None
    records_per_submission: int
    rate_limit_per_second: int
    token_kind: str
    requests_left_today: int | None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_response(cls, body: dict) -> Account:
        plan, token = body.get("plan") or {}, body.get("token") or {}
        return cls(username=body.get("username", ""), balance=_credits(body.get("balance")),
                   plan_name=plan.get("name"), records_per_submission=plan.get("records_per_submission", 500),
                   rate_limit_per_second=plan.get("rate_limit_per_second", 0), token_kind=token.get("kind", ""),
                   requests_left_today=token.get("requests_left_today"), raw=body)


@dataclass(frozen=True)
class BulkSubmission:
    """A large input split into submissions of at most the plan's records each, in input order."""

    submissions: list[Submission]
    chunk_size: int

    @property
    def job_ids(self) -> list[str]:
        return [submission.job_id for submission in self.submissions]

    @property
    def estimated_credits(self) -> int:
        return sum(submission.estimated_credits for submission in self.submissions)
