from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from enrichment.webhook_tasks import deliver_webhook, retry_lost_webhooks  # noqa: F401 (registers them)


@shared_task(name="enrichment.tasks.run_enrichment_job", acks_late=True, reject_on_worker_lost=True,
             time_limit=3600, soft_time_limit=3500)
def run_enrichment_job(job_id: str) -> None:
    """Runs one job. Safe to deliver twice: the job's lease lets only one delivery work."""
    from enrichment.pipeline.runner import job_run

    job_run(job_id=job_id)


@shared_task(name="enrichment.tasks.requeue_stale_jobs")
def requeue_stale_jobs() -> int:
    """Enqueues again jobs that waited too long (lost message) or whose worker's lease ran out."""
    from enrichment.models import Job, JobStatus
    from enrichment.services import job_dispatch

    now = timezone.now()
    stale = Job.objects.filter(
        Q(status=JobStatus.UPLOADING, queued_at__lt=now - timedelta(seconds=settings.JOB_STALE_QUEUED_SECONDS),
          lease_expires_at__isnull=True)
        | Q(lease_expires_at__lt=now)
    ).exclude(status__in=[JobStatus.COMPLETED, JobStatus.FAILURE, JobStatus.PAUSED])
    count = 0
    for job in stale:
        Job.objects.filter(pk=job.pk).update(queued_at=now)
        job_dispatch(job=job)
        count += 1
    return count
