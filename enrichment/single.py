"""One record enriched on request, from the same stages and matching as a job's rows.

A lookup builds the spec of what is asked (type, fields, price) and runs one `WorkRow` through
`batch_enrich`, exactly as a job's batch runs. Only then, in one transaction
under the wallet lock, it charges what `row_settlement` says the row keeps of its price, so a
lookup is paid for only when it delivers what set the price, as a job row is refunded otherwise,
and not at all when the customer paid for the same values within `repeat_free_days`.
Nothing is locked while sources are queried; a lookup that fails before the charge costs nothing,
and a wallet (or a spend cap) that can no longer pay by then gets a 402 and no data.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from ecore.exceptions import ApplicationError, InsufficientCredits, ValidationFailed
from enrichment.credits import ALREADY_PAID, CHARGED, repeat_charges_waive, row_charge_of
from enrichment.models import Job
from enrichment.pipeline.pro import stale_emails_reverify
from enrichment.pipeline.rows import (
    BELOW_MIN_CONFIDENCE,
    COMPLIANCE_RESTRICTED,
    EMAIL_QUALITY_COLUMNS,
    LEFT_COMPANY,
    NAME_MISMATCH,
    WorkRow,
    companion_columns,
    enrichment_status_of,
    output_rows,
    with_companions,
)
from enrichment.pipeline.runner import StageLog, batch_enrich
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.validation import (
    MAX_AGE_DAYS_LIMIT,
    MAX_RECORD_VALUE_LENGTH,
    character_problem,
    validate_allowed_fields,
)
from pricing.selectors import price_of
from pricing.services import credits_as_integer, estimate_credits
from sources import datacore, email_validation
from sources.contacts import RowKeys
from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS, PHONE_FIELDS
from sources.matching import confidence_level, score_company
from sources.models import Company
from sources.normalize import normalize_domain, normalize_phone
from sources.sql import select_dicts
from wallet.selectors import spend_caps_check
from wallet.services import wallet_deduct

CONTACT_LOOKUP_INPUT_ERROR = (
    "Provide linkedin_url, email, or first_name + last_name + (company_name OR company_website)."
)
MIN_CONFIDENCE_ERROR = "min_confidence must be an integer from 0 to 100."
MAX_AGE_DAYS_ERROR = f"max_age_days must be an integer from 1 to {MAX_AGE_DAYS_LIMIT}."
PERSON_COMPANY_INPUT_ERROR = (
    "Provide person.email, person.linkedin_url, or person.first_name + person.last_name with company.name "
    "or company.website; or company.name / company.website for a company-only lookup."
)
# The input combinations of seed 001's phone and email lookups: one must be complete.
CONTACT_LOOKUP_COMBINATIONS = (
    ("linkedin_url",), ("email",), ("first_name", "last_name", "company_name"),
    ("first_name", "last_name", "company_website"),
)
# The seed's input names for phone and email lookups, and the pipeline's names for them.
CONTACT_LOOKUP_INPUTS = {
    "linkedin_url": "contact_linkedin_url",
    "email": "contact_email",
    "first_name": "first_name",
    "last_name": "last_name",
    "company_name": "company_name",
    "company_website": "company_website",
}
PHONE_LOOKUP_FIELDS = ["contact_mobile_phone", "contact_direct_phone", "contact_email"]
EMAIL_LOOKUP_FIELDS = ["contact_email"]

VERIFICATION_BY_FLAG = {
    COMPLIANCE_RESTRICTED: "Restricted",
    LEFT_COMPANY: "Left Company",
    NAME_MISMATCH: "Name Mismatch",
    BELOW_MIN_CONFIDENCE: "Low Confidence",
}
FAMILY_TREE_FIELDS = (
    "company_name", "company_website", "company_hq_street", "company_hq_city", "company_hq_state",
    "company_hq_postal_code", "company_hq_country", "company_hq_phone", "industry", "employee_range",
    "revenue_range", "industry_naics_code", "industry_sic_code",
)
FAMILY_TREE_SUBSIDIARIES_LIMIT = 100


class CreditsBelowPrice(ApplicationError):
    """Seed 001's 402: the wallet cannot pay for the lookup."""

    status_code = 402

    def __init__(self):
        super().__init__({"error": "Insufficient credits."})


def remaining_credits(balance: Decimal) -> int:
    return credits_as_integer(balance)


# --- the shared machinery ------------------------------------------------------------------------

def lookup_spec(*, job_type: str, fields: list[str], rate_category: str, per_row_rate: Decimal,
                min_confidence: int | None = None, max_age_days: int | None = None) -> EnrichmentSpec:
    """One lookup, at Standard level: what the stages read and what settlement prices."""
    return EnrichmentSpec(type=job_type, level=Job.Level.STANDARD, fields_to_enrich=tuple(fields),
                          min_confidence=min_confidence, max_age_days=max_age_days, rate_category=rate_category,
                          per_row_rate=per_row_rate)


def enrich_one(*, spec: EnrichmentSpec, record: dict) -> WorkRow:
    """`record` enriched by the row stages that apply to `spec`, as one row of a job's batch."""
    row = WorkRow(position=0, row_uid=uuid.uuid4().hex, record=record, keys=RowKeys.from_record(record),
                  fresh_since=spec.fresh_since())
    batch_enrich(spec, [row], StageLog([]))
    return row


@dataclass(frozen=True)
class Settlement:
    charged: Decimal
    balance: Decimal
    # `charged`, `already_paid` (values paid for within repeat_free_days) or why nothing was delivered.
    reason: str = CHARGED

    @property
    def remaining_credits(self) -> int:
        return remaining_credits(self.balance)


def lookup_settle(*, user, token_id: int | None, spec: EnrichmentSpec, row: WorkRow, outputs: list[dict],
                  note: str, balance: Decimal) -> Settlement:
    """Charges what the row keeps of its price (nothing unless it delivered, nothing for values already
    paid for), in one transaction with the record of what it paid for.

    `balance` is the wallet's as the request arrived, what a lookup that charges nothing reports.
    Raises `InsufficientCredits` when the wallet cannot pay it any more and `SpendCapReached` when a
    spend cap cannot; either way nothing is recorded as paid.
    """
    reference = f"single:{uuid.uuid4()}"
    charge = row_charge_of(spec, row, outputs, reference=reference)
    if charge.kept <= 0:
        return Settlement(charged=Decimal("0"), balance=balance, reason=charge.reason)
    with transaction.atomic():
        repeat_charges_waive(user=user, job=None, charges=[charge])
        amount = charge.kept - charge.already_paid
        if amount <= 0:
            return Settlement(charged=Decimal("0"), balance=balance, reason=ALREADY_PAID)
        entry = wallet_deduct(user=user, amount=amount, reference=reference, note=note, token_id=token_id)
    return Settlement(charged=amount, balance=entry.balance_after)


# --- phone and email lookups (seed 001) ----------------------------------------------------------

def contact_lookup_record(payload) -> dict:
    """The seed's input shapes (`CONTACT_LOOKUP_COMBINATIONS`) as a pipeline record.

    A value counts only when it is usable as a key (a parseable email, a profile URL, a website). Text
    a job's record could not hold either (too long, a NUL, an unpaired surrogate) is no valid input.
    """
    if not isinstance(payload, dict):
        raise ValidationFailed({"error": CONTACT_LOOKUP_INPUT_ERROR})
    record = {}
    for input_name, field_name in CONTACT_LOOKUP_INPUTS.items():
        value = payload.get(input_name)
        if not isinstance(value, str):
            continue
        if len(value) > MAX_RECORD_VALUE_LENGTH or character_problem(value):
            raise ValidationFailed({"error": CONTACT_LOOKUP_INPUT_ERROR})
        if value.strip():
            record[field_name] = value.strip()
    keys = RowKeys.from_record(record)
    usable = {"linkedin_url": keys.linkedin, "email": keys.email, "first_name": keys.first, "last_name": keys.last,
              "company_name": keys.company, "company_website": normalize_domain(record.get("company_website"))}
    if not any(all(usable[name] for name in combination) for combination in CONTACT_LOOKUP_COMBINATIONS):
        raise ValidationFailed({"error": CONTACT_LOOKUP_INPUT_ERROR})
    return record


def lookup_min_confidence(payload: dict) -> int | None:
    """The optional `min_confidence` of a phone or email lookup (absent or null: none), or the 400.

    Booleans are refused although Python counts them as integers: `true` is not a confidence.
    """
    value = payload.get("min_confidence")
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= 100:
        raise ValidationFailed({"error": MIN_CONFIDENCE_ERROR})
    return value


def lookup_max_age_days(payload: dict) -> int | None:
    """The optional `max_age_days` of a phone or email lookup (absent or null: any age), or the 400."""
    value = payload.get("max_age_days")
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_AGE_DAYS_LIMIT:
        raise ValidationFailed({"error": MAX_AGE_DAYS_ERROR})
    return value


@dataclass(frozen=True)
class ContactLookup:
    results: dict[str, str]  # empty when nothing deliverable was found
    remaining_credits: int
    charged: Decimal = Decimal(0)
    stale_fields: dict | None = None  # what was found but withheld for its age (max_age_days)
    charge_reason: str = ""

    @property
    def found(self) -> bool:
        return bool(self.results)


def _contact_lookup(*, user, token_id: int | None, balance: Decimal, record: dict, min_confidence: int | None,
                    max_age_days: int | None, price_name: str, rate_category: str, fields: list[str], note: str,
                    verify_email: bool = False) -> tuple[dict, Settlement, WorkRow]:
    price = price_of(price_name)
    if balance < price:
        raise CreditsBelowPrice()
    spend_caps_check(user=user, token_id=token_id, amount=price)
    spec = lookup_spec(job_type=Job.Type.CONTACT, fields=fields, rate_category=rate_category, per_row_rate=price,
                       min_confidence=min_confidence, max_age_days=max_age_days)
    row = enrich_one(spec=spec, record=record)
    if verify_email:
        _email_verify(row)
    outputs = output_rows(spec, row)
    try:
        settlement = lookup_settle(user=user, token_id=token_id, spec=spec, row=row, outputs=outputs, note=note,
                                   balance=balance)
    except InsufficientCredits:
        raise CreditsBelowPrice() from None
    return outputs[0], settlement, row


def _email_verify(row: WorkRow) -> None:
    """The verdict of the validator used outside jobs (a paid check when one is configured) on the
    email found, kept on the row; an undeliverable one is dropped, as the email validation stage drops
    it. The stage's verdict stands when the stage used that same validator. Without an email, a stale
    one that validator confirms today is delivered (`stale_emails_reverify`)."""
    validator = email_validation.email_validator_backend()
    fill = row.fills.get("contact_email")
    if fill is None:
        stale_emails_reverify([row], validator)
        return
    if row.email_verdict is not None and row.email_verdict.source == validator.source:
        return
    verdict = validator.validate_many([fill.value])[fill.value]
    row.email_verdict = verdict
    if not verdict.accepted:
        del row.fills["contact_email"]
        row.notes["contact_email"] = f"dropped: {verdict.reason}"


def _email_results(output: dict) -> dict:
    """The email of a lookup's output and its status, the status under the names a job's rows give it."""
    return {"email": output["contact_email"], **{name: output[name] for name in EMAIL_QUALITY_COLUMNS}}


def _phone_results(output: dict, name: str) -> dict:
    """The phone of a lookup's output as `phone`, with its E.164 form, type and country as `phone_*`."""
    e164, line_type, country = companion_columns(name)
    return {"phone": output[name], "phone_e164": output[e164], "phone_type": output[line_type],
            "phone_country": output[country]}


def phone_lookup(*, user, balance: Decimal, record: dict, min_confidence: int | None = None,
                 max_age_days: int | None = None, token_id: int | None = None) -> ContactLookup:
    """A phone (mobile, else direct) for the person, with their email as a free bonus; paid only when found.

    `balance` is the wallet's as the request arrived. A match below `min_confidence` is withheld,
    and a phone last seen more than `max_age_days` ago, so either is not found and free.
    """
    output, settlement, _ = _contact_lookup(user=user, token_id=token_id, balance=balance, record=record,
                                            min_confidence=min_confidence, max_age_days=max_age_days,
                                            price_name="single_phone_cost", rate_category="phone",
                                            fields=PHONE_LOOKUP_FIELDS, note="single phone enrichment")
    found = next((name for name in PHONE_FIELDS if output.get(name)), None)
    if found is None:
        return ContactLookup(results={}, remaining_credits=settlement.remaining_credits, charged=settlement.charged,
                             stale_fields=output.get("stale_fields"), charge_reason=settlement.reason)
    results = _phone_results(output, found)
    if output.get("contact_email"):
        results |= _email_results(output)
    return ContactLookup(results=results, remaining_credits=settlement.remaining_credits, charged=settlement.charged,
                         charge_reason=settlement.reason)


def email_lookup(*, user, balance: Decimal, record: dict, min_confidence: int | None = None,
                 max_age_days: int | None = None, token_id: int | None = None) -> ContactLookup:
    """A deliverable email for the person, with the validator's verdict; paid only when found.

    `balance` is the wallet's as the request arrived. A match below `min_confidence` is withheld,
    and an email last seen more than `max_age_days` ago unless a paid validator confirms it today,
    so either is not found and free.
    """
    output, settlement, row = _contact_lookup(user=user, token_id=token_id, balance=balance, record=record,
                                              min_confidence=min_confidence, max_age_days=max_age_days,
                                              price_name="single_email_cost", rate_category="email",
                                              fields=EMAIL_LOOKUP_FIELDS, note="single email enrichment",
                                              verify_email=True)
    if not output.get("contact_email"):
        return ContactLookup(results={}, remaining_credits=settlement.remaining_credits, charged=settlement.charged,
                             stale_fields=output.get("stale_fields"), charge_reason=settlement.reason)
    results = {"email": output["contact_email"], "email_status": row.email_verdict.reason,
               **_email_results(output)}
    return ContactLookup(results=results, remaining_credits=settlement.remaining_credits, charged=settlement.charged,
                         charge_reason=settlement.reason)


# --- person and company in one call --------------------------------------------------------------

@dataclass(frozen=True)
class PersonCompanyRequest:
    job_type: str  # contact when the person is identified, account for a company-only lookup
    record: dict
    fields: list[str]
    min_confidence: int | None = None
    phone: str = ""  # given to be validated, not looked up
    max_age_days: int | None = None

    @property
    def company_record(self) -> dict:
        return {name: value for name, value in self.record.items() if name in ACCOUNT_FIELDS}


def _text(values: dict | None, name: str) -> str:
    value = (values or {}).get(name)
    return value.strip() if isinstance(value, str) else ""


def person_company_request(*, person: dict | None, company: dict | None, fields_to_enrich: list[str] | None,
                           min_confidence: int | None, max_age_days: int | None = None) -> PersonCompanyRequest:
    """The lookup a request asks for, or a 400 naming the inputs it lacks."""
    address = (company or {}).get("address") or {}
    record = {
        "first_name": _text(person, "first_name"), "last_name": _text(person, "last_name"),
        "contact_email": _text(person, "email"), "contact_linkedin_url": _text(person, "linkedin_url"),
        "job_title": _text(person, "title"),
        "company_name": _text(company, "name"), "company_website": _text(company, "website"),
        "company_hq_country": _text(address, "country"), "company_hq_state": _text(address, "state"),
        "company_hq_city": _text(address, "city"), "company_hq_street": _text(address, "street"),
        "company_hq_postal_code": _text(address, "postalcode"),
    }
    record = {name: value for name, value in record.items() if value}
    keys = RowKeys.from_record(record)
    has_company = bool(keys.company or normalize_domain(record.get("company_website")))
    person_given = any(name in record for name in ("first_name", "last_name", "contact_email", "contact_linkedin_url"))
    person_identified = keys.email or keys.linkedin or (keys.first and keys.last and has_company)
    if (person_given and not person_identified) or not (person_given or has_company):
        raise ValidationFailed({"error": PERSON_COMPANY_INPUT_ERROR,
                                "missing": _missing_inputs(keys, has_company=has_company)})
    job_type = Job.Type.CONTACT if person_given else Job.Type.ACCOUNT
    if fields_to_enrich:
        validate_allowed_fields(job_type=Job.Type.CONTACT, fields=fields_to_enrich, has_criteria=False)
        fields = list(fields_to_enrich)
    else:
        fields = [*CONTACT_FIELDS, *ACCOUNT_FIELDS]
    if job_type == Job.Type.ACCOUNT:
        fields = [name for name in fields if name in ACCOUNT_FIELDS]
        if not fields:
            # Only person fields were asked for, and there is no person to look up.
            raise ValidationFailed({"error": PERSON_COMPANY_INPUT_ERROR,
                                    "missing": ["person.email", "person.linkedin_url", "person.first_name",
                                                "person.last_name"]})
    return PersonCompanyRequest(job_type=job_type, record=record, fields=fields, min_confidence=min_confidence,
                                phone=_text(person, "phone"), max_age_days=max_age_days)


def _missing_inputs(keys: RowKeys, *, has_company: bool) -> list[str]:
    """What completes the nearest accepted input shape."""
    if not (keys.first or keys.last or has_company):
        return ["person.email", "person.linkedin_url", "person.first_name", "person.last_name", "company.name",
                "company.website"]
    missing = [name for name, value in (("person.first_name", keys.first), ("person.last_name", keys.last))
               if not value]
    if not has_company:
        missing += ["company.name", "company.website"]
    return missing


@dataclass(frozen=True)
class PersonCompanyResult:
    found: bool
    data: dict
    charged: Decimal
    remaining_credits: int
    charge_reason: str = ""


def person_company_enrich(*, user, balance: Decimal, request: PersonCompanyRequest,
                          token_id: int | None = None) -> PersonCompanyResult:
    """The person and their company (or the company alone), priced and settled like a one-row job.

    `balance` is the wallet's as the request arrived.
    """
    estimate = estimate_credits(job_type=request.job_type, level=Job.Level.STANDARD, fields=request.fields,
                                criteria_limit=None, row_count=1)
    if balance < estimate.total:
        raise InsufficientCredits(required=estimate.total, available=balance)
    spend_caps_check(user=user, token_id=token_id, amount=estimate.total)
    spec = lookup_spec(job_type=request.job_type, fields=request.fields, rate_category=estimate.rate_category,
                       per_row_rate=estimate.per_row_rate, min_confidence=request.min_confidence,
                       max_age_days=request.max_age_days)
    row = enrich_one(spec=spec, record=request.record)
    outputs = output_rows(spec, row)
    company_values, company_score, company = _company_answer(request=request, row=row, output=outputs[0])
    family_tree = company_family_tree(company=company)
    settlement = lookup_settle(user=user, token_id=token_id, spec=spec, row=row, outputs=outputs,
                               note=f"single {request.job_type} enrichment", balance=balance)

    values = {**{name: outputs[0][name] for name in request.fields if name in CONTACT_FIELDS}, **company_values}
    status = enrichment_status_of(values, request.fields)
    data = {
        "enrichment_status": status,
        "person": _person_block(request, row, outputs[0]) if request.job_type == Job.Type.CONTACT else None,
        "company": {**company_values,
                    "matching_confidence": {"score": company_score, "level": confidence_level(company_score)},
                    "family_tree": family_tree},
    }
    if stale_fields := outputs[0].get("stale_fields"):
        data["stale_fields"] = stale_fields
    return PersonCompanyResult(found=status != "not_enriched", data=data, charged=settlement.charged,
                               remaining_credits=settlement.remaining_credits, charge_reason=settlement.reason)


def _company_answer(*, request: PersonCompanyRequest, row: WorkRow, output: dict) -> tuple[dict, int, dict | None]:
    """(requested company fields, matching score, DataCore company) for the response's company block.

    The person's employer when the person was found; otherwise the company named in the input,
    looked up as an account row is (free: the lookup is priced for the person).
    """
    account_fields = [name for name in request.fields if name in ACCOUNT_FIELDS]
    if row.company is not None and not row.withheld:
        values = with_companions(output, account_fields)
        if request.job_type == Job.Type.ACCOUNT or not request.company_record:
            return values, row.confidence, row.company
        return values, score_company(request.company_record, row.company).confidence, row.company
    if (request.job_type == Job.Type.ACCOUNT or COMPLIANCE_RESTRICTED in row.flags or not account_fields
            or not request.company_record):
        return {column: "" for name in account_fields for column in (name, *companion_columns(name))}, 0, None
    account_spec = lookup_spec(job_type=Job.Type.ACCOUNT, fields=account_fields, rate_category="account",
                               per_row_rate=Decimal("0"), min_confidence=request.min_confidence,
                               max_age_days=request.max_age_days)
    company_row = enrich_one(spec=account_spec, record=request.company_record)
    company_output = output_rows(account_spec, company_row)[0]
    values = with_companions(company_output, account_fields)
    if not company_row.matched:
        return values, 0, None
    return values, company_row.confidence, company_row.company


def _person_block(request: PersonCompanyRequest, row: WorkRow, output: dict) -> dict:
    block = with_companions(output, [name for name in request.fields if name in CONTACT_FIELDS])
    block["verification_status"] = next(
        (VERIFICATION_BY_FLAG[flag] for flag in row.flags if flag in VERIFICATION_BY_FLAG),
        "Verified" if row.person is not None else "Unverified")
    block["verification_source"] = output["enrichment_source"] if row.matched else ""
    block["match_confidence"] = output["match_confidence"]
    if request.phone:
        normalized = normalize_phone(request.phone, request.record.get("company_hq_country") or "US")
        block["data_validation"] = {"phone": {"status": "Valid" if normalized else "Invalid",
                                              "normalized_value": normalized}}
    return block


# The parent by its key and the subsidiaries by the parent_id index: one OR over both columns, with
# the parent possibly NULL, made PostgreSQL read every company (3.5 ms for 5,000).
FAMILY_TREE_SQL = f"""
    SELECT * FROM (
        SELECT true AS is_parent, id, {", ".join(FAMILY_TREE_FIELDS)} FROM {Company._meta.db_table}
        WHERE id = %(parent_id)s AND id <> %(id)s AND NOT opted_out
        UNION ALL
        (SELECT false, id, {", ".join(FAMILY_TREE_FIELDS)} FROM {Company._meta.db_table}
         WHERE parent_id = %(id)s AND id <> %(id)s AND NOT opted_out
         ORDER BY company_name, id LIMIT %(limit)s)
    ) AS relatives
    ORDER BY is_parent DESC, company_name, id
"""


def company_family_tree(*, company: dict | None) -> dict:
    """The company's parent and subsidiaries in DataCore, in one query; opted-out companies are left out."""
    if company is None or company.get("id") is None:
        return {"parent": None, "subsidiaries": []}
    relatives = select_dicts(FAMILY_TREE_SQL, {"id": company["id"], "parent_id": company.get("parent_id"),
                                               "limit": FAMILY_TREE_SUBSIDIARIES_LIMIT}, source=datacore.SOURCE)
    parent, subsidiaries = None, []
    for relative in relatives:
        entry = {name: relative[name] for name in FAMILY_TREE_FIELDS}
        if relative["is_parent"]:
            parent = entry
        else:
            subsidiaries.append(entry)
    return {"parent": parent, "subsidiaries": subsidiaries}
