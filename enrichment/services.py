import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from ecore.exceptions import ApplicationError, InsufficientCredits, PlanLimitExceeded, ValidationFailed
from ecore.metrics import JOBS_SUBMITTED
from enrichment.credits import processed_row_count
from enrichment.job_input import job_input_keep
from enrichment.models import TERMINAL_STATUSES, Job, JobStatus
from enrichment.pipeline.runner import job_pause_at_checkpoint
from enrichment.validation import SubmissionRequest
from pricing.selectors import enrichment_limit_for_user
from pricing.services import Estimate, estimate_credits
from wallet.selectors import spend_caps_check, wallet_balance
from wallet.services import wallet_deduct

logger = logging.getLogger(__name__)
events = structlog.get_logger(__name__)


def submission_estimate(*, user, submission: SubmissionRequest, token_id: int | None = None) -> tuple[Estimate, Decimal]:
    """Steps 7 and 8: the plan limit, then the price, the wallet pre-check and, after it, the spend caps'
    pre-check (the wallet's 402 wins when both would refuse). Returns (estimate, balance)."""
    limit = enrichment_limit_for_user(user=user)
    requested = len(submission.data)
    if requested > limit:
        raise PlanLimitExceeded(limit=limit, requested=requested)
    estimate = estimate_credits(job_type=submission.type, level=submission.level, fields=submission.fields_to_enrich,
                                criteria_limit=(submission.criteria or {}).get("limit"), row_count=requested)
    balance = wallet_balance(user=user)
    if balance < estimate.total:
        raise InsufficientCredits(required=estimate.total, available=balance)
    spend_caps_check(user=user, token_id=token_id, amount=estimate.total)
    return estimate, balance


def job_submit(*, user, submission: SubmissionRequest, input_file_name: str = "",
               token_id: int | None = None) -> tuple[Job, Estimate]:
    """Steps 7 to 11: price, create the job, deduct under the wallet lock, dispatch after commit.

    The job row and the deduction share one transaction, so a deduction that fails (the balance
    dropped since the pre-check, or concurrent submits filled a spend cap) leaves no job behind.
    """
    estimate, _ = submission_estimate(user=user, submission=submission, token_id=token_id)
    with transaction.atomic():
        job = Job.objects.create(
            user=user, type=submission.type, level=submission.level, fields_to_enrich=submission.fields_to_enrich,
            criteria=submission.criteria, record_count=len(submission.data), input_data=submission.data,
            input_columns=list(dict.fromkeys(str(name) for record in submission.data for name in record)),
            input_file_name=input_file_name[:255], min_confidence=submission.min_confidence,
            max_age_days=submission.max_age_days, accept_catch_all=submission.accept_catch_all,
            webhook_url=submission.webhook_url, rate_category=estimate.rate_category,
            per_row_rate=estimate.per_row_rate, rate_multiplier=estimate.multiplier,
            estimated_credits=estimate.total, queued_at=timezone.now(), token_id=token_id,
        )
        if estimate.total > 0:
            entry = wallet_deduct(user=user, amount=estimate.total, job=job, reference=f"job:{job.job_id}:submit",
                                  note=f"{job.record_count} {job.type} rows at {estimate.per_input_row} credits",
                                  token_id=token_id)
            Job.objects.filter(pk=job.pk).update(charged_at=entry.created_at)
            job.charged_at = entry.created_at
        transaction.on_commit(lambda: job_dispatch(job=job, records=submission.data))
    JOBS_SUBMITTED.labels(type=job.type, level=job.level).inc()
    # The request's lines from here on, and the worker's through the task's message, carry the job's id.
    structlog.contextvars.bind_contextvars(job_id=str(job.job_id))
    events.info("job_submitted", job_type=job.type, job_level=job.level, rows=job.record_count,
                estimated_credits=str(job.estimated_credits))
    return job, estimate


def job_dispatch(*, job: Job, records: list[dict] | None = None) -> None:
    """Keeps the input in the cache for the worker and enqueues the pipeline task.

    A broker outage must not lose a paid job: the job stays queued in the database and the
    periodic sweep enqueues it again.
    """
    # Imported here: the tasks call these services.
    from enrichment.tasks import run_enrichment_job

    if records is not None:
        job_input_keep(job_id=job.job_id, records=records)
    try:
        run_enrichment_job.delay(str(job.job_id))
    except Exception:
        logger.exception("Could not enqueue job %s; the stale-job sweep will retry", job.job_id)


class JobNotFound(ApplicationError):
    status_code = 404

    def __init__(self):
        super().__init__({"error": "Job not found."})


def job_for_user(*, user, job_id) -> Job:
    """The caller's job; someone else's job is indistinguishable from a missing one (404)."""
    job = Job.objects.filter(job_id=job_id, user=user).first() if _is_uuid(job_id) else None
    if job is None:
        raise JobNotFound()
    structlog.contextvars.bind_contextvars(job_id=str(job.job_id))
    return job


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def job_request_pause(*, user, job_id) -> Job:
    """Pauses a queued job at once; a running one stops at its next batch boundary."""
    with transaction.atomic():
        job = job_for_user(user=user, job_id=job_id)
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status in TERMINAL_STATUSES or job.status == JobStatus.PAUSED:
            raise ValidationFailed({"error": f"Cannot pause a job whose status is '{job.status}'."})
        running = job.lease_expires_at is not None and job.lease_expires_at > timezone.now()
        Job.objects.filter(pk=job.pk).update(pause_requested=True)
        job.pause_requested = True
    if not running:
        job_pause_at_checkpoint(job, stage=str(job.status))
        job.refresh_from_db()
    return job


def job_resume(*, user, job_id, token_id: int | None = None) -> tuple[Job, Estimate]:
    """Re-prices the unprocessed remainder at current rates, charges it (within the spend caps, counted
    for the resuming token) and continues from the checkpoint."""
    with transaction.atomic():
        job = job_for_user(user=user, job_id=job_id)
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status != JobStatus.PAUSED:
            raise ValidationFailed({"error": f"Only a paused job can be resumed; this job is '{job.status}'."})
        checkpoint = job.checkpoint or {}
        rows_processed = checkpoint.get("rows_processed")
        if not isinstance(rows_processed, int) or rows_processed != processed_row_count(job) \
                or rows_processed > job.record_count:
            raise ValidationFailed({"error": "Cannot resume: the pause checkpoint is missing or invalid."})
        remainder = job.record_count - rows_processed
        estimate = estimate_credits(job_type=job.type, level=job.level, fields=job.fields_to_enrich,
                                    criteria_limit=job.criteria_limit, row_count=remainder)
        if estimate.total > 0:
            entry = wallet_deduct(user=user, amount=estimate.total, job=job,
                                  reference=f"job:{job.job_id}:resume:{job.pause_count}",
                                  note=f"{remainder} remaining rows at {estimate.per_input_row} credits",
                                  token_id=token_id)
            job.token_id, job.charged_at = token_id, entry.created_at
        job.per_row_rate, job.rate_multiplier = estimate.per_row_rate, estimate.multiplier
        job.status, job.checkpoint, job.queued_at, job.attempts = JobStatus.UPLOADING, None, timezone.now(), 0
        job.save()
        transaction.on_commit(lambda: job_dispatch(job=job))
    return job, estimate


def stale_jobs_requeue() -> int:
    """Enqueues again jobs that waited too long (lost message) or whose worker's lease ran out; how many.

    A job whose lease ran out is enqueued once, not at every run: again only when that message too has
    waited JOB_STALE_QUEUED_SECONDS (all workers busy, or the message lost).
    """
    # The database's clock, as the leases are written with (enrichment/pipeline/lease.py).
    waited_long = Q(queued_at__lt=Now() - timedelta(seconds=settings.JOB_STALE_QUEUED_SECONDS))
    stale = Job.objects.filter(
        Q(status=JobStatus.UPLOADING, lease_expires_at__isnull=True) & waited_long
        | Q(lease_expires_at__lt=Now()) & (Q(queued_at__lt=F("lease_expires_at")) | waited_long)
    ).exclude(status__in=[*TERMINAL_STATUSES, JobStatus.PAUSED])
    count = 0
    for job in stale:
        Job.objects.filter(pk=job.pk).update(queued_at=Now())
        job_dispatch(job=job)
        count += 1
    return count
