"""The one contract every contact source meets: DataCore, BigQuery, Snowflake, and the next one.

A source is a client plus batch lookups. It has a `name` (what answered, in each filled field's
provenance), says why it cannot be used when it is not configured, and answers a whole batch's keys
in one call with the (person, company) candidates that share a key with some row; the matcher then
picks each row's person. A source that cannot answer raises `SourceUnavailable`: the stage records
why and the job goes on with the other sources.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from sources.normalize import (
    email_domain,
    is_free_email_domain,
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

Candidate = tuple[dict, dict | None]  # a person's columns, and their company's (None when unknown)


class SourceUnavailable(Exception):
    """A source did not answer (down, slow, refused, not set up): the batch goes on without it."""

    def __init__(self, source: str, reason: str):
        super().__init__(reason)
        self.source, self.reason = source, reason


@dataclass(frozen=True)
class RowKeys:
    """The normalized lookup keys of an input row, computed once in Preparing Data."""

    email: str = ""
    linkedin: str = ""
    first: str = ""
    last: str = ""
    domain: str = ""
    company: str = ""

    @classmethod
    def from_record(cls, record: dict) -> "RowKeys":
        email = normalize_email(record.get("contact_email"))
        domain = normalize_domain(record.get("company_website"))
        if not domain and email and not is_free_email_domain(email_domain(email)):
            domain = email_domain(email)
        return cls(
            email=email,
            linkedin=normalize_linkedin_url(record.get("contact_linkedin_url")),
            first=normalize_person_name(record.get("first_name")),
            last=normalize_person_name(record.get("last_name")),
            domain=domain,
            company=normalize_company_name(record.get("company_name")),
        )


def _every(name: str) -> cached_property:
    """The set of the batch's non-empty `name` keys."""
    return cached_property(lambda batch: {value for keys in batch.rows if (value := getattr(keys, name))})


@dataclass(frozen=True)
class BatchKeys:
    """Every key of a batch's rows, as the sets a batch query binds."""

    rows: tuple[RowKeys, ...]

    emails = _every("email")
    linkedins = _every("linkedin")
    first_names = _every("first")
    last_names = _every("last")
    domains = _every("domain")
    company_names = _every("company")

    @cached_property
    def name_domain_keys(self) -> set[str]:
        """"<last name>|<domain>" of each row that has both."""
        return {f"{keys.last}|{keys.domain}" for keys in self.rows if keys.last and keys.domain}

    @cached_property
    def name_company_keys(self) -> set[str]:
        """"<last name>|<company name>" of each row that has both."""
        return {f"{keys.last}|{keys.company}" for keys in self.rows if keys.last and keys.company}


class ContactSource(Protocol):
    name: str

    def unconfigured_reason(self) -> str:
        """Why the source cannot be used ("BigQuery is not configured"), or "" when it can."""

    def contacts_for(self, keys: BatchKeys) -> list[Candidate]:
        """Every person who could be one of the batch's rows, in one query; raises SourceUnavailable."""
