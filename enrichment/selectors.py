from datetime import UTC, date, datetime

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from ecore.exceptions import format_credits
from enrichment.credits import job_refund_reasons
from enrichment.models import TERMINAL_STATUSES, Job, JobRow, JobStatus, WebhookDelivery
from enrichment.pipeline.rows import MATCHING_COLUMNS, companion_columns
from pricing.selectors import enrichment_limit_for_user, plan_for_user
from pricing.services import credits_as_integer
from tokens.models import ApiToken, TestTokenUsage
from tokens.ratelimit import rate_limit_for_token
from wallet.selectors import job_credit_totals, spend_overview, wallet_balance


def account_overview(*, token: ApiToken) -> dict:
    """What the token's owner may spend and submit, and what is left of the token's day."""
    user = token.user
    plan = plan_for_user(user=user)
    requests_today = None
    if token.kind == ApiToken.Kind.TEST:
        usage = TestTokenUsage.objects.filter(token=token, day=datetime.now(UTC).date()).first()
        requests_today = usage.count if usage else 0
    return {
        "username": user.get_username(),
        "balance": format_credits(wallet_balance(user=user)),
        "plan": {"name": plan.name if plan else None,
                 "records_per_submission": enrichment_limit_for_user(user=user),
                 "rate_limit_per_second": rate_limit_for_token(token=token)},
        "token": {"kind": token.kind, "name": token.name,
                  "daily_limit": token.daily_limit if requests_today is not None else None,
                  "requests_today": requests_today,
                  "requests_left_today": (max(token.daily_limit - requests_today, 0)
                                          if requests_today is not None else None)},
        "spend_caps": spend_overview(user=user, token_id=token.pk),
    }


def jobs_for_user(*, user, created_after=None, created_before=None, record_count=None, status=None):
    jobs = Job.objects.filter(user=user).order_by("-created_at")
    if created_after is not None:
        jobs = jobs.filter(created_at__gte=created_after)
    if created_before is not None:
        jobs = jobs.filter(created_at__lte=created_before)
    if record_count is not None:
        jobs = jobs.filter(record_count=record_count)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def _iso(value):
    return value.isoformat() if value else None


def job_summary(job: Job) -> dict:
    return {
        "job_id": str(job.job_id),
        "status": job.status,
        "type": job.type,
        "level": job.level,
        "record_count": job.record_count,
        "rows_processed": job.rows_processed,
        "estimated_credits": credits_as_integer(job.estimated_credits),
        "created_at": _iso(job.created_at),
        "finished_at": _iso(job.finished_at),
    }


def job_status_document(job: Job) -> dict:
    credits = job_credit_totals(job=job)
    percent = round(100 * job.rows_processed / job.record_count, 1) if job.record_count else 100.0
    document = {
        "job_id": str(job.job_id),
        "status": job.status,
        "current_stage": job.status,
        "type": job.type,
        "level": job.level,
        "fields_to_enrich": job.fields_to_enrich,
        "criteria": job.criteria,
        # Echoed on every row as imported_<column>, but no match reads them.
        "ignored_columns": [name for name in job.input_columns
                            if name not in MATCHING_COLUMNS and not name.startswith("_")],
        "max_age_days": job.max_age_days,
        "accept_catch_all": job.accept_catch_all,
        "progress": {"rows_total": job.record_count, "rows_processed": job.rows_processed, "percent": percent},
        "credits": {
            "estimated": format_credits(job.estimated_credits),
            "charged": format_credits(credits["charged"]),
            "refunded": format_credits(credits["refunded"]),
            "net": format_credits(credits["charged"] - credits["refunded"]),
            # Per reason, the processed rows reconciliation gives credits back to (all of them once the job
            # has reconciled): not delivered (not_found, no_phone, …), withheld, or already_paid.
            "refunds_by_reason": {reason: {"rows": entry["rows"], "credits": format_credits(entry["credits"])}
                                  for reason, entry in job_refund_reasons(job).items()},
        },
        "field_stats": job.field_stats or None,
        "stages": job.stage_log,
        "checkpoint": job.checkpoint,
        "pause_requested": job.pause_requested,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "updated_at": _iso(job.updated_at),
        "failure": {"reason": job.failure_reason, **(job.failure_meta or {})} if job.status == JobStatus.FAILURE else None,
        "webhooks": [
            {"event_id": str(delivery["event_id"]), "event": delivery["event"], "status": delivery["status"],
             "attempts": delivery["attempts"], "last_status_code": delivery["last_status_code"],
             "delivered_at": _iso(delivery["delivered_at"])}
            for delivery in WebhookDelivery.objects.filter(job=job).order_by("created_at").values(
                "event_id", "event", "status", "attempts", "last_status_code", "delivered_at")
        ],
    }
    return document


def job_is_finished(job: Job) -> bool:
    return job.status in TERMINAL_STATUSES


TRAILING_COLUMNS = ("enrichment_status", "enrichment_source", "match_confidence", "match_confidence_level",
                    "charge_reason")


def result_columns(job: Job, rows: list[dict]) -> list[str]:
    """Requested fields (each with its quality columns), then the input's columns as imported_*, then
    status and provenance."""
    requested = [column for name in job.fields_to_enrich for column in (name, *companion_columns(name))]
    leading = [*requested, *(f"imported_{name}" for name in job.input_columns if not name.startswith("_")),
               *TRAILING_COLUMNS]
    seen = dict.fromkeys(leading)
    extra = dict.fromkeys(name for row in rows for name in row if name not in seen and name != "field_sources")
    return [*(name for name in leading if any(name in row for row in rows)), *extra, "field_sources"]


def job_result_rows(job: Job) -> tuple[list[str], list[dict]]:
    """The columns and the output rows, in input order (an expanded account's contacts stay together)."""
    rows = []
    for outputs in JobRow.objects.filter(job=job).order_by("position").values_list("output", flat=True):
        rows.extend(outputs)
    columns = result_columns(job, rows)
    return columns, [{name: row[name] for name in columns if name in row} for row in rows]


def jobs_per_day(*, since: datetime) -> dict[date, dict[str, int]]:
    """Jobs submitted and their input rows per UTC day since `since`, over every user, in one query."""
    days = (Job.objects.filter(created_at__gte=since).order_by()
            .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day")
            .annotate(jobs=Count("job_id"), rows=Sum("record_count")))
    return {row["day"]: {"jobs": row["jobs"], "rows": row["rows"]} for row in days}


# Note: plain SQL because the ORM cannot unnest a JSON array of rows and then an object of field
# sources (jsonb_array_elements, then jsonb_each); PostgreSQL does it in one pass over the rows.
_FILL_RATE_BY_SOURCE = """
    WITH outputs AS (
        SELECT output.value AS row, jsonb_array_length(job.fields_to_enrich) AS requested
        FROM enrichment_job job
        JOIN enrichment_jobrow jobrow ON jobrow.job_id = job.job_id
        CROSS JOIN LATERAL jsonb_array_elements(jobrow.output) AS output
        WHERE job.created_at >= %s
    )
    SELECT filled.value ->> 'source', count(*), (SELECT coalesce(sum(requested), 0) FROM outputs)
    FROM outputs CROSS JOIN LATERAL jsonb_each(outputs.row -> 'field_sources') AS filled
    GROUP BY 1
    ORDER BY 2 DESC, 1
"""


def fill_rate_by_source(*, since: datetime) -> list[dict]:
    """For each source, the requested values it filled and their share of every value requested
    (one per requested field and output row) in the jobs submitted since `since`; the shares add up
    to the overall fill rate. One query."""
    with connection.cursor() as cursor:
        cursor.execute(_FILL_RATE_BY_SOURCE, [since])
        rows = cursor.fetchall()
    return [{"source": source or "unknown", "filled": filled, "requested": requested,
             "rate": filled / requested if requested else 0.0} for source, filled, requested in rows]
