from enrichment.models import Job, JobRow

ROW_STATUSES = ("enriched", "partially_enriched", "not_enriched")


def field_stats(job: Job) -> dict:
    """Counts over output rows: each row's status, and for each requested field how many got it."""
    rows = {status: 0 for status in ROW_STATUSES}
    fields = {name: {"enriched": 0, "not_enriched": 0} for name in job.fields_to_enrich}
    for outputs in JobRow.objects.filter(job=job).values_list("output", flat=True):
        for output in outputs:
            rows[output["enrichment_status"]] += 1
            for name, counts in fields.items():
                counts["enriched" if output.get(name) else "not_enriched"] += 1
    return {"rows": rows, "fields": fields}


def fill_rate(stats: dict | None) -> float | None:
    """The share of requested values filled, over every field and output row of stored field_stats;
    None before a job's stats are calculated."""
    fields = (stats or {}).get("fields") or {}
    filled = sum(counts["enriched"] for counts in fields.values())
    requested = filled + sum(counts["not_enriched"] for counts in fields.values())
    return filled / requested if requested else None
