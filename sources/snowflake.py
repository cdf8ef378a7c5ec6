"""The Snowflake contact table: one batch lookup per call, on snowflake-connector-python.

Off unless `SNOWFLAKE_ACCOUNT` is set; then `SNOWFLAKE_USER`, `SNOWFLAKE_PASSWORD`, `SNOWFLAKE_WAREHOUSE`,
`SNOWFLAKE_DATABASE`, `SNOWFLAKE_SCHEMA` and `SNOWFLAKE_TABLE` say where, and `SNOWFLAKE_HOST` (with
`SNOWFLAKE_PORT`, `SNOWFLAKE_PROTOCOL`) names an endpoint other than the account's own, such as a
PrivateLink host. The table has the columns of the
BigQuery contacts table (`sources.bigquery.CONTACT_COLUMNS`: the contact fields, company_name,
company_website, the `*_norm` keys computed with `sources.normalize`, opted_out, last_seen_at TIMESTAMP_TZ).
"""

import re
from contextlib import closing

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sources.bigquery import CONTACT_COLUMNS, candidate_from_row
from sources.contacts import BatchKeys, Candidate, SourceUnavailable

SOURCE = "snowflake"
NOT_CONFIGURED = "Snowflake is not configured"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def connect():
    # Imported here: the connector takes seconds to import and Snowflake is off by default.
    import snowflake.connector

    endpoint = ({"host": settings.SNOWFLAKE_HOST, "port": settings.SNOWFLAKE_PORT,
                 "protocol": settings.SNOWFLAKE_PROTOCOL} if settings.SNOWFLAKE_HOST else {})
    return snowflake.connector.connect(
        account=settings.SNOWFLAKE_ACCOUNT, user=settings.SNOWFLAKE_USER, password=settings.SNOWFLAKE_PASSWORD,
        warehouse=settings.SNOWFLAKE_WAREHOUSE or None, database=settings.SNOWFLAKE_DATABASE or None,
        schema=settings.SNOWFLAKE_SCHEMA or None, login_timeout=settings.SNOWFLAKE_LOGIN_TIMEOUT_SECONDS,
        network_timeout=settings.SNOWFLAKE_NETWORK_TIMEOUT_SECONDS, **endpoint,
    )


def _table() -> str:
    """The table's qualified name; settings are checked, as an identifier cannot be a bound parameter."""
    parts = [settings.SNOWFLAKE_DATABASE, settings.SNOWFLAKE_SCHEMA, settings.SNOWFLAKE_TABLE]
    parts = [part for part in parts if part]
    if not parts or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ImproperlyConfigured(f"SNOWFLAKE_DATABASE/SCHEMA/TABLE must be plain identifiers, not {parts!r}")
    return ".".join(parts)


class SnowflakeContacts:
    """The contact table, one query per batch with bound values."""

    name = SOURCE

    def unconfigured_reason(self) -> str:
        return "" if settings.SNOWFLAKE_ACCOUNT else NOT_CONFIGURED

    def contacts_for(self, keys: BatchKeys) -> list[Candidate]:
        """Every contact who could be one of the rows: by email, LinkedIn URL, or last name at a company."""
        conditions, params = [], []
        for expression, values in (("email_norm", keys.emails), ("linkedin_norm", keys.linkedins),
                                   ("last_norm || '|' || company_domain_norm", keys.name_domain_keys),
                                   ("last_norm || '|' || company_name_norm", keys.name_company_keys)):
            if values:
                conditions.append(f"{expression} IN ({', '.join(['%s'] * len(values))})")
                params.extend(sorted(values))
        if not conditions:
            return []
        sql = (f"SELECT {', '.join(CONTACT_COLUMNS)} FROM {_table()} WHERE {' OR '.join(conditions)} "
               "QUALIFY ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY last_seen_at DESC NULLS LAST) = 1")
        return [candidate_from_row(row) for row in _select(sql, params)]


def _select(sql: str, params: list[str]) -> list[dict]:
    # Imported here, as in connect().
    from snowflake.connector.errors import Error

    try:
        with closing(connect()) as connection, closing(connection.cursor()) as cursor:
            cursor.execute(sql, params)
            names = [column[0].lower() for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    except (Error, OSError) as error:
        raise SourceUnavailable(SOURCE, f"unavailable: {type(error).__name__}: {error}"[:300]) from error
