"""The in-memory row a pipeline batch works on, and how it becomes the client's output rows."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from enrichment.pipeline.spec import EnrichmentSpec
from sources.contacts import RowKeys
from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS
from sources.matching import confidence_level

if TYPE_CHECKING:
    from sources.email_validation import EmailVerdict

# Reasons a row's values are withheld and its charge reversed; each is also shown on the row.
NAME_MISMATCH = "name_mismatch"
LEFT_COMPANY = "left_company"
COMPLIANCE_RESTRICTED = "compliance_restricted"
BELOW_MIN_CONFIDENCE = "below_min_confidence"
WITHHOLDING_FLAGS = (COMPLIANCE_RESTRICTED, LEFT_COMPANY, NAME_MISMATCH, BELOW_MIN_CONFIDENCE)


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
    # (validator source, verdict) on the email the validation stage kept or dropped.
    email_verdict: tuple[str, "EmailVerdict"] | None = None

    def fill(self, name: str, value, *, source: str, seen_at: datetime | None = None) -> bool:
        text = _text(value)
        if not text or name in self.fills:
            return False
        self.fills[name] = Fill(text, source, seen_at)
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


def _output_row(spec: EnrichmentSpec, row: WorkRow, fills: dict[str, Fill], confidence: int) -> dict:
    output = {name: fills[name].value if name in fills else "" for name in spec.fields_to_enrich}
    for name, value in row.record.items():
        if not str(name).startswith("_"):
            output[f"imported_{name}"] = value
    output["enrichment_status"] = enrichment_status_of(output, spec.fields_to_enrich)
    output["enrichment_source"] = ",".join(dict.fromkeys(fill.source for fill in fills.values()))
    output["match_confidence"] = confidence
    if spec.type == "account":
        output["match_confidence_level"] = confidence_level(confidence)
    output["field_sources"] = {
        name: {"source": fill.source, "last_seen": fill.seen_at.isoformat() if fill.seen_at else None}
        for name, fill in fills.items() if name in spec.fields_to_enrich
    }
    for flag in row.flags:
        output[flag] = True
    if row.notes:
        output["notes"] = dict(row.notes)
    return output


def output_rows(spec: EnrichmentSpec, row: WorkRow) -> list[dict]:
    """One output row per input row, or one per returned contact for an expanded account."""
    if spec.type == "account" and spec.criteria_limit and row.contacts:
        return [_output_row(spec, row, {**row.fills, **contact.fills}, row.confidence) for contact in row.contacts]
    return [_output_row(spec, row, row.fills, row.confidence if row.matched else 0)]
