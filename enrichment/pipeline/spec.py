"""What the row stages read of a job: a small frozen spec, built from a saved job or a single request.

The stages never see the `Job` row; saving, status and leases stay the runner's business.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from enrichment.models import RowPricing


@dataclass(frozen=True)
class EnrichmentSpec(RowPricing):
    type: str
    level: str
    fields_to_enrich: tuple[str, ...]
    criteria: Mapping | None = None
    min_confidence: int | None = None
    # A value its source last saw more days ago than this is not delivered (None: any age).
    max_age_days: int | None = None
    # Whether an email at a catch-all domain is delivered (and charged) or dropped (and refunded).
    accept_catch_all: bool = True
    rate_category: str = ""
    per_row_rate: Decimal = Decimal("0")
    rate_multiplier: int = 1
    # Names the job in paid providers' calls (budgets, idempotency); None for a single lookup.
    job_id: uuid.UUID | None = None

    @classmethod
    def of_job(cls, job) -> "EnrichmentSpec":
        return cls(type=job.type, level=job.level, fields_to_enrich=tuple(job.fields_to_enrich),
                   criteria=job.criteria, min_confidence=job.min_confidence, max_age_days=job.max_age_days,
                   accept_catch_all=job.accept_catch_all, rate_category=job.rate_category,
                   per_row_rate=job.per_row_rate, rate_multiplier=job.rate_multiplier, job_id=job.job_id)

    def fresh_since(self) -> datetime | None:
        """The oldest last-seen date a delivered value may have, from now; None without max_age_days."""
        return timezone.now() - timedelta(days=self.max_age_days) if self.max_age_days else None
