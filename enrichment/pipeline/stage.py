"""The one small interface every pipeline stage implements.

The runner knows stages; a stage knows its source; a source knows its backend. A stage gets
a batch of rows and works only on those still missing requested fields, with one query (or
one round trip) per batch.
"""

from dataclasses import dataclass

from enrichment.pipeline.rows import WorkRow


@dataclass
class StageResult:
    rows_filled: int = 0
    source: str = ""
    detail: str = ""


class Stage:
    status: str  # the JobStatus shown while it runs
    name: str  # a short identifier for the stage log

    def applies(self, job) -> bool:
        return True

    def skip_reason(self, job) -> str:
        return "does not apply to this job"

    def sends_rows_out(self, job) -> bool:
        """True when running it sends rows' data to a third party (a paid provider)."""
        return False

    def run(self, job, rows: list[WorkRow]) -> StageResult:
        raise NotImplementedError


def rows_missing(job, rows: list[WorkRow]) -> list[WorkRow]:
    """Rows that are not withheld and still lack a requested field (or, for accounts, a match)."""
    return [row for row in rows
            if not row.withheld and (row.missing(job.fields_to_enrich) or (job.type == "account" and not row.company))]
