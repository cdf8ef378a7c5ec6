"""The row stages of the pipeline, in the seed's order. Adding a contact source is one `ContactSource`
(`sources.contacts`) and one `ContactSourceStage` in ROW_STAGES."""

from django.conf import settings

from enrichment.models import JobStatus
from enrichment.pipeline.pro import ProEnrichmentStage
from enrichment.pipeline.rows import (
    COMPLIANCE_RESTRICTED,
    LEFT_COMPANY,
    NAME_MISMATCH,
    WorkRow,
    fields_of,
    query_of,
)
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.pipeline.stage import Stage, StageResult, rows_missing
from sources import bigquery, datacore, snapshots
from sources.bigquery import BigQueryContacts
from sources.company_search import company_search_backend
from sources.contacts import BatchKeys, Candidate, ContactSource
from sources.datacore import DataCoreContacts
from sources.email_validation import EmailStatus, EmailVerdict, email_validator_backend
from sources.fields import PHONE_FIELDS
from sources.matching import MATCH_THRESHOLD, is_match, names_agree, pick_best, score_company, score_person
from sources.snowflake import SnowflakeContacts

CONTACT_JOBS_ONLY = "contact jobs only"


def apply_person_match(spec: EnrichmentSpec, row: WorkRow, person: dict, company: dict | None, *, source: str,
                       confidence: int, evidence=()) -> int:
    """Fills the requested contact fields from a person and account fields from their company."""
    if person.get("opted_out") or (company and company.get("opted_out")):
        row.person = person
        row.withhold(COMPLIANCE_RESTRICTED)
        return 0
    row.person, row.confidence, row.evidence = person, max(row.confidence, confidence), tuple(evidence)
    return _fill_from_person(spec, row, person, company, source=source)


def _fill_from_person(spec: EnrichmentSpec, row: WorkRow, person: dict, company: dict | None, *, source: str) -> int:
    contact_fields, account_fields = fields_of(spec)
    filled = row.fill_from(person, contact_fields, source=source, seen_at=person.get("last_seen_at"))
    if company:
        row.company = row.company or company
        filled += row.fill_from(company, account_fields, source=source, seen_at=company.get("last_seen_at"))
    return filled


def _person_keys(email, linkedin, first, last, domain, company) -> list[tuple]:
    """The keys a person is found by: email, LinkedIn URL, last or first name at a domain or company name.

    The first-name keys let a mistyped last name reach the scorer, which tolerates the typo only when
    the company agrees.
    """
    keys = (("e", email), ("l", linkedin), ("d", last, domain), ("c", last, company),
            ("fd", first, domain), ("fc", first, company))
    return [key for key in keys if all(key[1:])]


def match_people(spec: EnrichmentSpec, rows: list[WorkRow], candidates: list[Candidate], *, source: str) -> int:
    """Picks each row's person among a batch's (person, company) candidates sharing one of its keys, and fills
    from them; rows filled. A row an earlier source matched only takes values from the same person."""
    by_key: dict[tuple, list] = {}
    for person, company in candidates:
        for key in _person_keys(person["email_norm"], person["linkedin_norm"], person.get("first_norm", ""),
                                person["last_norm"], person["company_domain_norm"], person["company_name_norm"]):
            by_key.setdefault(key, []).append((person, company))
    filled_rows = 0
    for row in rows:
        k = row.keys
        seen, options = set(), []
        for key in _person_keys(k.email, k.linkedin, k.first, k.last, k.domain, k.company):
            for person, company in by_key.get(key, ()):
                if person["id"] not in seen:
                    seen.add(person["id"])
                    options.append((person, company))
        best, score = pick_best(query_of(row), options)
        if best is None:
            continue
        person, company = options[best]
        if row.person is None:
            filled = apply_person_match(spec, row, person, company, source=source, confidence=score.confidence,
                                        evidence=score.evidence)
        elif is_match(score_person(row.person, person, candidate_company=company)):
            filled = _fill_from_same_person(spec, row, person, company, source=source)
        else:
            continue
        filled_rows += bool(filled)
    return filled_rows


def _fill_from_same_person(spec: EnrichmentSpec, row: WorkRow, person: dict, company: dict | None, *,
                           source: str) -> int:
    """What another source knows of the row's matched person; an opt-out there withholds the row too."""
    if person.get("opted_out") or (company and company.get("opted_out")):
        row.withhold(COMPLIANCE_RESTRICTED)
        return 0
    return _fill_from_person(spec, row, person, company, source=source)


def match_company(spec: EnrichmentSpec, row: WorkRow, options: list[dict], *, source: str) -> bool:
    """Matches the row to its best-scoring company among `options` when that score clears the threshold."""
    scored = [(score_company(query_of(row), company), company) for company in options]
    if not scored:
        return False
    score, company = max(scored, key=lambda pair: pair[0].confidence)
    if score.confidence < MATCH_THRESHOLD:
        return False
    apply_company_match(spec, row, company, source=source, confidence=score.confidence)
    return True


def apply_company_match(spec: EnrichmentSpec, row: WorkRow, company: dict, *, source: str, confidence: int) -> int:
    if company.get("opted_out"):
        row.withhold(COMPLIANCE_RESTRICTED)
        return 0
    row.company, row.confidence = company, max(row.confidence, confidence)
    _, account_fields = fields_of(spec)
    return row.fill_from(company, account_fields, source=source, seen_at=company.get("last_seen_at"))


class ContactSourceStage(Stage):
    """Fills what earlier sources lacked from one contact source, in one lookup per batch."""

    def __init__(self, source: ContactSource, status: str, *, name: str = ""):
        self.source, self.status, self.name = source, status, name or source.name

    def skip_reason(self, spec):
        if spec.type != "contact":
            return CONTACT_JOBS_ONLY
        return self.source.unconfigured_reason() or None

    def run(self, spec, rows):
        pending = rows_missing(spec, rows)
        candidates = self.source.contacts_for(BatchKeys(tuple(row.keys for row in pending)))
        return StageResult(match_people(spec, pending, candidates, source=self.source.name), self.source.name)


class DataCoreAccountStage(Stage):
    """Account rows by their exact domain or normalized name in DataCore's companies."""

    status = JobStatus.DATACORE
    # The stage log has one DataCore entry whatever the job's type.
    name = "datacore"

    def skip_reason(self, spec):
        return "account jobs only" if spec.type != "account" else None

    def run(self, spec, rows):
        rows = rows_missing(spec, rows)
        keys = BatchKeys(tuple(row.keys for row in rows))
        companies = datacore.companies_for_keys(domains=keys.domains, names=keys.company_names)
        by_domain = {c["domain_norm"]: c for c in companies if c["domain_norm"]}
        by_name: dict[str, list[dict]] = {}
        for company in companies:
            by_name.setdefault(company["name_norm"], []).append(company)
        filled_rows = 0
        for row in rows:
            options = [by_domain[row.keys.domain]] if row.keys.domain in by_domain else []
            options += [c for c in by_name.get(row.keys.company, []) if c not in options]
            filled_rows += match_company(spec, row, options, source=datacore.SOURCE)
        return StageResult(filled_rows, datacore.SOURCE)


SNAPSHOT_FIELDS = ("first_name", "last_name", "job_title", "contact_linkedin_url", "company_name", "company_website")


def _linkedin_of(row: WorkRow) -> str:
    """The profile a row is about: its matched person's, else the one the client gave."""
    return (row.person or {}).get("linkedin_norm") or row.keys.linkedin


def _snapshots_of(rows: list[WorkRow]) -> dict[str, dict]:
    """The stored snapshot of each row's profile, by profile: one query for the profiles no stage has
    looked up yet (the snapshot stage fetches the matched rows' too, for the still-in-company check)."""
    wanted = [row for row in rows if row.snapshot_lookup is None or row.snapshot_lookup[0] != _linkedin_of(row)]
    fetched = snapshots.snapshots_by_linkedin(_linkedin_of(row) for row in wanted)
    for row in wanted:
        linkedin = _linkedin_of(row)
        row.snapshot_lookup = (linkedin, fetched.get(linkedin))
    return dict(row.snapshot_lookup for row in rows if row.snapshot_lookup[1] is not None)


def _snapshot_is_of(row: WorkRow, snapshot: dict) -> bool:
    """A profile URL can be recycled or mistyped: the snapshot must name the same person as the row."""
    person = row.person or {}
    return (names_agree(row.record.get("first_name"), row.record.get("last_name"),
                        snapshot["first_name"], snapshot["last_name"])
            and names_agree(person.get("first_name"), person.get("last_name"),
                            snapshot["first_name"], snapshot["last_name"]))


def _employers_of(row: WorkRow) -> list[tuple[str, str]]:
    """(company name, domain) keys of where the row places the person: matched company, DataCore record, input."""
    person, company = row.person or {}, row.company or {}
    return [(company.get("name_norm", ""), company.get("domain_norm", "")),
            (person.get("company_name_norm", ""), person.get("company_domain_norm", "")),
            (row.keys.company, row.keys.domain)]


class ScrapedSnapshotStage(Stage):
    """Fills what DataCore lacked from the scraped LinkedIn snapshot of the row's profile."""

    status = JobStatus.SCRAPED
    name = "scraped_snapshots"

    def skip_reason(self, spec):
        return CONTACT_JOBS_ONLY if spec.type != "contact" else None

    def run(self, spec, rows):
        pending = [row for row in rows_missing(spec, rows) if _linkedin_of(row)]
        found = _snapshots_of([*pending, *_still_in_company_candidates(rows)])
        requested = [name for name in SNAPSHOT_FIELDS if name in spec.fields_to_enrich]
        filled_rows = 0
        for row in pending:
            snapshot = found.get(_linkedin_of(row))
            if snapshot is None or not _snapshot_is_of(row, snapshot):
                continue
            if row.person is None:
                score = score_person(query_of(row), snapshot)
                row.person, row.confidence, row.evidence = (snapshots.person_from_snapshot(snapshot),
                                                            score.confidence, score.evidence)
            filled_rows += bool(row.fill_from(snapshot, requested, source=snapshots.SOURCE,
                                              seen_at=snapshot["scraped_at"]))
        return StageResult(filled_rows, snapshots.SOURCE)


class CompanyNameSearchStage(Stage):
    """Fuzzy company-name lookup for accounts no exact key found (Meilisearch, or pg_trgm by default)."""

    status = JobStatus.MEILISEARCH
    name = "company_search"

    def skip_reason(self, spec):
        return "account jobs only" if spec.type != "account" else None

    def run(self, spec, rows):
        backend = company_search_backend()
        pending = [row for row in rows_missing(spec, rows) if row.company is None and row.keys.company]
        hits = backend.search_many([row.keys.company for row in pending])
        filled_rows = 0
        for row in pending:
            options = [company for company, _ in hits.get(row.keys.company, [])]
            filled_rows += match_company(spec, row, options, source=backend.source)
        return StageResult(filled_rows, backend.source, backend.note)


class ContactsPerAccountStage(Stage):
    """Expands each matched account into up to `criteria.limit` contacts that satisfy the criteria."""

    status = JobStatus.DATACORE
    name = "contacts_per_account"

    def skip_reason(self, spec):
        return "account jobs with criteria.limit only" if spec.type != "account" or not spec.criteria_limit else None

    def run(self, spec, rows):
        criteria = spec.criteria
        matched = [row for row in rows if row.company is not None and not row.withheld and not row.contacts]
        people = datacore.contacts_for_companies(
            [row.company["id"] for row in matched], limit=criteria["limit"],
            job_levels=criteria.get("job_level", ()), job_functions=criteria.get("job_function", ()),
            keywords=criteria.get("keyword", ()),
        )
        contact_fields, _ = fields_of(spec)
        filled_rows = 0
        for row in matched:
            for person in people.get(row.company["id"], []):
                contact = WorkRow(position=row.position, row_uid=row.row_uid, record={}, keys=row.keys,
                                  fresh_since=row.fresh_since)
                contact.person = person
                contact.fill_from(person, contact_fields, source=datacore.SOURCE, seen_at=person.get("last_seen_at"))
                row.contacts.append(contact)
            filled_rows += bool(row.contacts)
        return StageResult(filled_rows, datacore.SOURCE)


def email_delivered(spec: EnrichmentSpec, verdict: EmailVerdict) -> bool:
    """Whether an email with this verdict is delivered: the validator accepts it, and, at a catch-all
    domain, the job accepts catch-all emails."""
    return verdict.accepted and (verdict.status is not EmailStatus.CATCH_ALL or spec.accept_catch_all)


def email_drop_note(verdict: EmailVerdict) -> str:
    if verdict.accepted:
        return f"dropped: {verdict.reason}, and accept_catch_all is false"
    return f"dropped: {verdict.reason}"


def _email_checked_by(row: WorkRow, validator) -> bool:
    """The Pro stage already checked the row's email with this validator (a guess, a stale email re-verified)."""
    return row.email_verdict is not None and row.email_verdict.source == validator.source


class EmailValidationStage(Stage):
    """Gives every email found its status; drops the undeliverable ones, and catch-all ones when the job
    refuses them. Their rows' email charges are reversed at reconciliation."""

    status = JobStatus.EMAIL_VALIDATION
    name = "email_validation"

    def skip_reason(self, spec):
        return "contact_email not requested" if "contact_email" not in spec.fields_to_enrich else None

    def sends_rows_out(self, spec):
        return spec.level == "pro" and bool(settings.ZEROBOUNCE_API_KEY)

    def run(self, spec, rows):
        validator = email_validator_backend(spec=spec)
        targets = [row for row in rows if "contact_email" in row.fills] + [
            contact for row in rows for contact in row.contacts if "contact_email" in contact.fills]
        verdicts = validator.validate_many([target.fills["contact_email"].value for target in targets
                                            if not _email_checked_by(target, validator)])
        undeliverable = refused = 0
        for target in targets:
            email = target.fills["contact_email"].value
            verdict = target.email_verdict if _email_checked_by(target, validator) else verdicts.get(email)
            if verdict is None:
                continue
            target.email_verdict = verdict
            if not email_delivered(spec, verdict):
                del target.fills["contact_email"]
                target.notes["contact_email"] = email_drop_note(verdict)
                undeliverable += not verdict.accepted
                refused += verdict.accepted
        detail = f"{undeliverable} undeliverable dropped" + (f", {refused} catch-all refused" if refused else "")
        return StageResult(len(targets) - undeliverable - refused, validator.source, detail)


def _phone_fields(spec: EnrichmentSpec) -> list[str]:
    return [name for name in PHONE_FIELDS if name in spec.fields_to_enrich]


def _phone_lookup_keys(row: WorkRow) -> list[tuple[str, str]]:
    """The person keys a row's phones are found by: its input email and LinkedIn URL, its matched person's."""
    person = row.person or {}
    keys = [("e", row.keys.email), ("l", row.keys.linkedin), ("e", person.get("email_norm")),
            ("l", person.get("linkedin_norm")), ("k", bigquery.person_key(person) if person else "")]
    return list(dict.fromkeys(key for key in keys if key[1]))


class BigQueryPhoneStage(Stage):
    """Mobile and direct phones from the BigQuery phone table, for rows whose person is known by a key."""

    status = JobStatus.PHONE_LOOKUP
    name = "bigquery_phones"

    def skip_reason(self, spec):
        if not _phone_fields(spec):
            return "no phone field requested"
        return bigquery.unconfigured_reason() or None

    def run(self, spec, rows):
        requested = _phone_fields(spec)
        pending = [(row, keys) for row in rows
                   if not row.withheld and row.missing(requested) and (keys := _phone_lookup_keys(row))]
        wanted = {kind: {value for _, keys in pending for key_kind, value in keys if key_kind == kind}
                  for kind in ("e", "l", "k")}
        phones = bigquery.phones_for_keys(emails=wanted["e"], linkedins=wanted["l"], person_keys=wanted["k"])
        by_key: dict[tuple, list[dict]] = {}
        for phone in phones:
            for key in (("e", phone["email_norm"]), ("l", phone["linkedin_norm"]), ("k", phone["person_key"])):
                if key[1]:
                    by_key.setdefault(key, []).append(phone)
        filled_rows = 0
        for row, keys in pending:
            options = list({phone["person_key"]: phone for key in keys for phone in by_key.get(key, ())}.values())
            # The matched person, else the input, must be the phone's person: a recycled address is not enough.
            best, score = pick_best(row.person or query_of(row), [(phone, None) for phone in options])
            if best is None:
                continue
            phone = options[best]
            if row.person is None:
                row.person, row.confidence, row.evidence = ({**phone, "id": phone["person_key"]},
                                                            score.confidence, score.evidence)
            filled_rows += bool(row.fill_from(phone, requested, source=bigquery.SOURCE, seen_at=phone["last_seen_at"]))
        return StageResult(filled_rows, bigquery.SOURCE)


class NameMatchStage(Stage):
    """Rejects answers whose person does not match the input's name (nickname-aware, typo-tolerant)."""

    status = JobStatus.NAME_MATCH
    name = "name_match"

    def skip_reason(self, spec):
        return _verification_skip_reason(spec)

    def run(self, spec, rows):
        rejected = 0
        for row in rows:
            if row.person is None or row.withheld:
                continue
            if not names_agree(row.record.get("first_name"), row.record.get("last_name"),
                               row.person.get("first_name"), row.person.get("last_name")):
                row.withhold(NAME_MISMATCH)
                rejected += 1
        return StageResult(0, "", f"{rejected} rejected")


def _verification_skip_reason(spec: EnrichmentSpec) -> str | None:
    """Matches are verified for contact jobs at Standard and Pro; Quick takes them as found."""
    return None if spec.type == "contact" and spec.level in ("standard", "pro") else "contact jobs at Standard or Pro only"


def _still_in_company_candidates(rows: list[WorkRow]) -> list[WorkRow]:
    return [row for row in rows if row.person is not None and not row.withheld and _linkedin_of(row)]


class StillInCompanyStage(Stage):
    """Withholds matched people whose LinkedIn profile, scraped after DataCore last saw them, shows another employer."""

    status = JobStatus.STILL_IN_COMPANY
    name = "still_in_company"

    def skip_reason(self, spec):
        return _verification_skip_reason(spec)

    def run(self, spec, rows):
        matched = _still_in_company_candidates(rows)
        found = _snapshots_of(matched)
        left = 0
        for row in matched:
            snapshot = found.get(_linkedin_of(row))
            last_seen_at = row.person.get("last_seen_at")
            if (snapshot is None or (last_seen_at is not None and snapshot["scraped_at"] <= last_seen_at)
                    or not _snapshot_is_of(row, snapshot)):
                continue
            if snapshots.works_elsewhere(snapshot, employers=_employers_of(row)):
                row.withhold(LEFT_COMPANY)
                new_company = snapshot["company_name"] or snapshot["company_website"]
                row.notes[LEFT_COMPANY] = f"{new_company} since {snapshot['scraped_at']:%Y-%m-%d}"
                left += 1
        return StageResult(0, snapshots.SOURCE, f"{left} left their company")


ROW_STAGES: list[Stage] = [
    ContactSourceStage(DataCoreContacts(), JobStatus.DATACORE),
    DataCoreAccountStage(),
    # The seed lists Snowflake right after DataCore among contact sources and gives it no lifecycle
    # step of its own, so it runs within "DataCore Lookup".
    ContactSourceStage(SnowflakeContacts(), JobStatus.DATACORE),
    ScrapedSnapshotStage(),
    ContactSourceStage(BigQueryContacts(), JobStatus.BIGQUERY, name="bigquery_contacts"),
    CompanyNameSearchStage(),
    ContactsPerAccountStage(),
    ProEnrichmentStage(),
    EmailValidationStage(),
    BigQueryPhoneStage(),
    NameMatchStage(),
    StillInCompanyStage(),
]
