"""What a job's rows keep of their charge, and the ledger movements that settle the rest."""

from decimal import Decimal

from django.db.models import Count

from ecore.metrics import CREDITS_REFUNDED
from enrichment.models import Job, JobRow
from enrichment.pipeline.rows import WorkRow, undelivered_reason
from enrichment.pipeline.spec import EnrichmentSpec
from sources.fields import PHONE_FIELDS
from wallet.services import wallet_refund, wallet_refund_many

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


def reconcile_job_credits(job: Job) -> Decimal:
    """Reverses, once each, the charges of processed rows that did not deliver."""
    due = JobRow.objects.filter(job=job, refund_due__gt=0).values_list("row_uid", "refund_due", "refund_reason")
    reasons = {f"job:{job.job_id}:row:{uid}:{reason}": reason for uid, _, reason in due}
    entries = wallet_refund_many(user=job.user, job=job, refunds=[
        (amount, f"job:{job.job_id}:row:{uid}:{reason}", f"row {uid}: {reason}") for uid, amount, reason in due
    ])
    # Only the refunds made now: those a reconciliation that ran before had made are not returned again.
    for entry in entries:
        CREDITS_REFUNDED.labels(reason=reasons[entry.reference]).inc(float(entry.amount))
    return sum((entry.amount for entry in entries), Decimal("0"))


def processed_row_count(job: Job) -> int:
    return JobRow.objects.filter(job=job).aggregate(n=Count("id"))["n"]


def release_unprocessed_credits(job: Job, *, reference: str, rows_processed: int) -> Decimal:
    """Gives back what the rows not yet processed were charged (on pause or failure)."""
    remainder = job.record_count - rows_processed
    amount = job.row_charge * remainder
    if remainder <= 0 or amount <= 0:
        return Decimal("0")
    wallet_refund(user=job.user, amount=amount, job=job, reference=reference,
                  note=f"{remainder} unprocessed rows released")
    CREDITS_REFUNDED.labels(reason=UNPROCESSED).inc(float(amount))
    return amount
