"""Pro Enrichment: the paid providers, then email patterns, for rows still missing requested fields.

In order, for one batch: Serper finds LinkedIn profiles and company websites; Netnut reads the profiles
(job title, names) and confirms they are the input's person; AnyMailFinder finds emails; DataCore's
email patterns guess the rest, and a guess is kept only when validation accepts it. Providers without a
batch API are called per row on a small bounded pool; any of them down, slow or over budget leaves a
note on the row (`row.notes["serper"]`) and the row goes on.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from enrichment.models import JobStatus
from enrichment.pipeline.rows import QUERY_FIELDS, WorkRow
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.pipeline.stage import Stage, StageResult, rows_missing
from sources import email_patterns
from sources.email_validation import email_validator_backend
from sources.matching import MATCH_THRESHOLD, names_agree, score_person
from sources.providers import ProProviders, ProviderUnavailable, pro_providers
from sources.providers.anymailfinder import AnymailfinderClient
from sources.providers.netnut import LinkedInProfile, NetnutClient
from sources.providers.serper import (
    SOURCE as SERPER,
)
from sources.providers.serper import (
    SerperClient,
    company_website_query,
    linkedin_profile_query,
    profile_from_results,
    website_from_results,
)

PROFILE_FIELDS = ("job_title", "first_name", "last_name")


@dataclass
class Lead:
    """What the providers learned about one row during the stage."""

    row: WorkRow
    linkedin_url: str = ""
    linkedin_found_by_search: bool = False
    search_mentions_company: bool = False
    domain: str = ""

    @property
    def record(self) -> dict:
        return self.row.record

    def text(self, name: str) -> str:
        return str(self.record.get(name) or "").strip()

    @property
    def first_name(self) -> str:
        return self.text("first_name") or (self.row.person or {}).get("first_name", "")

    @property
    def last_name(self) -> str:
        return self.text("last_name") or (self.row.person or {}).get("last_name", "")

    @property
    def company_name(self) -> str:
        return self.text("company_name") or (self.row.company or {}).get("company_name", "")

    def take(self, name: str, value, *, source: str) -> bool:
        """A provider's answer (or a guess checked now): seen today, so fresh for any max_age_days."""
        return self.row.fill(name, value, source=source, seen_at=timezone.now())


def _requested_missing(spec: EnrichmentSpec, row: WorkRow, names) -> list[str]:
    return [name for name in names if name in spec.fields_to_enrich and name not in row.fills]


def _lead_for(row: WorkRow) -> Lead:
    person, company = row.person or {}, row.company or {}
    linkedin = str(row.record.get("contact_linkedin_url") or "").strip() if row.keys.linkedin else ""
    return Lead(row=row, linkedin_url=linkedin or person.get("contact_linkedin_url") or "",
                domain=row.keys.domain or company.get("domain_norm") or person.get("company_domain_norm") or "")


def _note(lead: Lead, source: str, reason: str) -> None:
    lead.row.notes.setdefault(source, reason)


# --- Serper -------------------------------------------------------------------------------------

def _wants_profile_search(spec, lead: Lead, *, can_read_profiles: bool) -> bool:
    if lead.linkedin_url or not (lead.first_name and lead.last_name and lead.company_name):
        return False
    return bool(_requested_missing(spec, lead.row, ["contact_linkedin_url"])
                or (can_read_profiles and _requested_missing(spec, lead.row, PROFILE_FIELDS)))


def _wants_domain_search(spec, lead: Lead) -> bool:
    return (not lead.domain and bool(lead.company_name) and bool(lead.first_name and lead.last_name)
            and bool(_requested_missing(spec, lead.row, ["contact_email", "company_website"])))


def _search_with_serper(spec, leads: list[Lead], serper: SerperClient, *, can_read_profiles: bool) -> None:
    profile_leads = [lead for lead in leads if _wants_profile_search(spec, lead, can_read_profiles=can_read_profiles)]
    companies = sorted({lead.company_name for lead in leads if _wants_domain_search(spec, lead)})
    queries = [linkedin_profile_query(first_name=lead.first_name, last_name=lead.last_name, company=lead.company_name)
               for lead in profile_leads] + [company_website_query(company) for company in companies]
    answers = serper.http.map_concurrently(serper.search, queries)
    for lead, answer in zip(profile_leads, answers[:len(profile_leads)], strict=True):
        if isinstance(answer, ProviderUnavailable):
            _note(lead, serper.source, answer.reason)
            continue
        hit = profile_from_results(answer, first_name=lead.first_name, last_name=lead.last_name,
                                   company_name=lead.company_name)
        if hit is not None:
            lead.linkedin_url, lead.linkedin_found_by_search = hit.url, True
            lead.search_mentions_company = hit.mentions_company
    websites = dict(zip(companies, answers[len(profile_leads):], strict=True))
    for lead in leads:
        answer = websites.get(lead.company_name) if _wants_domain_search(spec, lead) else None
        if isinstance(answer, ProviderUnavailable):
            _note(lead, serper.source, answer.reason)
        elif answer is not None and (domain := website_from_results(answer, company_name=lead.company_name)):
            lead.domain = domain
            lead.take("company_website", domain, source=serper.source)


def _accept_searched_profile_url(lead: Lead) -> None:
    """Without a profile read, a found URL counts when its title names the person and the company shows."""
    if lead.linkedin_found_by_search and lead.search_mentions_company:
        lead.take("contact_linkedin_url", lead.linkedin_url, source=SERPER)


# --- Netnut -------------------------------------------------------------------------------------

def _profile_match_confidence(lead: Lead, profile: LinkedInProfile) -> int:
    """0 when the profile is not the input's person; else how sure the match is."""
    if not names_agree(lead.first_name, lead.last_name, profile.first_name, profile.last_name):
        return 0
    query = {name: lead.text(name) for name in QUERY_FIELDS}
    if lead.linkedin_found_by_search:
        # The search found this URL: name and company must agree on their own.
        query["contact_linkedin_url"] = ""
    query["company_name"] = lead.company_name
    score = score_person(query, profile.as_person())
    return score.confidence if score.confidence >= MATCH_THRESHOLD else 0


def _read_profiles(spec, leads: list[Lead], netnut: NetnutClient) -> None:
    readers = [lead for lead in leads if lead.linkedin_url and (
        _requested_missing(spec, lead.row, PROFILE_FIELDS)
        or (lead.linkedin_found_by_search and _requested_missing(spec, lead.row, ["contact_linkedin_url"])))]
    profiles = netnut.http.map_concurrently(netnut.fetch_profile, [lead.linkedin_url for lead in readers])
    for lead, profile in zip(readers, profiles, strict=True):
        if profile is None or isinstance(profile, ProviderUnavailable):
            reason = "no readable profile at the URL" if profile is None else profile.reason
            _note(lead, netnut.source, reason)
            _accept_searched_profile_url(lead)
            continue
        confidence = _profile_match_confidence(lead, profile)
        if not confidence:
            _note(lead, netnut.source, f"profile of {profile.first_name} {profile.last_name} "
                                       f"({profile.company_name or 'no company'}) is not the input's person")
            continue
        person = profile.as_person()
        if lead.row.person is None:
            lead.row.person, lead.row.confidence = person, max(lead.row.confidence, confidence)
        if lead.linkedin_found_by_search:
            lead.take("contact_linkedin_url", lead.linkedin_url, source=SERPER)
        for name in _requested_missing(spec, lead.row, PROFILE_FIELDS):
            lead.take(name, person[name], source=netnut.source)


# --- emails -------------------------------------------------------------------------------------

def _wants_email(spec, lead: Lead) -> bool:
    return (not lead.row.withheld and bool(_requested_missing(spec, lead.row, ["contact_email"]))
            and bool(lead.first_name and lead.last_name))


def _find_emails(spec, leads: list[Lead], finder: AnymailfinderClient) -> None:
    seekers = [lead for lead in leads if _wants_email(spec, lead) and (lead.domain or lead.company_name)]
    answers = finder.http.map_concurrently(
        lambda lead: finder.find_person_email(first_name=lead.first_name, last_name=lead.last_name,
                                              domain=lead.domain, company_name=lead.company_name), seekers)
    for lead, found in zip(seekers, answers, strict=True):
        if isinstance(found, ProviderUnavailable):
            _note(lead, finder.source, found.reason)
        elif found is not None and found.verified:
            lead.take("contact_email", found.email, source=finder.source)
        elif found is not None:
            _note(lead, finder.source, f"found {found.email} but it is {found.validation}, not verified")


def _guess_emails(spec, leads: list[Lead]) -> None:
    seekers = [lead for lead in leads if _wants_email(spec, lead) and lead.domain]
    patterns = email_patterns.patterns_for_domains(lead.domain for lead in seekers)
    candidates: list[tuple[Lead, str, int]] = []
    for lead in seekers:
        pattern = patterns.get(lead.domain)
        if pattern is None:
            _note(lead, email_patterns.SOURCE, f"no email pattern known at {lead.domain}")
            continue
        email = email_patterns.candidate_email(pattern, first=lead.first_name, last=lead.last_name)
        if email:
            candidates.append((lead, email, pattern.support))
    if not candidates:
        return
    verdicts = email_validator_backend(spec=spec).validate_many(
        [email for _, email, _ in candidates], guessed={email: support for _, email, support in candidates})
    for lead, email, _ in candidates:
        verdict = verdicts[email]
        if verdict.accepted:
            lead.take("contact_email", email, source=email_patterns.SOURCE)
            # Kept for the validation stage, which would not know the address is a guess.
            lead.row.email_verdict = verdict
        else:
            _note(lead, email_patterns.SOURCE, f"guessed {email}, not used: {verdict.reason}")


def stale_emails_reverify(rows: list[WorkRow], validator) -> int:
    """Delivers the stale emails (older than max_age_days) of rows without an email when a paid validator
    finds their mailbox today: seen today by that validator. The local checks vouch for a domain, never
    a mailbox, so without a paid validator a stale email stays withheld. Returns how many were confirmed."""
    stale = [row for row in rows if "contact_email" in row.stale and "contact_email" not in row.fills]
    if not stale or not validator.confirms_mailboxes:
        return 0
    verdicts = validator.validate_many([row.stale["contact_email"].value for row in stale])
    confirmed = 0
    for row in stale:
        old = row.stale["contact_email"]
        verdict = verdicts.get(old.value)
        if verdict is None or not verdict.mailbox_confirmed:
            continue
        row.fill("contact_email", old.value, source=verdict.source, seen_at=timezone.now())
        row.email_verdict = verdict
        last_seen = f"{old.seen_at:%Y-%m-%d}" if old.seen_at else "on an unknown date"
        row.notes["contact_email"] = f"re-verified: {old.source} last saw it {last_seen}"
        confirmed += 1
    return confirmed


# --- the stage ----------------------------------------------------------------------------------

def _detail(providers: ProProviders, filled_by: dict[str, int]) -> str:
    calls = ", ".join(f"{source} {count} calls" for source, count in providers.calls_made().items())
    unconfigured = providers.unconfigured()
    fills = ", ".join(f"{source} {count}" for source, count in filled_by.items())
    parts = [f"calls: {calls}" if calls else "", f"fields filled: {fills}" if fills else "",
             f"not configured: {', '.join(unconfigured)}" if unconfigured else ""]
    return "; ".join(part for part in parts if part)


class ProEnrichmentStage(Stage):
    """Paid providers, then email patterns, for Pro contact rows still missing requested fields."""

    status = JobStatus.PRO
    name = "pro"

    def skip_reason(self, spec):
        return "Pro contact jobs only" if spec.type != "contact" or spec.level != "pro" else None

    def sends_rows_out(self, spec):
        return True

    def run(self, spec, rows):
        return pro_enrich(spec, rows)


def pro_enrich(spec: EnrichmentSpec, rows: list[WorkRow]) -> StageResult:
    leads = [_lead_for(row) for row in rows_missing(spec, rows)]
    if not leads:
        return StageResult(0, "", "no row missing a requested field")
    before = {id(lead): len(lead.row.fills) for lead in leads}
    providers = pro_providers(job_id=spec.job_id, deadline=time.monotonic() + settings.PRO_STAGE_SECONDS_PER_BATCH)
    try:
        if providers.serper is not None:
            _search_with_serper(spec, leads, providers.serper, can_read_profiles=providers.netnut is not None)
        if providers.netnut is not None:
            _read_profiles(spec, leads, providers.netnut)
        else:
            for lead in leads:
                _accept_searched_profile_url(lead)
        if "contact_email" in spec.fields_to_enrich:
            # A known address confirmed today is better evidence than a new find or a guess.
            stale_emails_reverify([lead.row for lead in leads], email_validator_backend(spec=spec))
            if providers.anymailfinder is not None:
                _find_emails(spec, leads, providers.anymailfinder)
            _guess_emails(spec, leads)
    finally:
        providers.close()
    filled_by: dict[str, int] = {}
    for lead in leads:
        for fill in list(lead.row.fills.values())[before[id(lead)]:]:
            filled_by[fill.source] = filled_by.get(fill.source, 0) + 1
    rows_filled = sum(1 for lead in leads if len(lead.row.fills) > before[id(lead)])
    return StageResult(rows_filled, ",".join(filled_by), _detail(providers, filled_by))
