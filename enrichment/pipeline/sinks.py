"""Where finished results are written besides PostgreSQL (Firestore, when configured).

Layout of one job in Firestore:

    enrichment_jobs/{job_id}                      the summary: status, counts, field_stats, columns,
                                                  rows_per_chunk, chunk_count, updated_at
    enrichment_jobs/{job_id}/results/{chunk:04d}  {"chunk": n, "rows": [up to 300 output rows], "row_count": k}

Document ids are deterministic, so writing a job again overwrites the same documents; chunk documents beyond
the new chunk count are deleted in the same commit.
"""

import json
from dataclasses import dataclass

from django.conf import settings
from google.api_core.exceptions import GoogleAPIError
from google.auth.exceptions import GoogleAuthError
from google.cloud import firestore

from enrichment.models import Job, JobStatus
from enrichment.selectors import job_result_rows
from sources.firestore import firestore_client, firestore_configured, firestore_retry

JOBS_COLLECTION = "enrichment_jobs"
RESULTS_COLLECTION = "results"
ROWS_PER_CHUNK = 300
# Firestore refuses a commit of more than 500 writes or 10 MiB. Sizes are estimated from the JSON encoding,
# hence the margin below 10 MiB.
MAX_WRITES_PER_COMMIT = 500
MAX_BYTES_PER_COMMIT = 8 * 1024 * 1024
DELETE_BYTES = 200
MAX_REASON_LENGTH = 500


class ResultsSinkError(Exception):
    """The results store failed. The job still completes: its PostgreSQL rows are the source of truth."""


@dataclass
class _Write:
    reference: firestore.DocumentReference
    data: dict | None  # None deletes the document

    @property
    def estimated_bytes(self) -> int:
        if self.data is None:
            return DELETE_BYTES
        return len(json.dumps(self.data, default=str, ensure_ascii=False).encode())


def chunk_id(chunk: int) -> str:
    return f"{chunk:04d}"


def result_chunks(rows: list[dict]) -> list[dict]:
    return [{"chunk": chunk, "rows": rows[start:start + ROWS_PER_CHUNK],
             "row_count": len(rows[start:start + ROWS_PER_CHUNK])}
            for chunk, start in enumerate(range(0, len(rows), ROWS_PER_CHUNK))]


def _without_private_keys(value):
    """`_`-prefixed keys are the client's internal columns: never stored outside PostgreSQL."""
    if isinstance(value, dict):
        return {key: _without_private_keys(item) for key, item in value.items() if not str(key).startswith("_")}
    if isinstance(value, list):
        return [_without_private_keys(item) for item in value]
    return value


def _job_summary(job: Job, *, columns: list[str], row_count: int, chunk_count: int) -> dict:
    return {
        "job_id": str(job.job_id),
        "user_id": job.user_id,
        "type": job.type,
        "level": job.level,
        # Written in the last stage before completion, so what is stored is the completed job's result.
        "status": str(JobStatus.COMPLETED),
        "counts": {"record_count": job.record_count, "rows_processed": job.rows_processed, "result_rows": row_count},
        "field_stats": job.field_stats or {},
        "columns": columns,
        "rows_per_chunk": ROWS_PER_CHUNK,
        "chunk_count": chunk_count,
        "updated_at": firestore.SERVER_TIMESTAMP,
    }


def _commit_groups(writes: list[_Write]) -> list[list[_Write]]:
    """Packs the writes, in order, into as few commits as Firestore's limits allow (usually one)."""
    groups: list[list[_Write]] = []
    current: list[_Write] = []
    current_bytes = 0
    for write in writes:
        size = write.estimated_bytes
        if current and (len(current) == MAX_WRITES_PER_COMMIT or current_bytes + size > MAX_BYTES_PER_COMMIT):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(write)
        current_bytes += size
    if current:
        groups.append(current)
    return groups


def job_results_write(*, client: firestore.Client, job: Job) -> int:
    """Writes the job's output rows in chunks and its summary; returns the number of rows written.

    When several commits are needed the summary comes last, so its chunk_count never names chunks that
    were not written.
    """
    columns, rows = job_result_rows(job)
    columns = [name for name in columns if not name.startswith("_")]
    chunks = result_chunks([_without_private_keys(row) for row in rows])
    job_document = client.collection(JOBS_COLLECTION).document(str(job.job_id))
    results = job_document.collection(RESULTS_COLLECTION)
    current_ids = {chunk_id(chunk["chunk"]) for chunk in chunks}
    stale = [reference for reference in results.list_documents(retry=firestore_retry(),
                                                                timeout=settings.FIRESTORE_TIMEOUT_SECONDS)
             if reference.id not in current_ids]
    writes = [_Write(results.document(chunk_id(chunk["chunk"])), chunk) for chunk in chunks]
    writes += [_Write(reference, None) for reference in stale]
    writes.append(_Write(job_document, _job_summary(job, columns=columns, row_count=len(rows),
                                                    chunk_count=len(chunks))))
    for group in _commit_groups(writes):
        batch = client.batch()
        for write in group:
            if write.data is None:
                batch.delete(write.reference)
            else:
                batch.set(write.reference, write.data)
        batch.commit(retry=firestore_retry(), timeout=settings.FIRESTORE_TIMEOUT_SECONDS)
    return len(rows)


class FirestoreResultsSink:
    source = "firestore"

    def write_job_results(self, job: Job) -> int:
        """Raises ResultsSinkError when Firestore cannot be reached or refuses the write."""
        try:
            return job_results_write(client=firestore_client(), job=job)
        except (GoogleAPIError, GoogleAuthError) as exc:
            raise ResultsSinkError(f"{type(exc).__name__}: {exc}"[:MAX_REASON_LENGTH]) from exc


def results_sink() -> FirestoreResultsSink | None:
    return FirestoreResultsSink() if firestore_configured() else None
