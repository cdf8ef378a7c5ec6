"""Scraped LinkedIn profile snapshots: batch lookup, and the "works elsewhere" comparison.

The table keeps one snapshot per profile, the newest (`sources.loading.snapshots` imports them).
"""

from sources.matching import is_match, score_company
from sources.models import LinkedInSnapshot
from sources.sql import any_of, select_meeting_any

SOURCE = "scraped_linkedin"
TEXT_COLUMNS = ("contact_linkedin_url", "first_name", "last_name", "job_title", "company_name", "company_website",
                "location")
SNAPSHOT_COLUMNS = ("linkedin_norm", *TEXT_COLUMNS, "first_norm", "last_norm", "company_name_norm",
                    "company_domain_norm", "scraped_at")


def snapshots_by_linkedin(linkedins) -> dict[str, dict]:
    """The stored snapshot of each normalized LinkedIn URL that has one, in one query."""
    linkedins = sorted({linkedin for linkedin in linkedins if linkedin})
    if not linkedins:
        return {}
    found = select_meeting_any(f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM {LinkedInSnapshot._meta.db_table}",
                               [any_of("linkedin_norm", linkedins)], source=SOURCE)
    return {snapshot["linkedin_norm"]: snapshot for snapshot in found}


def person_from_snapshot(snapshot: dict) -> dict:
    """A matched person known only from a snapshot.

    It has no DataCore record, hence no last_seen_at and no employer of its own on file: the
    still-in-company check then compares the snapshot with the company the client gave.
    """
    return {
        "id": None, "first_name": snapshot["first_name"], "last_name": snapshot["last_name"],
        "first_norm": snapshot["first_norm"], "last_norm": snapshot["last_norm"],
        "linkedin_norm": snapshot["linkedin_norm"], "contact_linkedin_url": snapshot["contact_linkedin_url"],
        "job_title": snapshot["job_title"], "company_name_norm": "", "company_domain_norm": "",
        "opted_out": False, "last_seen_at": None,
    }


def _same_employer(name: str, domain: str, other_name: str, other_domain: str) -> bool:
    if domain and domain == other_domain:
        return True
    if not name or not other_name:
        return False
    if is_match(score_company({"name_norm": name}, {"name_norm": other_name})):
        return True
    # Profiles show a brand where DataCore has the entity ("Acme" at "Acme Labs"): one name within the
    # other is not evidence of a move, and a wrong "left" withholds a good answer.
    words, other_words = set(name.split()), set(other_name.split())
    return words <= other_words or other_words <= words


def works_elsewhere(snapshot: dict, *, employers: list[tuple[str, str]]) -> bool:
    """Whether the snapshot's company is none of `employers` ((company name norm, domain norm) pairs).

    Only employers sharing a kind of key with the snapshot are compared; with none, nothing says
    the person moved.
    """
    name, domain = snapshot["company_name_norm"], snapshot["company_domain_norm"]
    comparable = [(other_name, other_domain) for other_name, other_domain in employers
                  if (name and other_name) or (domain and other_domain)]
    if not comparable:
        return False
    return not any(_same_employer(name, domain, other_name, other_domain) for other_name, other_domain in comparable)
