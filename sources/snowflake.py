"""The Snowflake contact table: one batch lookup per call, on snowflake-connector-python.

Off unless `SNOWFLAKE_ACCOUNT` is set; then `SNOWFLAKE_USER`, `SNOWFLAKE_PASSWORD`, `SNOWFLAKE_WAREHOUSE`,
`SNOWFLAKE_DATABASE`, `SNOWFLAKE_SCHEMA` and `SNOWFLAKE_TABLE` say where. The table has the columns of the
BigQuery contacts table (`sources.bigquery.CONTACT_COLUMNS`: the contact fields, company_name,
company_website, the `*_norm` keys computed with `sources.normalize`, opted_out, last_seen_at TIMESTAMP_TZ).
"""

import re
from contextlib import closing

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sources.bigquery import CONTACT_COLUMNS, candidate_from_row

SOURCE = "snowflake"
NOT_CONFIGURED = "Snowflake is not configured"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
LOGIN_TIMEOUT_SECONDS = 30
NETWORK_TIMEOUT_SECONDS = 60


def is_configured() -> bool:
    return bool(settings.SNOWFLAKE_ACCOUNT)


def connect():
    # Imported here: the connector takes seconds to import and Snowflake is off by default.
    import snowflake.connector

    return snowflake.connector.connect(
        account=settings.SNOWFLAKE_ACCOUNT, user=settings.SNOWFLAKE_USER, password=settings.SNOWFLAKE_PASSWORD,
        warehouse=settings.SNOWFLAKE_WAREHOUSE or None, database=settings.SNOWFLAKE_DATABASE or None,
        schema=settings.SNOWFLAKE_SCHEMA or None, login_timeout=LOGIN_TIMEOUT_SECONDS,
        network_timeout=NETWORK_TIMEOUT_SECONDS,
    )


def _table() -> str:
    """The table's qualified name; settings are checked, as an identifier cannot be a bound parameter."""
    parts = [settings.SNOWFLAKE_DATABASE, settings.SNOWFLAKE_SCHEMA, settings.SNOWFLAKE_TABLE]
    parts = [part for part in parts if part]
    if not parts or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ImproperlyConfigured(f"SNOWFLAKE_DATABASE/SCHEMA/TABLE must be plain identifiers, not {parts!r}")
    return ".".join(parts)


def contacts_for_keys(*, emails=(), linkedins=(), name_domain_keys=(), name_company_keys=()) -> list[tuple[dict, dict | None]]:
    """Every contact who could be one of the rows, in one query with bound values: by email, LinkedIn URL,
    or last name at a company ("<last_norm>|<company_domain_norm>", "<last_norm>|<company_name_norm>")."""
    conditions, params = [], []
    for expression, values in (("email_norm", emails), ("linkedin_norm", linkedins),
                               ("last_norm || '|' || company_domain_norm", name_domain_keys),
                               ("last_norm || '|' || company_name_norm", name_company_keys)):
        values = sorted(set(values))
        if values:
            conditions.append(f"{expression} IN ({', '.join(['%s'] * len(values))})")
            params.extend(values)
    if not conditions:
        return []
    sql = (f"SELECT {', '.join(CONTACT_COLUMNS)} FROM {_table()} WHERE {' OR '.join(conditions)} "
           "QUALIFY ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY last_seen_at DESC NULLS LAST) = 1")
    with closing(connect()) as connection, closing(connection.cursor()) as cursor:
        cursor.execute(sql, params)
        names = [column[0].lower() for column in cursor.description]
        rows = cursor.fetchall()
    return [candidate_from_row(dict(zip(names, values, strict=True))) for values in rows]
