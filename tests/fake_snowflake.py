"""A configured Snowflake whose contact table holds given people, on fakesnow's DuckDB-backed fake.

Every connection the connector opens inside `snowflake_holding` goes to the fake, through the real
connector code path.
"""

from contextlib import closing, contextmanager

from sources import snowflake
from sources.bigquery import CONTACT_COLUMNS
from sources.loading.bigquery import contact_record

SNOWFLAKE_SETTINGS = {"SNOWFLAKE_ACCOUNT": "ecore-test", "SNOWFLAKE_USER": "ecore", "SNOWFLAKE_PASSWORD": "secret",
                      "SNOWFLAKE_WAREHOUSE": "ENRICH_WH", "SNOWFLAKE_DATABASE": "ECORE",
                      "SNOWFLAKE_SCHEMA": "REFERENCE", "SNOWFLAKE_TABLE": "CONTACTS"}
_TYPES = {"opted_out": "BOOLEAN", "last_seen_at": "TIMESTAMP_TZ"}


def snowflake_configure(settings) -> None:
    for name, value in SNOWFLAKE_SETTINGS.items():
        setattr(settings, name, value)


@contextmanager
def snowflake_holding(settings, people: list[dict]):
    """`people` are people-file rows (seed field names), as the BigQuery contacts table takes them."""
    import fakesnow

    snowflake_configure(settings)
    with fakesnow.patch(), closing(snowflake.connect()) as connection, closing(connection.cursor()) as cursor:
        columns = ", ".join(f"{name} {_TYPES.get(name, 'VARCHAR')}" for name in CONTACT_COLUMNS)
        cursor.execute(f"CREATE TABLE CONTACTS ({columns})")
        cursor.executemany(
            f"INSERT INTO CONTACTS ({', '.join(CONTACT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(CONTACT_COLUMNS))})",
            [[record[name] for name in CONTACT_COLUMNS] for record in map(contact_record, people)])
        yield
