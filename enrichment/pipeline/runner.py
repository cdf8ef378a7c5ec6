"""Runs a job's lifecycle: claim, prepare, row stages batch by batch, stats, credits, results."""

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable

import structlog
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from ecore.metrics import JOB_ROWS, JOBS_FINISHED, SOURCE_ROWS_FILLED, STAGE_SECONDS
from enrichment.credits import (
    processed_row_count,
    reconcile_job_credits,
    release_unprocessed_credits,
    repeat_charges_waive,
    row_charge_of,
)
from enrichment.job_input import job_input_records
from enrichment.models import TERMINAL_STATUSES, Job, JobRow, JobStatus
from enrichment.pipeline.compliance import apply_compliance
from enrichment.pipeline.lease import DATABASE_ERRORS, JobLease, LeaseLost, lease_end
from enrichment.pipeline.rows import BELOW_MIN_CONFIDENCE, WorkRow, output_rows
from enrichment.pipeline.sinks import ResultsSinkError, results_sink
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.pipeline.stage import Stage, StageResult
from enrichment.pipeline.stages import ROW_STAGES
from enrichment.stats import field_stats
from enrichment.webhooks import job_status_changed
from sources.contacts import RowKeys, SourceUnavailable

logger = logging.getLogger(__name__)
events = structlog.get_logger(__name__)

ROW_UID_NAMESPACE = uuid.UUID("5b0e8d1e-2f0c-4c55-9d3c-7f1a4a9e0c11")


def row_uid_for(job_id, position: int) -> str:
    """Deterministic, so a redelivered job gives each row the same internal id (32 hex characters)."""
    return uuid.uuid5(ROW_UID_NAMESPACE, f"{job_id}:{position}").hex


def job_claim(*, job_id) -> tuple[Job, JobLease] | None:
    """Takes the job's lease, or returns None when it is finished, paused or held by a live worker.

    A conditional UPDATE, so of two deliveries of the same task exactly one proceeds.
    """
    lease = JobLease(job_id)
    claimed = (
        Job.objects.filter(job_id=job_id)
        .exclude(status__in=[*TERMINAL_STATUSES, JobStatus.PAUSED])
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now()))
        .update(lease_owner=lease.token, lease_expires_at=lease_end(), attempts=F("attempts") + 1,
                started_at=Coalesce("started_at", Now()))
    )
    if not claimed:
        return None
    # The input is read from the cache when it is there (job_input_records): the column only on a miss.
    return Job.objects.select_related("user").defer("input_data").get(job_id=job_id), lease


def _status_set(job: Job, lease: JobLease, status: str, **fields) -> None:
    """Shows the job's status (and saves `fields`); raises LeaseLost, writing nothing, once another holds it."""
    if not lease.held().update(status=status, updated_at=timezone.now(), **fields):
        raise LeaseLost()
    job.status = status
    for name, value in fields.items():
        setattr(job, name, value)


class StageLog:
    """Per stage: done or skipped, which source answered and how many rows it filled, over all batches."""

    def __init__(self, entries: list[dict]):
        self.entries = {entry["name"]: entry for entry in entries}

    def record(self, stage: Stage, result: StageResult, seconds: float = 0.0) -> None:
        entry = self.entries.get(stage.name)
        if entry is None or entry["state"] == "skipped":
            # A stage skipped for one kind of job shares its name with the one that runs instead (DataCore's).
            entry = self.entries[stage.name] = {"name": stage.name, "stage": str(stage.status), "state": "done",
                                                "source": "", "rows_filled": 0, "seconds": 0.0}
        entry.update(state="done", source=result.source or entry["source"])
        entry["rows_filled"] += result.rows_filled
        entry["seconds"] = round(entry.get("seconds", 0.0) + seconds, 4)
        if result.detail:
            entry["detail"] = result.detail

    def fail(self, stage: Stage, result: StageResult, seconds: float = 0.0) -> None:
        """A stage whose failure the job survives (a source or an optional store that was down)."""
        self.record(stage, result, seconds)
        self.entries[stage.name]["state"] = "failed"

    def skip(self, name: str, status: str, reason: str) -> None:
        # A stage that ran, or failed, keeps its entry when its namesake is skipped (DataCore's two).
        if self.entries.get(name, {}).get("state") not in ("done", "failed"):
            self.entries[name] = {"name": name, "stage": str(status), "state": "skipped", "reason": reason}

    def as_list(self) -> list[dict]:
        return list(self.entries.values())


def _rows_to_process(job: Job, spec: EnrichmentSpec) -> list[WorkRow]:
    done = set(JobRow.objects.filter(job=job).values_list("position", flat=True))
    fresh_since = spec.fresh_since()
    return [
        WorkRow(position=position, row_uid=row_uid_for(job.job_id, position), record=record,
                keys=RowKeys.from_record(record), fresh_since=fresh_since)
        for position, record in enumerate(job_input_records(job)) if position not in done
    ]


def _apply_min_confidence(spec: EnrichmentSpec, rows: list[WorkRow]) -> None:
    if not spec.min_confidence:
        return
    for row in rows:
        if row.matched and row.confidence < spec.min_confidence:
            row.withhold(BELOW_MIN_CONFIDENCE)


def _rows_save(job: Job, lease: JobLease, spec: EnrichmentSpec, rows: list[WorkRow], log: StageLog) -> None:
    """Saves a finished batch: its rows, what each is due back, what it paid for, and the job's progress,
    atomically; nothing when another delivery holds the job now (LeaseLost). A batch that is not saved
    has taken none of the people it would have paid for."""
    outputs = [output_rows(spec, row) for row in rows]
    charges = [row_charge_of(spec, row, row_outputs, reference=f"job:{job.job_id}:row:{row.row_uid}")
               for row, row_outputs in zip(rows, outputs, strict=True)]
    with transaction.atomic():
        repeat_charges_waive(user=job.user, job=job, charges=charges)
        records = []
        for row, row_outputs, charge in zip(rows, outputs, charges, strict=True):
            for output, reason in zip(row_outputs, charge.output_reasons(len(row_outputs)), strict=True):
                output["charge_reason"] = reason
            records.append(JobRow(job=job, row_uid=row.row_uid, position=row.position, output=row_outputs,
                                  enrichment_status=_row_status(row_outputs), charge=charge.charge,
                                  refund_due=charge.refund_due, refund_reason=charge.reason,
                                  already_paid=charge.already_paid))
        JobRow.objects.bulk_create(records, ignore_conflicts=True)
        # Last, so the job's row is locked only for the commit (the heartbeat updates it too); a claim by
        # another delivery either waits for this commit or makes this UPDATE match nothing and roll back.
        rows_processed = processed_row_count(job)
        if not lease.held().update(rows_processed=rows_processed, stage_log=log.as_list(),
                                   updated_at=timezone.now()):
            raise LeaseLost()
    job.rows_processed = rows_processed
    for status, count in Counter(record.enrichment_status for record in records).items():
        JOB_ROWS.labels(enrichment_status=status).inc(count)


def _row_status(outputs: list[dict]) -> str:
    statuses = {output["enrichment_status"] for output in outputs}
    if statuses == {"enriched"}:
        return "enriched"
    return "not_enriched" if statuses == {"not_enriched"} else "partially_enriched"


def _pause_requested(lease: JobLease) -> bool:
    """At a batch boundary: whether the client asked for a pause; LeaseLost when another delivery holds the job."""
    pause_requested = lease.held().values_list("pause_requested", flat=True).first()
    if pause_requested is None:
        raise LeaseLost()
    return pause_requested


def job_pause_at_checkpoint(job: Job, *, stage: str, lease: JobLease | None = None) -> None:
    """Stops at a batch boundary: records the checkpoint and releases the unprocessed rows' credits.

    From the runner, only while its `lease` holds the job (else LeaseLost); without one, a job no worker runs.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(job_id=job.job_id)
        if lease is not None and job.lease_owner != lease.token:
            raise LeaseLost()
        rows_processed = processed_row_count(job)
        job.pause_count += 1
        release_unprocessed_credits(job, reference=f"job:{job.job_id}:pause:{job.pause_count}",
                                    rows_processed=rows_processed)
        job.checkpoint = {"rows_processed": rows_processed, "stage": stage,
                          "paused_at": timezone.now().isoformat()}
        job.rows_processed = rows_processed
        job.status, job.pause_requested, job.attempts = JobStatus.PAUSED, False, 0
        job.lease_owner, job.lease_expires_at = "", None
        job.save()
    job_status_changed(job)


def job_fail(job: Job, *, reason: str, meta: dict, lease: JobLease | None = None) -> None:
    """Ends the job as Failure: processed rows are reconciled, unprocessed rows refunded.

    From the runner, only while its `lease` holds the job: a job another delivery took over is left to it.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(job_id=job.job_id)
        if job.status in TERMINAL_STATUSES or (lease is not None and job.lease_owner != lease.token):
            return
        rows_processed = processed_row_count(job)
        reconcile_job_credits(job)
        release_unprocessed_credits(job, reference=f"job:{job.job_id}:failure", rows_processed=rows_processed)
        job.status, job.failure_reason, job.failure_meta = JobStatus.FAILURE, reason, meta
        job.rows_processed, job.finished_at = rows_processed, timezone.now()
        job.lease_owner, job.lease_expires_at, job.pause_requested = "", None, False
        job.save()
    _job_ended(job)


def _job_ended(job: Job) -> None:
    """A job completed or failed: counted, logged, and its webhook event recorded."""
    JOBS_FINISHED.labels(status=job.status).inc()
    seconds = (job.finished_at - job.started_at).total_seconds() if job.started_at and job.finished_at else None
    events.info("job_finished", status=job.status, rows=job.record_count, rows_processed=job.rows_processed,
                attempts=job.attempts, duration_seconds=seconds)
    job_status_changed(job)


def _run_row_stages(job: Job, lease: JobLease, log: StageLog) -> bool:
    """Runs every row stage over each batch not saved yet; False when the job paused instead of finishing."""
    spec = EnrichmentSpec.of_job(job)
    rows = _rows_to_process(job, spec)
    batch_size = settings.ENRICHMENT_BATCH_SIZE
    for start in range(0, len(rows), batch_size):
        if _pause_requested(lease):
            job_pause_at_checkpoint(job, stage=str(job.status), lease=lease)
            return False
        batch = rows[start:start + batch_size]
        batch_enrich(spec, batch, log, show_status=lambda status: _status_set(job, lease, status))
        _rows_save(job, lease, spec, batch, log)
    return True


def batch_enrich(spec: EnrichmentSpec, rows: list[WorkRow], log: StageLog, *,
                 show_status: Callable[[str], None] | None = None) -> None:
    """What every row gets, in a job's batch or a single lookup: the row stages that apply, the suppression
    list, then min_confidence. The suppression list is also checked before any stage that sends rows to a
    paid provider. A source that cannot answer fails its stage on the log, and the batch goes on.

    `show_status` is told each stage's status as it starts (a single lookup has no status to show).
    """
    for stage in ROW_STAGES:
        if (reason := stage.skip_reason(spec)) is not None:
            log.skip(stage.name, stage.status, reason)
            continue
        if stage.sends_rows_out(spec):
            # A suppressed person's data must not reach a provider either, not only the client.
            apply_compliance(rows)
        if show_status is not None:
            show_status(stage.status)
        started = time.perf_counter()
        try:
            result = stage.run(spec, rows)
        except SourceUnavailable as error:
            logger.warning("Stage %s: %s unavailable, the batch goes on without it: %s", stage.name, error.source,
                           error.reason)
            log.fail(stage, StageResult(0, error.source, error.reason), _stage_seconds(stage, started))
            continue
        log.record(stage, result, _stage_seconds(stage, started))
        if result.rows_filled and result.source:
            SOURCE_ROWS_FILLED.labels(source=result.source).inc(result.rows_filled)
    apply_compliance(rows)
    _apply_min_confidence(spec, rows)


def _stage_seconds(stage: Stage, started: float) -> float:
    """How long the stage took since `started` (a perf_counter reading), observed on its histogram."""
    seconds = time.perf_counter() - started
    STAGE_SECONDS.labels(stage=stage.name).observe(seconds)
    return seconds


def _finish(job: Job, lease: JobLease, log: StageLog) -> None:
    _status_set(job, lease, JobStatus.STATS)
    stats = field_stats(job)
    _status_set(job, lease, JobStatus.RECONCILING, field_stats=stats)
    reconcile_job_credits(job)
    sink = results_sink()
    if sink is None:
        log.skip("results_sink", JobStatus.SAVING, "no results store configured (PostgreSQL rows only)")
    else:
        _status_set(job, lease, JobStatus.SAVING)
        started = time.perf_counter()
        stage = _NamedStage("results_sink", JobStatus.SAVING)
        try:
            written = sink.write_job_results(job)
        except ResultsSinkError as exc:
            logger.warning("Job %s: results not written to %s: %s", job.job_id, sink.source, exc)
            log.fail(stage, StageResult(0, sink.source, f"failed: {exc}"), _stage_seconds(stage, started))
        else:
            log.record(stage, StageResult(written, sink.source), _stage_seconds(stage, started))
    _status_set(job, lease, JobStatus.SAVING_ROWS)
    log.record(_NamedStage("row_results", JobStatus.SAVING_ROWS), StageResult(job.rows_processed, "postgresql"))
    _status_set(job, lease, JobStatus.COMPLETED, stage_log=log.as_list(), finished_at=timezone.now(),
                pause_requested=False, checkpoint=None, lease_owner="", lease_expires_at=None)
    _job_ended(job)


class _NamedStage(Stage):
    def __init__(self, name: str, status: str):
        self.name, self.status = name, status


def job_run(*, job_id) -> None:
    claim = job_claim(job_id=job_id)
    if claim is None:
        events.info("job_not_claimed")  # finished, paused, or another worker holds its lease
        return
    job, lease = claim
    events.info("job_started", attempt=job.attempts, rows=job.record_count, job_type=job.type, job_level=job.level)
    with lease.heartbeat():
        try:
            if job.attempts > settings.JOB_MAX_ATTEMPTS:
                job_fail(job, lease=lease, meta={"stage": job.status, "attempts": job.attempts - 1},
                         reason=f"The job stopped its worker {job.attempts - 1} times and was abandoned.")
                return
            _job_work_retrying_database_errors(job, lease)
        except LeaseLost:
            logger.warning("Job %s: this worker lost its lease (another delivery holds the job); it stops without "
                           "writing", job_id)
        except DATABASE_ERRORS:
            # Not the job's fault: it stays as it is, and once the lease runs out the sweep enqueues it again.
            logger.exception("Job %s: the database stayed unreachable; the job is left to the stale-job sweep",
                             job_id)
        except Exception as exc:
            logger.exception("Job %s failed", job_id)
            job_fail(job, lease=lease, reason=f"{type(exc).__name__}: {exc}",
                     meta={"stage": job.status, "error": type(exc).__name__})


def _job_work(job: Job, lease: JobLease) -> None:
    """From the first batch not saved yet to the end; safe to run again after an interruption (rows are
    keyed by a deterministic id, ledger movements by a unique reference)."""
    log = StageLog(job.stage_log)
    _status_set(job, lease, JobStatus.STARTED)
    _status_set(job, lease, JobStatus.PREPARING)
    if _run_row_stages(job, lease, log):
        _finish(job, lease, log)


def _job_work_retrying_database_errors(job: Job, lease: JobLease) -> None:
    """Runs the job; when its database session breaks (a failover, a restart, a network cut), closes the
    session and goes on from the last saved batch, JOB_DATABASE_RETRIES times in a row at most (waits of
    1, 2, 4… seconds; a saved batch starts the count again). The lease's heartbeat keeps the job meanwhile."""
    failures, rows_at_last_failure = 0, -1
    while True:
        try:
            if failures:
                # What the saved batches logged: the interrupted batch's entries were rolled back with it.
                job.refresh_from_db(fields=["stage_log"])
            return _job_work(job, lease)
        except DATABASE_ERRORS as error:
            close_old_connections()
            failures = 1 if job.rows_processed > rows_at_last_failure else failures + 1
            rows_at_last_failure = job.rows_processed
            if failures > settings.JOB_DATABASE_RETRIES:
                raise
            delay = 2 ** (failures - 1)
            logger.warning("Job %s: database error (%s); going on from row %s in %s s", job.job_id, error,
                           job.rows_processed, delay)
            time.sleep(delay)
