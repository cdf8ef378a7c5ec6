"""Batch lookups against DataCore: one query per call, whatever the number of rows asked about."""

from django.db import connection

from sources.contacts import BatchKeys, Candidate
from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS
from sources.models import Company, Person
from sources.sql import all_of, any_of, lookup_errors, select_dicts, select_meeting_any

SOURCE = "datacore"
PERSON_KEY_COLUMNS = ("id", "company_id", "first_norm", "last_norm", "email_norm", "linkedin_norm",
                      "company_name_norm", "company_domain_norm", "opted_out", "last_seen_at")
COMPANY_KEY_COLUMNS = ("id", "parent_id", "name_norm", "domain_norm", "linkedin_norm", "opted_out",
                       "last_seen_at")
PERSON_COLUMNS = (*PERSON_KEY_COLUMNS, *[name for name in CONTACT_FIELDS])
COMPANY_COLUMNS = (*COMPANY_KEY_COLUMNS, *ACCOUNT_FIELDS)


PEOPLE_SELECT = (
    f"SELECT {', '.join(f'p.{name}' for name in PERSON_COLUMNS)}, "
    f"{', '.join(f'c.{name} AS company__{name}' for name in COMPANY_COLUMNS)} "
    f"FROM {Person._meta.db_table} p LEFT JOIN {Company._meta.db_table} c ON c.id = p.company_id"
)
COMPANIES_SELECT = f"SELECT {', '.join(COMPANY_COLUMNS)} FROM {Company._meta.db_table}"


def _split_person_and_company(row: dict) -> Candidate:
    person = {name: row[name] for name in PERSON_COLUMNS}
    if row["company_id"] is None:
        return person, None
    return person, {name: row[f"company__{name}"] for name in COMPANY_COLUMNS}


class DataCoreContacts:
    """DataCore's people, always there: PostgreSQL is the service's own database."""

    name = SOURCE

    def unconfigured_reason(self) -> str:
        return ""

    def contacts_for(self, keys: BatchKeys) -> list[Candidate]:
        """Every person who could be one of the rows: by email, LinkedIn URL, or first or last name at a company."""
        conditions = []
        if keys.emails:
            conditions.append(any_of("p.email_norm", keys.emails))
        if keys.linkedins:
            conditions.append(any_of("p.linkedin_norm", keys.linkedins))
        for names_column, names in (("p.last_norm", keys.last_names), ("p.first_norm", keys.first_names)):
            for company_column, companies in (("p.company_domain_norm", keys.domains),
                                              ("p.company_name_norm", keys.company_names)):
                if names and companies:
                    conditions.append(all_of(any_of(names_column, names), any_of(company_column, companies)))
        return [_split_person_and_company(row) for row in select_meeting_any(PEOPLE_SELECT, conditions, source=SOURCE)]


def companies_for_keys(*, domains=(), names=()) -> list[dict]:
    conditions = []
    if domains:
        conditions.append(any_of("domain_norm", domains))
    if names:
        conditions.append(any_of("name_norm", names))
    return select_meeting_any(COMPANIES_SELECT, conditions, source=SOURCE)


def companies_by_ids(ids) -> dict[int, dict]:
    ids = set(ids)
    if not ids:
        return {}
    return {row["id"]: row for row in select_meeting_any(COMPANIES_SELECT, [any_of("id", ids)], source=SOURCE)}


def companies_similar_to(names: list[str], *, per_name: int = 3, min_similarity: float = 0.4) -> dict[str, list[tuple[dict, float]]]:
    """pg_trgm similarity over normalized names, for all `names` in one query."""
    names = sorted({name for name in names if name})
    if not names:
        return {}
    with lookup_errors(source=SOURCE), connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT q.name, c.id, c.score
            FROM unnest(%s::text[]) AS q(name)
            CROSS JOIN LATERAL (
                SELECT id, similarity(name_norm, q.name) AS score
                FROM {Company._meta.db_table}
                WHERE name_norm %% q.name
                ORDER BY name_norm <-> q.name
                LIMIT %s
            ) AS c
            WHERE c.score >= %s
            """,
            [names, per_name, min_similarity],
        )
        hits = cursor.fetchall()
    companies = companies_by_ids({company_id for _, company_id, _ in hits})
    found: dict[str, list[tuple[dict, float]]] = {}
    for name, company_id, score in hits:
        found.setdefault(name, []).append((companies[company_id], float(score)))
    return found


def contacts_for_companies(company_ids, *, limit: int, job_levels=(), job_functions=(), keywords=()) -> dict[int, list[dict]]:
    """Up to `limit` people per company matching the criteria, best-known first, in one query."""
    company_ids = sorted(set(company_ids))
    if not company_ids:
        return {}
    filters, params = ["p.company_id = ANY(%s)", "NOT p.opted_out"], [company_ids]
    if job_levels:
        filters.append("lower(p.job_level) = ANY(%s)")
        params.append([level.lower() for level in job_levels])
    if job_functions:
        filters.append("lower(p.job_function) = ANY(%s)")
        params.append([function.lower() for function in job_functions])
    if keywords:
        # Any keyword may match, in the title, function or level.
        patterns = [f"%{keyword}%" for keyword in keywords]
        filters.append("(p.job_title ILIKE ANY(%s) OR p.job_function ILIKE ANY(%s) OR p.job_level ILIKE ANY(%s))")
        params.extend([patterns, patterns, patterns])
    columns = ", ".join(f"p.{name}" for name in PERSON_COLUMNS)
    people = select_dicts(
        f"""
        SELECT * FROM (
            SELECT {columns}, ROW_NUMBER() OVER (
                PARTITION BY p.company_id ORDER BY p.last_seen_at DESC NULLS LAST, p.id) AS rank
            FROM {Person._meta.db_table} p
            WHERE {" AND ".join(filters)}
        ) ranked WHERE rank <= %s ORDER BY company_id, rank
        """,
        [*params, limit],
        source=SOURCE,
    )
    by_company: dict[int, list[dict]] = {}
    for person in people:
        by_company.setdefault(person["company_id"], []).append(person)
    return by_company
