"""What a job's rows keep of their charge, and the ledger movements that settle the rest.

A row also pays only once for the same values: what a customer paid for is recorded as a
`PaidValue` key (user, entity, paid_for), and a row or lookup delivering a key again within
`repeat_free_days` of its payment is refunded `already_paid` (or, for a lookup, not charged).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from ecore.metrics import CREDITS_REFUNDED
from enrichment.models import Job, JobRow, PaidValue
from enrichment.pipeline.rows import WorkRow, undelivered_reason
from enrichment.pipeline.spec import EnrichmentSpec
from pricing.selectors import price_of
from sources.bigquery import person_key
from sources.fields import PHONE_FIELDS
from sources.normalize import normalize_linkedin_url
from wallet.services import Spend, wallet_refund, wallet_refund_many

ALREADY_PAID = "already_paid"
CHARGED = "charged"

# The refund reason of rows a pause or a failure left unprocessed (a processed row's reason is its own).
UNPROCESSED = "unprocessed"


def row_settlement(spec: EnrichmentSpec, row: WorkRow, outputs: list[dict]) -> tuple[Decimal, Decimal, str]:
    """(charge, refund due, reason) for one processed input row.

    A row keeps its charge only when it delivers what set its price: a phone for phone-priced
    rows, a deliverable email for email-priced rows, a match for the rest; an expanded account
    keeps the price of each contact actually returned. A value withheld for its age is refunded as
    `stale`, a catch-all email the job refused as `catch_all_refused`.
    """
    charge = spec.row_charge
    if row.withheld:
        return charge, charge, next(flag for flag in row.flags)
    requested = set(spec.fields_to_enrich)
    if spec.rate_multiplier > 1:
        returned = min(len(row.contacts), spec.rate_multiplier)
        if returned == spec.rate_multiplier:
            return charge, Decimal("0"), ""
        reason = "not_found" if not row.matched else ("no_contacts" if returned == 0 else "fewer_contacts")
        return charge, spec.per_row_rate * (spec.rate_multiplier - returned), reason
    if spec.rate_category == "phone":
        priced = requested.intersection(PHONE_FIELDS)
        delivered = any(output.get(name) for output in outputs for name in priced)
        reason = "no_phone"
    elif spec.rate_category == "email" and "contact_email" in requested:
        priced = {"contact_email"}
        delivered = any(output.get("contact_email") for output in outputs)
        reason = "no_deliverable_email"
    else:
        priced = requested
        delivered = row.matched and any(output["enrichment_status"] != "not_enriched" for output in outputs)
        reason = "not_found"
    if not row.matched and not delivered:
        reason = "not_found"
    if not delivered:
        reason = undelivered_reason(spec, row, priced) or reason
    return (charge, Decimal("0"), "") if delivered else (charge, charge, reason)


# --- what was paid for -----------------------------------------------------------------------------

def person_entity(row: WorkRow) -> str:
    """The person a row delivered, by DataCore's natural key (`source_key`: LinkedIn URL, else email, else
    name at company), whichever source matched them; else the input's own key; "" when nothing names them."""
    person = row.person or {}
    key = person_key(person) or (
        f"li:{linkedin}" if (linkedin := normalize_linkedin_url(person.get("contact_linkedin_url"))) else "")
    if not key:
        keys = row.keys
        key = person_key({"linkedin_norm": keys.linkedin, "email_norm": keys.email, "first_norm": keys.first,
                          "last_norm": keys.last, "company_domain_norm": keys.domain,
                          "company_name_norm": keys.company})
    return f"person:{key}" if key else ""


def company_entity(row: WorkRow) -> str:
    """The company a row delivered, by DataCore's natural key: its domain, else its normalized name."""
    company = row.company or {}
    key = (f"d:{company['domain_norm']}" if company.get("domain_norm")
           else f"n:{company['name_norm']}" if company.get("name_norm") else "")
    return f"company:{key}" if key else ""


def paid_for_of(spec: EnrichmentSpec) -> str:
    """What a row priced by `spec` pays for: the values whose delivery keeps its charge."""
    if spec.rate_category == "phone":
        return PaidValue.PaidFor.PHONE
    if spec.rate_category == "email" and "contact_email" in spec.fields_to_enrich:
        return PaidValue.PaidFor.EMAIL
    if spec.type == "account" and not spec.criteria_limit:
        return PaidValue.PaidFor.COMPANY
    return PaidValue.PaidFor.PROFILE


def _delivers(target: WorkRow, paid_for: str, spec: EnrichmentSpec) -> bool:
    if paid_for == PaidValue.PaidFor.PHONE:
        return any(name in target.fills for name in spec.fields_to_enrich if name in PHONE_FIELDS)
    if paid_for == PaidValue.PaidFor.EMAIL:
        return "contact_email" in target.fills
    return True


@dataclass(frozen=True)
class PaidClaim:
    """What a row that keeps a charge bought: `keys` (entity, paid_for), one per output row.

    With `unit_price` each key costs that much (an expanded account's contacts) and a key already paid
    for gives its price back; without, the row's charge buys its keys together and is given back only
    when every one was already paid for. `covers` are bought along when the row pays (a phone row's email).
    """

    keys: tuple[tuple[str, str] | None, ...]
    unit_price: Decimal | None = None
    covers: tuple[tuple[str, str], ...] = ()


def row_paid_claim(spec: EnrichmentSpec, row: WorkRow, outputs: list[dict]) -> PaidClaim | None:
    """What a delivered row paid for, or None when nothing identifies it (it is charged as always).

    A contact row pays for its person's phone, email or profile, as its price says; an account row for
    its company, or with criteria for each contact returned (the contacts' phones or emails when those
    set the price). A key is None for an output row that bought nothing of its own.
    """
    paid_for = paid_for_of(spec)
    if spec.type == "account" and row.contacts:
        keys = tuple((entity, paid_for) if (entity := person_entity(contact)) and _delivers(contact, paid_for, spec)
                     else None for contact in row.contacts)
        if not any(keys):
            return None
        unit_price = spec.per_row_rate if paid_for == PaidValue.PaidFor.PROFILE else None
        return PaidClaim(keys=keys, unit_price=unit_price)
    if spec.type == "account":
        entity, paid_for = company_entity(row), PaidValue.PaidFor.COMPANY
    else:
        entity = person_entity(row)
    if not entity:
        return None
    covers = ()
    if paid_for == PaidValue.PaidFor.PHONE and any(output.get("contact_email") for output in outputs):
        covers = ((entity, PaidValue.PaidFor.EMAIL),)
    return PaidClaim(keys=((entity, paid_for),), covers=covers)


@dataclass
class RowCharge:
    """One row's settlement: its charge, the refund due for what it did not deliver and why, what it paid
    for, and the part of what it kept that had already been paid for."""

    charge: Decimal
    refund_due: Decimal
    reason: str
    claim: PaidClaim | None
    reference: str
    already_paid: Decimal = Decimal("0")
    # Per key of the claim: True when this row paid for it.
    paid: list[bool] = field(default_factory=list)

    @property
    def kept(self) -> Decimal:
        return self.charge - self.refund_due

    def output_reasons(self, count: int) -> list[str]:
        """Why each output row costs what it does: `charged`, `already_paid` or the refund's reason."""
        if self.reason and self.kept <= 0:
            return [self.reason] * count
        if self.claim is None:
            return [CHARGED] * count
        if self.claim.unit_price is None or not self.paid:
            return [ALREADY_PAID if self.already_paid else CHARGED] * count
        # An expanded account: one output row per contact, each charged or already paid for.
        return [CHARGED if key is None or paid else ALREADY_PAID
                for key, paid in zip(self.claim.keys, self.paid, strict=True)]


def repeat_free_days() -> Decimal:
    return price_of("repeat_free_days")


def row_charge_of(spec: EnrichmentSpec, row: WorkRow, outputs: list[dict], *, reference: str) -> RowCharge:
    charge, refund_due, reason = row_settlement(spec, row, outputs)
    claim = row_paid_claim(spec, row, outputs) if charge - refund_due > 0 else None
    return RowCharge(charge=charge, refund_due=refund_due, reason=reason, claim=claim, reference=reference)


# Rows are claimed in key order, so two batches delivering some of the same people lock their keys in
# one order and cannot deadlock. A key is updated, and so taken, only when its payment is older than
# the window: within it, the conflict leaves the row alone and RETURNING leaves the key out.
PAID_VALUES_TAKE_SQL = """
INSERT INTO {table} AS paid (user_id, entity, paid_for, paid_at, job_id, reference) VALUES {values}
ON CONFLICT (user_id, entity, paid_for) DO UPDATE
    SET paid_at = EXCLUDED.paid_at, job_id = EXCLUDED.job_id, reference = EXCLUDED.reference
    WHERE paid.paid_at <= %s
RETURNING entity, paid_for
"""
PAID_VALUES_PER_STATEMENT = 1000


def paid_values_take(*, user, keys: dict[tuple[str, str], str], job: Job | None, now: datetime,
                     free_since: datetime) -> set[tuple[str, str]]:
    """Records each key as paid now by its reference, unless it was paid after `free_since`; the keys taken.

    Run it in the transaction that commits the charge: a concurrent delivery of the same key waits
    for that transaction and then finds the key taken (or, if it rolled back, takes it).
    """
    ordered = sorted(keys.items())
    taken = set()
    for start in range(0, len(ordered), PAID_VALUES_PER_STATEMENT):
        chunk = ordered[start:start + PAID_VALUES_PER_STATEMENT]
        sql = PAID_VALUES_TAKE_SQL.format(table=PaidValue._meta.db_table,
                                          values=", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk)))
        params = [value for (entity, paid_for), reference in chunk
                  for value in (user.pk, entity, paid_for, now, job.pk if job else None, reference)]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, free_since])
            taken.update(cursor.fetchall())
    return taken


def repeat_charges_waive(*, user, job: Job | None, charges: list[RowCharge]) -> None:
    """Sets what each row gives back as `already_paid`: the keys it delivered that were paid for within
    `repeat_free_days`, by an earlier job or lookup, or by an earlier row of the same job (the first row
    delivering a key pays for it). With `repeat_free_days` at 0 every row pays, as it always did."""
    days = repeat_free_days()
    claimed = [charge for charge in charges if charge.claim is not None]
    if days <= 0 or not claimed:
        return
    now = timezone.now()
    claimant: dict[tuple[str, str], RowCharge] = {}
    for charge in claimed:
        for key in charge.claim.keys:
            if key is not None:
                claimant.setdefault(key, charge)
    taken = paid_values_take(user=user, keys={key: charge.reference for key, charge in claimant.items()}, job=job,
                             now=now, free_since=now - timedelta(days=float(days)))
    covers = {}
    for charge in claimed:
        charge.paid = [key is not None and key in taken and claimant[key] is charge for key in charge.claim.keys]
        if charge.claim.unit_price is not None:
            unpaid = sum(1 for key, paid in zip(charge.claim.keys, charge.paid, strict=True) if key and not paid)
            charge.already_paid = charge.claim.unit_price * unpaid
        elif not any(charge.paid):
            charge.already_paid = charge.kept
        else:
            covers.update({key: charge.reference for key in charge.claim.covers if key not in claimant})
    if covers:
        paid_values_take(user=user, keys=covers, job=job, now=now, free_since=now - timedelta(days=float(days)))


# --- reconciliation --------------------------------------------------------------------------------

def job_spend(job: Job) -> Spend | None:
    """Whose spend the job's refunds give back (None for a job charged before spend was counted)."""
    return Spend(token_id=job.token_id, charged_at=job.charged_at) if job.charged_at else None


def reconcile_job_credits(job: Job) -> Decimal:
    """Reverses, once each, the charges of processed rows that did not deliver or delivered what the
    customer had already paid for: one ledger row per row and reason."""
    rows = JobRow.objects.filter(job=job).exclude(refund_due=0, already_paid=0).values_list(
        "row_uid", "refund_due", "refund_reason", "already_paid")
    refunds, reasons = [], {}
    for uid, refund_due, reason, already_paid in rows:
        for amount, why in ((refund_due, reason), (already_paid, ALREADY_PAID)):
            if amount > 0:
                reference = f"job:{job.job_id}:row:{uid}:{why}"
                refunds.append((amount, reference, f"row {uid}: {why}"))
                reasons[reference] = why
    entries = wallet_refund_many(user=job.user, job=job, refunds=refunds, spend=job_spend(job))
    # Only the refunds made now: those a reconciliation that ran before had made are not returned again.
    for entry in entries:
        CREDITS_REFUNDED.labels(reason=reasons[entry.reference]).inc(float(entry.amount))
    return sum((entry.amount for entry in entries), Decimal("0"))


def job_refund_reasons(job: Job) -> dict[str, dict]:
    """For each reason, the rows given credits back at reconciliation and how many credits."""
    reasons = {}
    by_reason = (JobRow.objects.filter(job=job, refund_due__gt=0).values("refund_reason")
                 .annotate(rows=Count("id"), credits=Sum("refund_due")).order_by("refund_reason"))
    for entry in by_reason:
        reasons[entry["refund_reason"]] = {"rows": entry["rows"], "credits": entry["credits"]}
    already = JobRow.objects.filter(job=job, already_paid__gt=0).aggregate(rows=Count("id"), credits=Sum("already_paid"))
    if already["rows"]:
        reasons[ALREADY_PAID] = already
    return reasons


def processed_row_count(job: Job) -> int:
    return JobRow.objects.filter(job=job).aggregate(n=Count("id"))["n"]


def release_unprocessed_credits(job: Job, *, reference: str, rows_processed: int) -> Decimal:
    """Gives back what the rows not yet processed were charged (on pause or failure)."""
    remainder = job.record_count - rows_processed
    amount = job.row_charge * remainder
    if remainder <= 0 or amount <= 0:
        return Decimal("0")
    wallet_refund(user=job.user, amount=amount, job=job, reference=reference,
                  note=f"{remainder} unprocessed rows released", spend=job_spend(job))
    CREDITS_REFUNDED.labels(reason=UNPROCESSED).inc(float(amount))
    return amount
