from enrichment.models import Job, JobStatus


def job_run(*, job_id: str) -> None:
    Job.objects.filter(job_id=job_id, status=JobStatus.UPLOADING).update(status=JobStatus.STARTED)
