"""What the row stages read of a job: a small frozen spec, built from a saved job or a single request.

The stages never see the `Job` row; saving, status and leases stay the runner's business.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from enrichment.models import RowPricing


@dataclass(frozen=True)
class EnrichmentSpec(RowPricing):
    type: str
    level: str
    fields_to_enrich: tuple[str, ...]
    criteria: Mapping | None = None
    min_confidence: int | None = None
    rate_category: str = ""
    per_row_rate: Decimal = Decimal("0")
    rate_multiplier: int = 1
    # Names the job in paid providers' calls (budgets, idempotency); None for a single lookup.
    job_id: uuid.UUID | None = None

    @classmethod
    def of_job(cls, job) -> "EnrichmentSpec":
        return cls(type=job.type, level=job.level, fields_to_enrich=tuple(job.fields_to_enrich),
                   criteria=job.criteria, min_confidence=job.min_confidence, rate_category=job.rate_category,
                   per_row_rate=job.per_row_rate, rate_multiplier=job.rate_multiplier, job_id=job.job_id)
