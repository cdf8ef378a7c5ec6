"""Company-name search for account matching: Meilisearch when configured, else pg_trgm in PostgreSQL."""

from functools import lru_cache

from sources import datacore


class PostgresTrigramSearch:
    """The embedded default: trigram similarity over DataCore's normalized company names."""

    source = "pg_trgm"

    def search_many(self, names: list[str]) -> dict[str, list[tuple[dict, float]]]:
        return datacore.companies_similar_to(names)


@lru_cache(maxsize=1)
def company_search_backend():
    return PostgresTrigramSearch()
