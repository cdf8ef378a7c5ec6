"""Plain SQL for the lookups every row runs: the ORM spends more time building a query of
fifty columns than PostgreSQL spends answering it, and these run on every request and batch."""

from django.db import connection


def select_dicts(sql: str, params) -> list[dict]:
    """The rows of one SELECT as dicts by column name."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def any_of(column: str, values, conditions: list[str], params: list) -> None:
    """Adds `column = ANY(values)` to `conditions` (one array parameter, whatever the count)."""
    conditions.append(f"{column} = ANY(%s)")
    params.append(sorted(values))
