"""The one small interface every pipeline stage implements.

The runner knows stages; a stage knows its source; a source knows its backend. A stage gets
a batch of rows and works only on those still missing requested fields, with one query (or
one round trip) per batch. A source that cannot answer raises `SourceUnavailable`, which the
runner records on the stage log; the job goes on.
"""

from dataclasses import dataclass

from enrichment.pipeline.rows import WorkRow
from enrichment.pipeline.spec import EnrichmentSpec


@dataclass
class StageResult:
    rows_filled: int = 0
    source: str = ""
    detail: str = ""


class Stage:
    status: str  # the JobStatus shown while it runs
    name: str  # a short identifier for the stage log

    def skip_reason(self, spec: EnrichmentSpec) -> str | None:
        """Why the stage does not run for `spec`, or None when it does."""
        return None

    def sends_rows_out(self, spec: EnrichmentSpec) -> bool:
        """True when running it sends rows' data to a third party (a paid provider)."""
        return False

    def run(self, spec: EnrichmentSpec, rows: list[WorkRow]) -> StageResult:
        raise NotImplementedError


def rows_missing(spec: EnrichmentSpec, rows: list[WorkRow]) -> list[WorkRow]:
    """Rows that are not withheld and still lack a requested field (or, for accounts, a match)."""
    return [row for row in rows
            if not row.withheld and (row.missing(spec.fields_to_enrich) or (spec.type == "account" and not row.company))]
