"""The in-memory row a pipeline batch works on, and how it becomes the client's output rows."""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from enrichment.pipeline.spec import EnrichmentSpec
from sources.contacts import RowKeys
from sources.email_validation import EmailStatus, EmailVerdict
from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS, PHONE_NUMBER_FIELDS
from sources.matching import confidence_level
from sources.normalize import describe_phone

# Reasons a row's values are withheld and its charge reversed; each is also shown on the row.
NAME_MISMATCH = "name_mismatch"
LEFT_COMPANY = "left_company"
COMPLIANCE_RESTRICTED = "compliance_restricted"
BELOW_MIN_CONFIDENCE = "below_min_confidence"
WITHHOLDING_FLAGS = (COMPLIANCE_RESTRICTED, LEFT_COMPANY, NAME_MISMATCH, BELOW_MIN_CONFIDENCE)
# Why a value that was found is not delivered (nor charged), for one field rather than the whole row.
STALE = "stale"
CATCH_ALL_REFUSED = "catch_all_refused"

EMAIL_QUALITY_COLUMNS = ("contact_email_status", "contact_email_status_reason")


def _text(value) -> str:
    return "" if value is None else str(value).strip()


@dataclass
class Fill:
    value: str
    source: str
    seen_at: datetime | None


@dataclass
class WorkRow:
    position: int
    row_uid: str
    record: dict
    keys: RowKeys
    fills: dict[str, Fill] = field(default_factory=dict)
    confidence: int = 0
    evidence: tuple[str, ...] = ()
    person: dict | None = None
    company: dict | None = None
    flags: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    contacts: list["WorkRow"] = field(default_factory=list)
    # (profile, its snapshot or None) once a stage has looked the profile up, so the next need not.
    snapshot_lookup: tuple[str, dict | None] | None = None
    # The verdict on the email the validation stage kept or dropped.
    email_verdict: EmailVerdict | None = None
    # max_age_days as a date: a value its source last saw before it (or never dated) is not taken.
    fresh_since: datetime | None = None
    # By field, the newest value found but not taken for being older than fresh_since.
    stale: dict[str, Fill] = field(default_factory=dict)

    def fill(self, name: str, value, *, source: str, seen_at: datetime | None = None) -> bool:
        """Takes a source's value for a field still empty; a stale one is kept aside, and the field stays
        empty for the next source to fill."""
        text = _text(value)
        if not text or name in self.fills:
            return False
        if self.fresh_since is not None and (seen_at is None or seen_at < self.fresh_since):
            known = self.stale.get(name)
            if known is None or (seen_at is not None and (known.seen_at is None or seen_at > known.seen_at)):
                self.stale[name] = Fill(text, source, seen_at)
            return False
        self.fills[name] = Fill(text, source, seen_at)
        self.stale.pop(name, None)
        return True

    def fill_from(self, record: dict, names, *, source: str, seen_at: datetime | None = None) -> int:
        return sum(self.fill(name, record.get(name), source=source, seen_at=seen_at) for name in names)

    def missing(self, names) -> list[str]:
        return [name for name in names if name not in self.fills]

    def withhold(self, flag: str) -> None:
        """Drops every value found for the row: it must not be delivered (nor charged)."""
        if flag not in self.flags:
            self.flags.append(flag)
        self.fills.clear()
        self.contacts.clear()
        self.stale.clear()
        self.email_verdict = None

    @property
    def withheld(self) -> bool:
        return any(flag in WITHHOLDING_FLAGS for flag in self.flags)

    @property
    def matched(self) -> bool:
        return (self.person is not None or self.company is not None) and not self.withheld


QUERY_FIELDS = ("first_name", "last_name", "contact_email", "contact_linkedin_url", "company_name", "company_website")
# Every input column a match reads: a person's query, and a company's location as its tiebreaker.
MATCHING_COLUMNS = frozenset((*QUERY_FIELDS, "company_linkedin_url", "company_hq_city", "company_hq_country",
                              "company_hq_country_code"))


def query_of(row: WorkRow) -> dict:
    """What the client said of the row's person and company, as the matcher's query."""
    return {name: str(row.record.get(name) or "").strip() for name in QUERY_FIELDS}


def fields_of(spec: EnrichmentSpec) -> tuple[list[str], list[str]]:
    """(contact fields, account fields) requested, in the client's order."""
    requested = spec.fields_to_enrich
    return ([name for name in requested if name in CONTACT_FIELDS],
            [name for name in requested if name in ACCOUNT_FIELDS])


def enrichment_status_of(values: dict, requested: list[str]) -> str:
    filled = sum(1 for name in requested if values.get(name))
    if filled == len(requested):
        return "enriched"
    return "partially_enriched" if filled else "not_enriched"


def companion_columns(name: str) -> tuple[str, ...]:
    """The columns delivered next to a field: an email's status and its reason, a phone's E.164 form,
    type and country."""
    if name == "contact_email":
        return EMAIL_QUALITY_COLUMNS
    if name in PHONE_NUMBER_FIELDS:
        return f"{name}_e164", f"{name}_type", f"{name}_country"
    return ()


def with_companions(output: dict, names) -> dict:
    """`names` of an output row, each followed by its companion columns."""
    return {column: output[column] for name in names for column in (name, *companion_columns(name)) if column in output}


def undelivered_reason(spec: EnrichmentSpec, row: WorkRow, fields) -> str | None:
    """Why a row delivered none of `fields` although a source had one: too old, or a catch-all email the
    job refused. None when nothing was found to deliver."""
    if any(name in row.stale for name in fields):
        return STALE
    verdict = row.email_verdict
    if ("contact_email" in fields and verdict is not None and verdict.status is EmailStatus.CATCH_ALL
            and not spec.accept_catch_all):
        return CATCH_ALL_REFUSED
    return None


def _email_quality(fill: Fill | None, verdict: EmailVerdict | None) -> dict:
    """An email's status and reason; a dropped email's too, beside its empty value. "" without an email."""
    if verdict is not None:
        return {"contact_email_status": str(verdict.status), "contact_email_status_reason": verdict.status_reason}
    if fill is not None:
        return {"contact_email_status": "unknown", "contact_email_status_reason": "not_checked"}
    return dict.fromkeys(EMAIL_QUALITY_COLUMNS, "")


def _phone_region(name: str, *, person: dict | None, company: dict | None, record: dict) -> str:
    """The country a national-format phone is read in: its owner's, else the input's; the US otherwise."""
    person, company = person or {}, company or {}
    people = (person.get("contact_office_country_code"), person.get("contact_office_country"),
              record.get("contact_office_country"))
    companies = (company.get("company_hq_country_code"), company.get("company_hq_country"),
                 record.get("company_hq_country"))
    ordered = (*companies, *people) if name == "company_hq_phone" else (*people, *companies)
    return next((str(value) for value in ordered if value), "US")


def _phone_quality(name: str, fill: Fill | None, region: str) -> dict:
    if fill is None:
        return dict.fromkeys(companion_columns(name), "")
    facts = describe_phone(fill.value, region)
    return {f"{name}_e164": facts.e164, f"{name}_type": facts.type, f"{name}_country": facts.country}


def _field_source(fill: Fill, now: datetime) -> dict:
    """Where a value came from, when its source last saw it, and how many days ago that was."""
    return {"source": fill.source, "last_seen": fill.seen_at.isoformat() if fill.seen_at else None,
            "age_days": max(0, (now - fill.seen_at).days) if fill.seen_at else None}


def _output_row(spec: EnrichmentSpec, row: WorkRow, subject: WorkRow, fills: dict[str, Fill], confidence: int) -> dict:
    """`subject` is the row whose email verdict, phones' owner and stale values count: the input row, or
    the contact an expanded account returned."""
    output = {}
    for name in spec.fields_to_enrich:
        fill = fills.get(name)
        output[name] = fill.value if fill is not None else ""
        if name == "contact_email":
            output.update(_email_quality(fill, subject.email_verdict))
        elif name in PHONE_NUMBER_FIELDS:
            output.update(_phone_quality(name, fill, _phone_region(
                name, person=subject.person, company=subject.company or row.company, record=row.record)))
    for name, value in row.record.items():
        if not str(name).startswith("_"):
            output[f"imported_{name}"] = value
    output["enrichment_status"] = enrichment_status_of(output, spec.fields_to_enrich)
    output["enrichment_source"] = ",".join(dict.fromkeys(fill.source for fill in fills.values()))
    output["match_confidence"] = confidence
    if spec.type == "account":
        output["match_confidence_level"] = confidence_level(confidence)
    now = timezone.now()
    output["field_sources"] = {name: _field_source(fill, now) for name, fill in fills.items()
                               if name in spec.fields_to_enrich}
    stale = {**row.stale, **subject.stale}
    stale_fields = {name: _field_source(stale[name], now) for name in spec.fields_to_enrich
                    if name in stale and name not in fills}
    if stale_fields:
        output["stale_fields"] = stale_fields
    for flag in row.flags:
        output[flag] = True
    if row.notes:
        output["notes"] = dict(row.notes)
    return output


def output_rows(spec: EnrichmentSpec, row: WorkRow) -> list[dict]:
    """One output row per input row, or one per returned contact for an expanded account."""
    if spec.type == "account" and spec.criteria_limit and row.contacts:
        return [_output_row(spec, row, contact, {**row.fills, **contact.fills}, row.confidence)
                for contact in row.contacts]
    return [_output_row(spec, row, row, row.fills, row.confidence if row.matched else 0)]
