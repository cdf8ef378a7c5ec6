"""The suppression list: people (email, LinkedIn URL) and domains no endpoint or job may return."""

from sources.models import Suppression
from sources.normalize import normalize_domain, normalize_email, normalize_linkedin_url
from sources.sql import all_of, any_of, select_meeting_any

SOURCE = "suppression_list"

NORMALIZERS = {
    Suppression.Kind.EMAIL: normalize_email,
    Suppression.Kind.LINKEDIN: normalize_linkedin_url,
    Suppression.Kind.DOMAIN: normalize_domain,
}


def suppression_value_normalized(*, kind: str, value: str) -> str:
    """The stored form of a suppressed value; "" when it is not a usable value of its kind."""
    return NORMALIZERS[kind](value)


def suppressed(*, emails=(), linkedins=(), domains=()) -> set[tuple[str, str]]:
    """The given values that are on the suppression list, as normalized (kind, value) pairs; one query.

    Values may be raw (a URL, "Jane@Acme.com"): each is normalized as the list stores it.
    """
    wanted = {
        kind: {NORMALIZERS[kind](value) for value in values} - {""}
        for kind, values in ((Suppression.Kind.EMAIL, emails), (Suppression.Kind.LINKEDIN, linkedins),
                             (Suppression.Kind.DOMAIN, domains))
    }
    conditions = [all_of(("kind = %s", [kind]), any_of("value", values)) for kind, values in wanted.items() if values]
    rows = select_meeting_any(f"SELECT kind, value FROM {Suppression._meta.db_table}", conditions, source=SOURCE)
    return {(row["kind"], row["value"]) for row in rows}
