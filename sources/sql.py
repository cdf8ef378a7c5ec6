"""Plain SQL for the lookups every row runs: the ORM spends more time building a query of
fifty columns than PostgreSQL spends answering it, and these run on every request and batch.

No lookup may hold a PostgreSQL backend for minutes: the processes that serve lookups (web, worker)
give each database connection a statement timeout, LOOKUP_STATEMENT_TIMEOUT_MS, as it opens, and a
lookup that PostgreSQL cancels raises `SourceUnavailable`, which fails its stage and lets the job go
on. Note: it is a session setting, not a `SET LOCAL` per lookup, which took three more round trips
(BEGIN, SET, COMMIT) around every one-row query of a single-record lookup.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created
from psycopg.errors import QueryCanceled

from ecore.process_cache import ProcessCache
from sources.contacts import SourceUnavailable

# SQL with %s placeholders, and the values for them.
Condition = tuple[str, list]
# A statement's column names, read once: psycopg builds a Column object per column on every
# `description`, which cost more than the rows of a one-row lookup. The statements are a small
# fixed set (a few shapes of WHERE per lookup), so the table stays small.
_column_names = ProcessCache(max_entries=4096)


def _statement_timeout_set(sender, connection, **kwargs) -> None:
    if settings.LOOKUP_STATEMENT_TIMEOUT_MS:
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(settings.LOOKUP_STATEMENT_TIMEOUT_MS)}")


def lookup_statement_timeout_enable() -> None:
    """Every database connection this process opens from now on cancels a statement after
    LOOKUP_STATEMENT_TIMEOUT_MS. Called by the web and worker processes; imports and migrations,
    whose statements may rightly run for minutes, do not call it."""
    connection_created.connect(_statement_timeout_set, dispatch_uid="ecore-lookup-statement-timeout")


@contextmanager
def lookup_errors(*, source: str) -> Iterator[None]:
    """A statement of the block that PostgreSQL cancelled (its timeout) raises SourceUnavailable from `source`."""
    try:
        yield
    except OperationalError as error:
        if isinstance(error.__cause__, QueryCanceled):
            raise SourceUnavailable(source, f"lookup cancelled after {settings.LOOKUP_STATEMENT_TIMEOUT_MS} ms"
                                    ) from error
        raise


def select_dicts(sql: str, params, *, source: str) -> list[dict]:
    """The rows of one SELECT as dicts by column name."""
    with lookup_errors(source=source), connection.cursor() as cursor:
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


def select_meeting_any(select: str, conditions: list[Condition], *, source: str) -> list[dict]:
    """The rows of `select` that meet one of `conditions`, as dicts; none, and no query, without conditions."""
    if not conditions:
        return []
    where, params = " OR ".join(sql for sql, _ in conditions), [value for _, values in conditions for value in values]
    return select_dicts(f"{select} WHERE {where}", params, source=source)
