import logging
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ecore.exceptions import ApplicationError, InsufficientCredits, PlanLimitExceeded
from enrichment.models import Job
from enrichment.validation import SubmissionRequest
from pricing.selectors import PriceMissing, enrichment_limit_for_user
from pricing.services import Estimate, estimate_credits
from wallet.selectors import wallet_balance
from wallet.services import wallet_deduct

logger = logging.getLogger(__name__)


class PricingNotConfigured(ApplicationError):
    status_code = 503

    def __init__(self, detail: str):
        super().__init__({"error": f"Pricing is not configured: {detail}. Please contact support."})


def job_input_cache_key(job_id) -> str:
    return f"enrichment:job-input:{job_id}"


def submission_estimate(*, user, submission: SubmissionRequest) -> tuple[Estimate, Decimal]:
    """Steps 7 and 8: the plan limit, then the price and the wallet pre-check. Returns (estimate, balance)."""
    limit = enrichment_limit_for_user(user=user)
    requested = len(submission.data)
    if requested > limit:
        raise PlanLimitExceeded(limit=limit, requested=requested)
    try:
        estimate = estimate_credits(job_type=submission.type, level=submission.level,
                                    fields=submission.fields_to_enrich,
                                    criteria_limit=(submission.criteria or {}).get("limit"), row_count=requested)
    except PriceMissing as exc:
        raise PricingNotConfigured(str(exc)) from None
    balance = wallet_balance(user=user)
    if balance < estimate.total:
        raise InsufficientCredits(required=estimate.total, available=balance)
    return estimate, balance


def job_submit(*, user, submission: SubmissionRequest, input_file_name: str = "") -> tuple[Job, Estimate]:
    """Steps 7 to 11: price, create the job, deduct under the wallet lock, dispatch after commit.

    The job row and the deduction share one transaction, so a deduction that fails (the balance
    dropped since the pre-check) leaves no job behind.
    """
    estimate, _ = submission_estimate(user=user, submission=submission)
    with transaction.atomic():
        job = Job.objects.create(
            user=user, type=submission.type, level=submission.level, fields_to_enrich=submission.fields_to_enrich,
            criteria=submission.criteria, record_count=len(submission.data), input_data=submission.data,
            input_file_name=input_file_name[:255], min_confidence=submission.min_confidence,
            webhook_url=submission.webhook_url, rate_category=estimate.rate_category,
            per_row_rate=estimate.per_row_rate, rate_multiplier=estimate.multiplier,
            estimated_credits=estimate.total, queued_at=timezone.now(),
        )
        if estimate.total > 0:
            wallet_deduct(user=user, amount=estimate.total, job=job, reference=f"job:{job.job_id}:submit",
                          note=f"{job.record_count} {job.type} rows at {estimate.per_input_row} credits")
        transaction.on_commit(lambda: job_dispatch(job=job, records=submission.data))
    return job, estimate


def job_dispatch(*, job: Job, records: list[dict] | None = None) -> None:
    """Caches the input for the worker and enqueues the pipeline task.

    A broker outage must not lose a paid job: the job stays queued in the database and the
    periodic sweep enqueues it again.
    """
    from enrichment.tasks import run_enrichment_job

    if records is not None:
        cache.set(job_input_cache_key(job.job_id), records, settings.JOB_INPUT_CACHE_SECONDS)
    try:
        run_enrichment_job.delay(str(job.job_id))
    except Exception:
        logger.exception("Could not enqueue job %s; the stale-job sweep will retry", job.job_id)
