import json
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ecore.exceptions import format_credits
from enrichment.models import (
    TERMINAL_STATUSES,
    IdempotencyRecord,
    Job,
    JobRow,
    JobStatus,
    PaidValue,
    WebhookDelivery,
)
from enrichment.stats import ROW_STATUSES, fill_rate
from wallet.selectors import job_credit_totals, job_net_credits

EMPTY = "—"
NUMERIC = mark_safe(' class="numeric"')


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def percent_text(share: float | None) -> str:
    return EMPTY if share is None else f"{share:.0%}"


def in_column_order(record: dict, columns: list[str]) -> dict:
    """A record's keys in the client's column order (jsonb keeps its own order)."""
    return {**{name: record[name] for name in columns if name in record}, **record}


def html_table(headers: list[str], rows: list[tuple], *, numeric_from: int) -> str:
    """A small admin table; columns from `numeric_from` on are right-aligned numbers."""
    head = format_html_join("", '<th scope="col"{}>{}</th>', (
        (NUMERIC if index >= numeric_from else "", header)
        for index, header in enumerate(headers)))
    body = format_html_join("", "<tr>{}</tr>", (
        (format_html_join("", "<td{}>{}</td>", (
            (NUMERIC if index >= numeric_from else "", cell)
            for index, cell in enumerate(row))),)
        for row in rows))
    return format_html('<table class="cockpit"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)


def filled_text(row: JobRow) -> str:
    """The requested fields a row got, each with its source; how many output rows an account expanded into."""
    sources = {}
    for output in row.output:
        for name, provenance in (output.get("field_sources") or {}).items():
            sources.setdefault(name, provenance.get("source") or "?")
    filled = ", ".join(f"{name} ({source})" for name, source in sources.items()) or EMPTY
    return f"{len(row.output)} output rows: {filled}" if len(row.output) > 1 else filled


def job_rows_table(job_id) -> str:
    """The job's rows as one table: up to 500, which a tabular inline takes seconds to render as forms."""
    rows = JobRow.objects.filter(job_id=job_id).order_by("position").only(
        "job_id", "position", "row_uid", "output", "enrichment_status", "charge", "refund_due", "refund_reason",
        "already_paid", "completed_at")
    return html_table(["row", "row uid", "status", "filled (source)", "refund reason", "charge", "refund due",
                       "already paid"], [
        (str(row), row.row_uid, row.get_enrichment_status_display(), filled_text(row), row.refund_reason or EMPTY,
         format_credits(row.charge), format_credits(row.refund_due), format_credits(row.already_paid))
        for row in rows], numeric_from=5)


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("event", "url", "status", "attempts", "last_status_code", "last_error", "next_attempt_at",
              "delivered_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class JobStateFilter(admin.SimpleListFilter):
    """Where a job stands, rather than each of the nineteen stage names a running job passes through."""

    title = "status"
    parameter_name = "state"
    STATES = {
        "running": ("In progress", lambda jobs: jobs.exclude(status__in=[*TERMINAL_STATUSES, JobStatus.PAUSED])),
        "paused": ("Paused", lambda jobs: jobs.filter(status=JobStatus.PAUSED)),
        "completed": ("Completed", lambda jobs: jobs.filter(status=JobStatus.COMPLETED)),
        "failed": ("Failed", lambda jobs: jobs.filter(status=JobStatus.FAILURE)),
    }

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.STATES.items()]

    def queryset(self, request, queryset):
        state = self.STATES.get(self.value())
        return state[1](queryset) if state else queryset


class JobLevelFilter(admin.SimpleListFilter):
    """The levels a submit accepts (enrichment/validation.py); the model's choices also keep "quick"."""

    title = "level"
    parameter_name = "level"
    LEVELS = (Job.Level.STANDARD, Job.Level.PRO)

    def lookups(self, request, model_admin):
        return [(level.value, level.label) for level in self.LEVELS]

    def queryset(self, request, queryset):
        return queryset.filter(level=self.value()) if self.value() in self.LEVELS else queryset


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("short_id", "user", "type", "level", "rows", "status", "net_credits", "fill_rate",
                    "duration", "created_at")
    list_filter = (JobStateFilter, "type", JobLevelFilter, ("created_at", admin.DateFieldListFilter))
    list_select_related = ("user",)
    search_fields = ("job_id", "user__username")
    # The rows and the input follow the deliveries, folded (admin/enrichment/job/change_form.html).
    inlines = [WebhookDeliveryInline]
    MAIN = ("job_id", "user", "type", "level", "status", "progress", "fields_to_enrich", "criteria",
            "min_confidence", "webhook_url", "input_file_name")
    CREDITS = ("rate_category", "per_row_rate", "rate_multiplier", "estimated_credits", "credits_charged",
               "credits_refunded", "credits_net", "ledger")
    FAILURE = ("failure_reason", "failure_meta")
    TIMING = ("created_at", "queued_at", "started_at", "finished_at", "duration", "attempts", "pause_requested",
              "pause_count", "checkpoint", "lease_owner", "lease_expires_at", "updated_at")
    readonly_fields = (*MAIN, *CREDITS, "field_statistics", "stage_log_table", *FAILURE, *TIMING)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Every field is the pipeline's to write: the page is for reading (no Save button).
        return False

    def get_queryset(self, request):
        # The input (up to a megabyte a job) is read only where the change page shows it.
        return (super().get_queryset(request).defer("input_data")
                .annotate(net_credits_total=job_net_credits(), run_time=F("finished_at") - F("started_at")))

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": self.MAIN}),
            ("Credits", {"fields": self.CREDITS}),
            ("Field statistics", {"fields": ("field_statistics",)}),
            ("Stages", {"fields": ("stage_log_table",)}),
        ]
        if obj is not None and (obj.status == JobStatus.FAILURE or obj.failure_reason):
            fieldsets.append(("Failure", {"fields": self.FAILURE}))
        return [*fieldsets, ("Timing and lease", {"fields": self.TIMING})]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = Job.objects.filter(pk=object_id).only("input_data", "input_columns", "record_count").first()
        if job is not None:
            text = "\n".join(json.dumps(in_column_order(record, job.input_columns), ensure_ascii=False)
                             for record in job.input_data)
            extra_context = {**(extra_context or {}), "input_lines": text, "input_columns": job.input_columns,
                             "input_size": filesizeformat(len(text.encode())), "rows_table": job_rows_table(job.pk)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="job", ordering="job_id")
    def short_id(self, job: Job) -> str:
        return f"{str(job.job_id)[:8]}…"

    @admin.display(description="rows", ordering="record_count")
    def rows(self, job: Job) -> int:
        return job.record_count

    @admin.display(description="net credits", ordering="net_credits_total")
    def net_credits(self, job: Job) -> str:
        return format_credits(job.net_credits_total)

    @admin.display(description="fill rate")
    def fill_rate(self, job: Job) -> str:
        return percent_text(fill_rate(job.field_stats))

    @admin.display(description="duration", ordering="run_time")
    def duration(self, job: Job) -> str:
        if job.started_at is None:
            return EMPTY
        if job.finished_at is None:
            return f"{duration_text((timezone.now() - job.started_at).total_seconds())} so far"
        return duration_text((job.finished_at - job.started_at).total_seconds())

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        percent = round(100 * job.rows_processed / job.record_count, 1) if job.record_count else 100.0
        return format_html('<progress value="{}" max="{}"></progress> {} of {} rows ({}%)',
                           job.rows_processed, job.record_count, job.rows_processed, job.record_count, percent)

    def _credit_totals(self, job: Job) -> dict:
        if not hasattr(job, "_credit_totals"):
            job._credit_totals = job_credit_totals(job=job)
        return job._credit_totals

    @admin.display(description="charged")
    def credits_charged(self, job: Job) -> str:
        return format_credits(self._credit_totals(job)["charged"])

    @admin.display(description="refunded")
    def credits_refunded(self, job: Job) -> str:
        return format_credits(self._credit_totals(job)["refunded"])

    @admin.display(description="net")
    def credits_net(self, job: Job) -> str:
        totals = self._credit_totals(job)
        return format_credits(totals["charged"] - totals["refunded"])

    @admin.display(description="ledger")
    def ledger(self, job: Job) -> str:
        url = reverse("admin:wallet_ledgerentry_changelist") + "?" + urlencode({"job__exact": job.pk})
        count = job.ledger_entries.count()
        return format_html('<a href="{}" id="job-ledger-link">This job\'s {} ledger entr{}</a>',
                           url, count, "y" if count == 1 else "ies")

    @admin.display(description="fields")
    def field_statistics(self, job: Job) -> str:
        stats = job.field_stats or {}
        if not stats:
            return "Calculated when the job's rows are all processed."
        fields = [(name, counts["enriched"], counts["not_enriched"],
                   percent_text(counts["enriched"] / (counts["enriched"] + counts["not_enriched"] or 1)))
                  for name, counts in (stats.get("fields") or {}).items()]
        rows = stats.get("rows") or {}
        return format_html(
            "{}<p>Output rows: {}</p>",
            html_table(["field", "filled", "not filled", "fill rate"], fields, numeric_from=1),
            ", ".join(f"{rows.get(status, 0)} {status.replace('_', ' ')}" for status in ROW_STATUSES))

    @admin.display(description="stages")
    def stage_log_table(self, job: Job) -> str:
        if not job.stage_log:
            return "No stage has run yet."
        rows = [(entry.get("stage", ""), entry["name"], entry["state"], entry.get("source") or EMPTY,
                 entry.get("detail") or entry.get("reason") or "",
                 entry["rows_filled"] if "rows_filled" in entry else EMPTY,
                 f"{entry['seconds']:.3f}" if "seconds" in entry else EMPTY)
                for entry in job.stage_log]
        return html_table(["stage", "step", "state", "source", "note", "rows filled", "seconds"], rows,
                          numeric_from=5)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "token", "endpoint", "response_status", "created_at")
    readonly_fields = [field.name for field in IdempotencyRecord._meta.fields]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event", "job_link", "status", "attempts", "last_status_code", "next_attempt_at",
                    "created_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("event_id", "job__job_id", "url")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="job", ordering="job")
    def job_link(self, delivery: WebhookDelivery) -> str:
        # The raw id: loading each job would read its input too.
        return format_html('<a href="{}">{}…</a>', reverse("admin:enrichment_job_change", args=[delivery.job_id]),
                           str(delivery.job_id)[:8])


@admin.register(PaidValue)
class PaidValueAdmin(admin.ModelAdmin):
    """What each customer has paid for; deleting a row makes the next delivery of those values pay again."""

    list_display = ("user", "entity", "paid_for", "paid_at", "job", "reference")
    list_filter = ("paid_for",)
    search_fields = ("user__username", "entity", "reference")
    readonly_fields = [field.name for field in PaidValue._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
