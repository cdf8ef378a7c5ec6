"""Plain SQL for the lookups every row runs: the ORM spends more time building a query of
fifty columns than PostgreSQL spends answering it, and these run on every request and batch."""

from django.db import connection

from ecore.process_cache import ProcessCache

# SQL with %s placeholders, and the values for them.
Condition = tuple[str, list]
# A statement's column names, read once: psycopg builds a Column object per column on every
# `description`, which cost more than the rows of a one-row lookup. The statements are a small
# fixed set (a few shapes of WHERE per lookup), so the table stays small.
_column_names = ProcessCache(max_entries=4096)


def select_dicts(sql: str, params) -> list[dict]:
    """The rows of one SELECT as dicts by column name."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = _column_names.get(sql)
        if names is None:
            names = [column.name for column in cursor.description]
            _column_names.put(sql, names)
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def any_of(column: str, values) -> Condition:
    """`column` equal to one of `values`: one array parameter, whatever their number."""
    return f"{column} = ANY(%s)", [sorted(values)]


def all_of(*conditions: Condition) -> Condition:
    return f"({' AND '.join(sql for sql, _ in conditions)})", [value for _, values in conditions for value in values]


def select_meeting_any(select: str, conditions: list[Condition]) -> list[dict]:
    """The rows of `select` that meet one of `conditions`, as dicts; none, and no query, without conditions."""
    if not conditions:
        return []
    where, params = " OR ".join(sql for sql, _ in conditions), [value for _, values in conditions for value in values]
    return select_dicts(f"{select} WHERE {where}", params)
