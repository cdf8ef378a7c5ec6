from celery import shared_task


@shared_task(name="enrichment.tasks.run_enrichment_job", acks_late=True, reject_on_worker_lost=True)
def run_enrichment_job(job_id: str) -> None:
    from enrichment.pipeline.runner import job_run

    job_run(job_id=job_id)
