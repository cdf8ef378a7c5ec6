"""The row stages of the pipeline, in the seed's order. Adding a source touches its stage and ROW_STAGES."""

from django.conf import settings

from enrichment.models import JobStatus
from enrichment.pipeline.rows import (
    COMPLIANCE_RESTRICTED,
    LEFT_COMPANY,
    NAME_MISMATCH,
    WorkRow,
    fields_of_job,
)
from enrichment.pipeline.stage import Stage, StageResult, rows_missing
from sources import bigquery, datacore, snapshots, snowflake
from sources.fields import PHONE_FIELDS
from sources.matching import MATCH_THRESHOLD, is_match, names_agree, pick_best, score_company, score_person

QUERY_FIELDS = ("first_name", "last_name", "contact_email", "contact_linkedin_url", "company_name", "company_website")


def _query(row: WorkRow) -> dict:
    return {name: str(row.record.get(name) or "").strip() for name in QUERY_FIELDS}


def apply_person_match(job, row: WorkRow, person: dict, company: dict | None, *, source: str, confidence: int,
                       evidence=()) -> int:
    """Fills the requested contact fields from a person and account fields from their company."""
    if person.get("opted_out") or (company and company.get("opted_out")):
        row.person = person
        row.withhold(COMPLIANCE_RESTRICTED)
        return 0
    row.person, row.confidence, row.evidence = person, max(row.confidence, confidence), tuple(evidence)
    return _fill_from_person(job, row, person, company, source=source)


def _fill_from_person(job, row: WorkRow, person: dict, company: dict | None, *, source: str) -> int:
    contact_fields, account_fields = fields_of_job(job)
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


def contact_lookup_keys(rows: list[WorkRow]) -> dict[str, set[str]]:
    """A batch's keys for a contact table's `contacts_for_keys` (BigQuery, Snowflake)."""
    keys = [row.keys for row in rows]
    return {"emails": {k.email for k in keys if k.email}, "linkedins": {k.linkedin for k in keys if k.linkedin},
            "name_domain_keys": {f"{k.last}|{k.domain}" for k in keys if k.last and k.domain},
            "name_company_keys": {f"{k.last}|{k.company}" for k in keys if k.last and k.company}}


def match_people(job, rows: list[WorkRow], candidates, *, source: str) -> int:
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
        best, score = pick_best(_query(row), options)
        if best is None:
            continue
        person, company = options[best]
        if row.person is None:
            filled = apply_person_match(job, row, person, company, source=source, confidence=score.confidence,
                                        evidence=score.evidence)
        elif is_match(score_person(row.person, person, candidate_company=company)):
            filled = _fill_from_same_person(job, row, person, company, source=source)
        else:
            continue
        filled_rows += bool(filled)
    return filled_rows


def _fill_from_same_person(job, row: WorkRow, person: dict, company: dict | None, *, source: str) -> int:
    """What another source knows of the row's matched person; an opt-out there withholds the row too."""
    if person.get("opted_out") or (company and company.get("opted_out")):
        row.withhold(COMPLIANCE_RESTRICTED)
        return 0
    return _fill_from_person(job, row, person, company, source=source)


def match_company(job, row: WorkRow, options: list[dict], *, source: str) -> bool:
    """Matches the row to its best-scoring company among `options` when that score clears the threshold."""
    scored = [(score_company(_query(row), company), company) for company in options]
    if not scored:
        return False
    score, company = max(scored, key=lambda pair: pair[0].confidence)
    if score.confidence < MATCH_THRESHOLD:
        return False
    apply_company_match(job, row, company, source=source, confidence=score.confidence)
    return True


def apply_company_match(job, row: WorkRow, company: dict, *, source: str, confidence: int) -> int:
    if company.get("opted_out"):
        row.withhold(COMPLIANCE_RESTRICTED)
        return 0
    row.company, row.confidence = company, max(row.confidence, confidence)
    _, account_fields = fields_of_job(job)
    return row.fill_from(company, account_fields, source=source, seen_at=company.get("last_seen_at"))


class DataCoreStage(Stage):
    status = JobStatus.DATACORE
    name = "datacore"

    def run(self, job, rows):
        pending = rows_missing(job, rows)
        if job.type == "contact":
            return self._contacts(job, pending)
        return self._accounts(job, pending)

    def _contacts(self, job, rows):
        keys = [row.keys for row in rows]
        candidates = datacore.people_for_keys(
            emails={k.email for k in keys if k.email}, linkedins={k.linkedin for k in keys if k.linkedin},
            first_names={k.first for k in keys if k.first}, last_names={k.last for k in keys if k.last},
            domains={k.domain for k in keys if k.domain},
            company_names={k.company for k in keys if k.company},
        )
        return StageResult(match_people(job, rows, candidates, source=datacore.SOURCE), datacore.SOURCE)

    def _accounts(self, job, rows):
        companies = datacore.companies_for_keys(domains={row.keys.domain for row in rows if row.keys.domain},
                                                names={row.keys.company for row in rows if row.keys.company})
        by_domain = {c["domain_norm"]: c for c in companies if c["domain_norm"]}
        by_name: dict[str, list[dict]] = {}
        for company in companies:
            by_name.setdefault(company["name_norm"], []).append(company)
        filled_rows = 0
        for row in rows:
            options = [by_domain[row.keys.domain]] if row.keys.domain in by_domain else []
            options += [c for c in by_name.get(row.keys.company, []) if c not in options]
            filled_rows += match_company(job, row, options, source=datacore.SOURCE)
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

    def applies(self, job):
        return job.type == "contact"

    def skip_reason(self, job):
        return "contact jobs only"

    def run(self, job, rows):
        pending = [row for row in rows_missing(job, rows) if _linkedin_of(row)]
        found = _snapshots_of([*pending, *_still_in_company_candidates(rows)])
        requested = [name for name in SNAPSHOT_FIELDS if name in job.fields_to_enrich]
        filled_rows = 0
        for row in pending:
            snapshot = found.get(_linkedin_of(row))
            if snapshot is None or not _snapshot_is_of(row, snapshot):
                continue
            if row.person is None:
                score = score_person(_query(row), snapshot)
                row.person, row.confidence, row.evidence = (snapshots.person_from_snapshot(snapshot),
                                                            score.confidence, score.evidence)
            filled_rows += bool(row.fill_from(snapshot, requested, source=snapshots.SOURCE,
                                              seen_at=snapshot["scraped_at"]))
        return StageResult(filled_rows, snapshots.SOURCE)


class BigQueryContactStage(Stage):
    """Fills what earlier sources lacked from the BigQuery contact dataset."""

    status = JobStatus.BIGQUERY
    name = "bigquery_contacts"

    def applies(self, job):
        return job.type == "contact" and bigquery.is_configured()

    def skip_reason(self, job):
        return bigquery.NOT_CONFIGURED if job.type == "contact" else "contact jobs only"

    def run(self, job, rows):
        pending = rows_missing(job, rows)
        try:
            candidates = bigquery.contacts_for_keys(**contact_lookup_keys(pending))
        except bigquery.BigQueryUnavailable as error:
            return StageResult(0, bigquery.SOURCE, str(error))
        return StageResult(match_people(job, pending, candidates, source=bigquery.SOURCE), bigquery.SOURCE)


class SnowflakeContactStage(Stage):
    """Fills what DataCore lacked from the Snowflake contact table.

    The seed lists Snowflake right after DataCore among contact sources and gives it no lifecycle
    step of its own, so it runs within "DataCore Lookup".
    """

    status = JobStatus.DATACORE
    name = "snowflake"

    def applies(self, job):
        return job.type == "contact" and snowflake.is_configured()

    def skip_reason(self, job):
        return snowflake.NOT_CONFIGURED if job.type == "contact" else "contact jobs only"

    def run(self, job, rows):
        pending = rows_missing(job, rows)
        candidates = snowflake.contacts_for_keys(**contact_lookup_keys(pending))
        return StageResult(match_people(job, pending, candidates, source=snowflake.SOURCE), snowflake.SOURCE)


class CompanyNameSearchStage(Stage):
    """Fuzzy company-name lookup for accounts no exact key found (Meilisearch, or pg_trgm by default)."""

    status = JobStatus.MEILISEARCH
    name = "company_search"

    def applies(self, job):
        return job.type == "account"

    def skip_reason(self, job):
        return "account jobs only"

    def run(self, job, rows):
        from sources.company_search import company_search_backend

        backend = company_search_backend()
        pending = [row for row in rows_missing(job, rows) if row.company is None and row.keys.company]
        hits = backend.search_many([row.keys.company for row in pending])
        filled_rows = 0
        for row in pending:
            options = [company for company, _ in hits.get(row.keys.company, [])]
            filled_rows += match_company(job, row, options, source=backend.source)
        return StageResult(filled_rows, backend.source, backend.note)


class ContactsPerAccountStage(Stage):
    """Expands each matched account into up to `criteria.limit` contacts that satisfy the criteria."""

    status = JobStatus.DATACORE
    name = "contacts_per_account"

    def applies(self, job):
        return job.type == "account" and bool(job.criteria_limit)

    def skip_reason(self, job):
        return "account jobs with criteria.limit only"

    def run(self, job, rows):
        criteria = job.criteria or {}
        matched = [row for row in rows if row.company is not None and not row.withheld and not row.contacts]
        people = datacore.contacts_for_companies(
            [row.company["id"] for row in matched], limit=criteria["limit"],
            job_levels=criteria.get("job_level", ()), job_functions=criteria.get("job_function", ()),
            keywords=criteria.get("keyword", ()),
        )
        contact_fields, _ = fields_of_job(job)
        filled_rows = 0
        for row in matched:
            for person in people.get(row.company["id"], []):
                contact = WorkRow(position=row.position, row_uid=row.row_uid, record={}, keys=row.keys)
                contact.person = person
                contact.fill_from(person, contact_fields, source=datacore.SOURCE, seen_at=person.get("last_seen_at"))
                row.contacts.append(contact)
            filled_rows += bool(row.contacts)
        return StageResult(filled_rows, datacore.SOURCE)


class ProEnrichmentStage(Stage):
    """Paid providers, then email patterns, for Pro contact rows still missing requested fields."""

    status = JobStatus.PRO
    name = "pro"

    def applies(self, job):
        return job.type == "contact" and job.level == "pro"

    def skip_reason(self, job):
        return "Pro contact jobs only"

    def sends_rows_out(self, job):
        return True

    def run(self, job, rows):
        from enrichment.pipeline.pro import pro_enrich

        return pro_enrich(job, rows)


class EmailValidationStage(Stage):
    """Drops emails that cannot be delivered; their rows' email charges are reversed at reconciliation."""

    status = JobStatus.EMAIL_VALIDATION
    name = "email_validation"

    def applies(self, job):
        return "contact_email" in job.fields_to_enrich

    def skip_reason(self, job):
        return "contact_email not requested"

    def sends_rows_out(self, job):
        return job.level == "pro" and bool(settings.ZEROBOUNCE_API_KEY)

    def run(self, job, rows):
        from sources.email_validation import email_validator_backend

        validator = email_validator_backend(job=job)
        targets = [row for row in rows if "contact_email" in row.fills] + [
            contact for row in rows for contact in row.contacts if "contact_email" in contact.fills]
        verdicts = validator.validate_many([target.fills["contact_email"].value for target in targets])
        dropped = 0
        for target in targets:
            email = target.fills["contact_email"].value
            verdict = verdicts.get(email)
            if verdict is not None:
                target.email_verdict = (validator.source, verdict)
            if verdict is not None and not verdict.deliverable:
                del target.fills["contact_email"]
                target.notes["contact_email"] = f"dropped: {verdict.reason}"
                dropped += 1
        return StageResult(len(targets) - dropped, validator.source, f"{dropped} undeliverable dropped")


def _phone_fields(job) -> list[str]:
    return [name for name in PHONE_FIELDS if name in job.fields_to_enrich]


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

    def applies(self, job):
        return bool(_phone_fields(job)) and bigquery.is_configured()

    def skip_reason(self, job):
        return bigquery.NOT_CONFIGURED if _phone_fields(job) else "no phone field requested"

    def run(self, job, rows):
        requested = _phone_fields(job)
        pending = [(row, keys) for row in rows
                   if not row.withheld and row.missing(requested) and (keys := _phone_lookup_keys(row))]
        wanted = {kind: {value for _, keys in pending for key_kind, value in keys if key_kind == kind}
                  for kind in ("e", "l", "k")}
        try:
            phones = bigquery.phones_for_keys(emails=wanted["e"], linkedins=wanted["l"], person_keys=wanted["k"])
        except bigquery.BigQueryUnavailable as error:
            return StageResult(0, bigquery.SOURCE, str(error))
        by_key: dict[tuple, list[dict]] = {}
        for phone in phones:
            for key in (("e", phone["email_norm"]), ("l", phone["linkedin_norm"]), ("k", phone["person_key"])):
                if key[1]:
                    by_key.setdefault(key, []).append(phone)
        filled_rows = 0
        for row, keys in pending:
            options = list({phone["person_key"]: phone for key in keys for phone in by_key.get(key, ())}.values())
            # The matched person, else the input, must be the phone's person: a recycled address is not enough.
            best, score = pick_best(row.person or _query(row), [(phone, None) for phone in options])
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

    def applies(self, job):
        return job.type == "contact" and job.level in ("standard", "pro")

    def skip_reason(self, job):
        return "contact jobs at Standard or Pro only"

    def run(self, job, rows):
        rejected = 0
        for row in rows:
            if row.person is None or row.withheld:
                continue
            if not names_agree(row.record.get("first_name"), row.record.get("last_name"),
                               row.person.get("first_name"), row.person.get("last_name")):
                row.withhold(NAME_MISMATCH)
                rejected += 1
        return StageResult(0, "", f"{rejected} rejected")


def _still_in_company_candidates(rows: list[WorkRow]) -> list[WorkRow]:
    return [row for row in rows if row.person is not None and not row.withheld and _linkedin_of(row)]


class StillInCompanyStage(Stage):
    """Withholds matched people whose LinkedIn profile, scraped after DataCore last saw them, shows another employer."""

    status = JobStatus.STILL_IN_COMPANY
    name = "still_in_company"

    def applies(self, job):
        return job.type == "contact" and job.level in ("standard", "pro")

    def skip_reason(self, job):
        return "contact jobs at Standard or Pro only"

    def run(self, job, rows):
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
    DataCoreStage(),
    SnowflakeContactStage(),
    ScrapedSnapshotStage(),
    BigQueryContactStage(),
    CompanyNameSearchStage(),
    ContactsPerAccountStage(),
    ProEnrichmentStage(),
    EmailValidationStage(),
    BigQueryPhoneStage(),
    NameMatchStage(),
    StillInCompanyStage(),
]
