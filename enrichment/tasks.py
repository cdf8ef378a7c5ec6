import structlog
from celery import shared_task

from enrichment.pipeline.runner import job_run
from enrichment.services import stale_jobs_requeue


@shared_task(name="enrichment.tasks.run_enrichment_job", acks_late=True, reject_on_worker_lost=True,
             time_limit=3600, soft_time_limit=3500)
def run_enrichment_job(job_id: str) -> None:
    """Runs one job. Safe to deliver twice: the job's lease lets only one delivery work."""
    # Bound for the rest of the task, Celery's own success or failure line included (ecore/celery.py clears it).
    structlog.contextvars.bind_contextvars(job_id=str(job_id))
    job_run(job_id=job_id)


@shared_task(name="enrichment.tasks.requeue_stale_jobs")
def requeue_stale_jobs() -> int:
    """Enqueues again jobs that waited too long (lost message) or whose worker's lease ran out."""
    return stale_jobs_requeue()
