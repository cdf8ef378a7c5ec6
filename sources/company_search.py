"""Company-name search for account matching: Meilisearch when configured, else pg_trgm in PostgreSQL.

A backend's `search_many(names)` answers a whole batch: `{name: [(company, score 0–1), …]}`, with each
company's DataCore columns. `source` names what answered (it goes into the rows' provenance) and `note` says
why, when that is not the configured backend.
"""

import logging
import time

import meilisearch
from django.conf import settings
from meilisearch.errors import MeilisearchError

from sources import datacore
from sources.models import Company

logger = logging.getLogger(__name__)

RESULTS_PER_NAME = 3
INDEX_PRIMARY_KEY = "id"
INDEX_DOCUMENT_FIELDS = ("id", "company_name", "name_norm", "domain_norm", "company_website",
                         "company_hq_country_code")
INDEX_SETTINGS = {"searchableAttributes": ["name_norm", "company_name", "domain_norm"]}


class PostgresTrigramSearch:
    """The embedded default: trigram similarity over DataCore's normalized company names."""

    source = "pg_trgm"
    note = ""

    def search_many(self, names: list[str]) -> dict[str, list[tuple[dict, float]]]:
        return datacore.companies_similar_to(names)


class MeilisearchUnusableResponse(Exception):
    pass


class MeilisearchCompanySearch:
    """Typo-tolerant search of the companies index (filled by `manage.py index_companies`).

    One multi-search request per batch, one query per name, then one DataCore query for the companies found.
    When Meilisearch fails or times out, pg_trgm answers that batch instead and `source`/`note` say so: a
    search outage never fails a job.
    """

    def __init__(self, *, client: meilisearch.Client, index: str):
        self.client, self.index = client, index
        self.source, self.note = "meilisearch", ""

    def search_many(self, names: list[str]) -> dict[str, list[tuple[dict, float]]]:
        names = sorted({name for name in names if name})
        if not names:
            return {}
        try:
            hits = self._hits_by_name(names)
        except (MeilisearchError, MeilisearchUnusableResponse) as exc:
            logger.warning("Meilisearch search failed, pg_trgm answers this batch: %s", exc)
            fallback = PostgresTrigramSearch()
            self.source, self.note = fallback.source, f"meilisearch unavailable, pg_trgm answered: {exc}"[:300]
            return fallback.search_many(names)
        companies = datacore.companies_by_ids({company_id for found in hits.values() for company_id, _ in found})
        # An id the index still has but DataCore no longer does is skipped until the next index_companies.
        return {name: [(companies[company_id], score) for company_id, score in found if company_id in companies]
                for name, found in hits.items() if found}

    def _hits_by_name(self, names: list[str]) -> dict[str, list[tuple[int, float]]]:
        response = self.client.multi_search([
            {"indexUid": self.index, "q": name, "limit": RESULTS_PER_NAME, "showRankingScore": True,
             "attributesToRetrieve": [INDEX_PRIMARY_KEY]}
            for name in names
        ])
        try:
            # Meilisearch answers the queries in the order they were sent.
            return {name: [(int(hit[INDEX_PRIMARY_KEY]), float(hit["_rankingScore"])) for hit in result["hits"]]
                    for name, result in zip(names, response["results"], strict=True)}
        except (KeyError, TypeError, ValueError) as exc:
            raise MeilisearchUnusableResponse(f"unexpected multi-search response: {exc!r}") from exc


def meilisearch_client() -> meilisearch.Client:
    return meilisearch.Client(settings.MEILISEARCH_URL, settings.MEILISEARCH_API_KEY or None,
                              timeout=settings.MEILISEARCH_TIMEOUT_SECONDS)


def company_search_backend() -> MeilisearchCompanySearch | PostgresTrigramSearch:
    """A backend for one batch (it records which source answered that batch)."""
    if settings.MEILISEARCH_URL:
        return MeilisearchCompanySearch(client=meilisearch_client(), index=settings.MEILISEARCH_INDEX)
    return PostgresTrigramSearch()


class IndexingFailed(Exception):
    pass


def company_index_rebuild(*, client: meilisearch.Client, index: str, batch_size: int,
                          wait_seconds: float) -> int:
    """Pushes every DataCore company to the index in batches and waits until Meilisearch has indexed them all.

    Returns the number of companies sent; raises IndexingFailed when a task fails, and MeilisearchError when
    Meilisearch cannot be reached or all tasks are not done within `wait_seconds`.
    Settings go first, so the documents are indexed once under them.
    """
    target = client.index(index)
    task_uids = [target.update_settings(INDEX_SETTINGS).task_uid]
    sent = 0
    batch: list[dict] = []
    for values in Company.objects.order_by("id").values_list(*INDEX_DOCUMENT_FIELDS).iterator(chunk_size=batch_size):
        batch.append(dict(zip(INDEX_DOCUMENT_FIELDS, values, strict=True)))
        if len(batch) == batch_size:
            task_uids.append(target.add_documents(batch, primary_key=INDEX_PRIMARY_KEY).task_uid)
            sent += len(batch)
            batch = []
    if batch:
        task_uids.append(target.add_documents(batch, primary_key=INDEX_PRIMARY_KEY).task_uid)
        sent += len(batch)
    deadline = time.monotonic() + wait_seconds
    for task_uid in task_uids:
        remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)
        task = client.wait_for_task(task_uid, timeout_in_ms=remaining_ms, interval_in_ms=100)
        if task.status != "succeeded":
            raise IndexingFailed(f"Meilisearch task {task_uid} ({task.type}) {task.status}: {task.error}")
    return sent
