"""A submitted job's input, kept in Redis for an hour (as the seed says) so the worker need not read it back.

The copy only saves work: the job row's `input_data` is the input. A copy that could not be written (Redis
down or out of memory) or has expired is read from the row instead, and failing to write it
never fails a submit that has already been charged.
"""

import logging

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def job_input_cache_key(job_id) -> str:
    return f"enrichment:job-input:{job_id}"


def job_input_keep(*, job_id, records: list[dict]) -> None:
    try:
        cache.set(job_input_cache_key(job_id), records, settings.JOB_INPUT_CACHE_SECONDS)
    except Exception:
        logger.warning("Job %s: input not kept in the cache; the worker reads it from the job row", job_id,
                       exc_info=True)


def job_input_records(job) -> list[dict]:
    """The job's input: Redis's copy, else the row's (a deferred column, loaded only then)."""
    try:
        records = cache.get(job_input_cache_key(job.job_id))
    except Exception:
        logger.warning("Job %s: the input's cached copy could not be read", job.job_id, exc_info=True)
        records = None
    return records if records is not None else job.input_data
