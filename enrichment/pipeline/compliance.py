"""Withholds what the suppression list forbids returning; used by jobs and single-record endpoints alike."""

from enrichment.pipeline.rows import COMPLIANCE_RESTRICTED, WorkRow
from sources.compliance import suppressed
from sources.models import Suppression
from sources.normalize import email_domain, normalize_domain, normalize_email, normalize_linkedin_url


def _filled(row: WorkRow, name: str) -> str:
    fill = row.fills.get(name)
    return fill.value if fill else ""


def _revealed(row: WorkRow) -> set[tuple[str, str]]:
    """The (kind, normalized value) pairs a row or contact would reveal: the email, LinkedIn URL and
    domain it was asked about, its matched person's and its filled ones, the emails' domains and the
    company's domain.

    What the client sent counts: a row about a suppressed person gets nothing found by other keys either.
    """
    person, company, keys = row.person or {}, row.company or {}, row.keys
    emails = {normalize_email(value) for value in (
        keys.email, person.get("email_norm"), person.get("contact_email"), _filled(row, "contact_email"))} - {""}
    linkedins = {normalize_linkedin_url(value) for value in (
        keys.linkedin, person.get("linkedin_norm"), person.get("contact_linkedin_url"),
        _filled(row, "contact_linkedin_url"))} - {""}
    domains = {email_domain(email) for email in emails} | {normalize_domain(value) for value in (
        keys.domain, person.get("company_domain_norm"), company.get("domain_norm"), company.get("company_website"),
        _filled(row, "company_website"))}
    return ({(Suppression.Kind.EMAIL.value, email) for email in emails}
            | {(Suppression.Kind.LINKEDIN.value, linkedin) for linkedin in linkedins}
            | {(Suppression.Kind.DOMAIN.value, domain) for domain in domains - {""}})


def apply_compliance(rows: list[WorkRow]) -> list[WorkRow]:
    """Withholds every row, and drops every expanded contact, that would reveal a suppressed person or
    domain; one query for all the rows. Returns the rows withheld (flagged `compliance_restricted`).

    A withheld row is refunded at reconciliation; a dropped contact is simply not returned, so not charged.
    """
    pending = [row for row in rows if not row.withheld]
    revealed = {id(target): _revealed(target) for row in pending for target in (row, *row.contacts)}
    values = set().union(*revealed.values())
    hits = suppressed(
        emails=[value for kind, value in values if kind == Suppression.Kind.EMAIL],
        linkedins=[value for kind, value in values if kind == Suppression.Kind.LINKEDIN],
        domains=[value for kind, value in values if kind == Suppression.Kind.DOMAIN],
    )
    if not hits:
        return []
    withheld = []
    for row in pending:
        if revealed[id(row)] & hits:
            row.withhold(COMPLIANCE_RESTRICTED)
            withheld.append(row)
        else:
            row.contacts = [contact for contact in row.contacts if not revealed[id(contact)] & hits]
    return withheld
