"""Match scoring between an input record and DataCore candidates: pure functions, no database access.

Records are plain dicts under DataCore column names (first_name, contact_email, company_website, …);
precomputed keys (email_norm, linkedin_norm, first_norm, last_norm, company_name_norm,
company_domain_norm; name_norm, domain_norm for companies) are used when present.

Scores are evidence agreement on a 0–100 scale: a shared strong key (email, LinkedIn URL) scores at
least STRONG_KEY_CONFIDENCE unless other evidence contradicts it; a person's name needs company agreement
to reach MATCH_THRESHOLD and stays below STRONG_KEY_CONFIDENCE; contradicting evidence is listed in
`evidence` as "<kind>_mismatch" and lowers the score.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from sources.normalize import (
    canonical_first_names,
    email_domain,
    fold_text,
    is_disposable_email_domain,
    is_free_email_domain,
    name_variants,
    normalize_company_name,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

MATCH_THRESHOLD = 70
STRONG_KEY_CONFIDENCE = 90
# Without a strong key a match stays below STRONG_KEY_CONFIDENCE, so a shared key always ranks first.
WITHOUT_STRONG_KEY_CAP = STRONG_KEY_CONFIDENCE - 1
# Runners-up within this many points of the best, with the same kind of evidence, make the pick a guess.
AMBIGUITY_MARGIN = 10

CONFIDENCE_LEVELS = ((85, "High"), (70, "Medium"), (50, "Low"), (0, "None"))

STRONG_KEYS = ("email", "linkedin")

# A DataCore person with their company, if known.
Candidate = tuple[dict, dict | None]


@dataclass(frozen=True)
class MatchScore:
    confidence: int
    evidence: tuple[str, ...]

    @property
    def has_strong_key(self) -> bool:
        return any(key in self.evidence for key in STRONG_KEYS)


def is_match(score: MatchScore | None) -> bool:
    return score is not None and score.confidence >= MATCH_THRESHOLD


def confidence_level(score: int) -> str:
    lowest_level = CONFIDENCE_LEVELS[-1][1]
    return next((level for floor, level in CONFIDENCE_LEVELS if score >= floor), lowest_level)


def _clamp(value: int, ceiling: int = 100) -> int:
    return max(0, min(ceiling, value))


def _key(record: dict | None, norm_column: str, raw_column: str, normalizer: Callable[[object], str]) -> str:
    """A record's precomputed key, else the normalized raw value."""
    if not record:
        return ""
    precomputed = record.get(norm_column)
    if isinstance(precomputed, str) and precomputed:
        return precomputed
    return normalizer(record.get(raw_column))


def _employer_domain_of_email(email: str) -> str:
    """The domain of an address when it says where the person works (not gmail.com or a throwaway)."""
    if not email or is_free_email_domain(email) or is_disposable_email_domain(email):
        return ""
    return email_domain(email)


# --- names --------------------------------------------------------------------------------------

class NameAgreement(Enum):
    EXACT = "name"
    NICKNAME = "nickname"
    FUZZY = "name_fuzzy"
    INITIAL = "first_initial"
    LAST_NAME_ONLY = "last_name"
    UNKNOWN = "no_name"
    CONFLICT = "name_mismatch"


NAME_POINTS = {
    NameAgreement.EXACT: 45,
    NameAgreement.NICKNAME: 40,
    NameAgreement.FUZZY: 35,
    NameAgreement.INITIAL: 30,
    NameAgreement.LAST_NAME_ONLY: 15,
    NameAgreement.UNKNOWN: 0,
    NameAgreement.CONFLICT: -30,
}


def _is_typo(a: str, b: str, *, min_length: int) -> bool:
    """One edit (a transposition counts as one) between names long enough for that to be a typo."""
    return max(len(a), len(b)) >= min_length and OSA.distance(a, b) <= 1


def _is_spelling_variant(a: str, b: str) -> bool:
    # Long names sharing their start ("Katherine"/"Kathryn") are spellings of one name; short ones rarely are.
    return min(len(a), len(b)) >= 6 and JaroWinkler.similarity(a, b) >= 0.9


def _first_names_agreement(first: str, other: str) -> NameAgreement:
    if first == other:
        return NameAgreement.EXACT
    if len(first) == 1 or len(other) == 1:
        return NameAgreement.INITIAL if first[0] == other[0] else NameAgreement.CONFLICT
    if (first in name_variants(other) or other in name_variants(first)
            or canonical_first_names(first) & canonical_first_names(other)):
        return NameAgreement.NICKNAME
    if _is_typo(first, other, min_length=4) or _is_spelling_variant(first, other):
        return NameAgreement.FUZZY
    return NameAgreement.CONFLICT


def _last_names_agreement(last: str, other: str) -> NameAgreement:
    if last == other:
        return NameAgreement.EXACT
    return NameAgreement.FUZZY if _is_typo(last, other, min_length=5) else NameAgreement.CONFLICT


def compare_names(input_first, input_last, found_first, found_last) -> NameAgreement:
    """How two (first, last) names agree; parts missing on either side are not compared."""
    first, last = normalize_person_name(input_first), normalize_person_name(input_last)
    other_first, other_last = normalize_person_name(found_first), normalize_person_name(found_last)
    if not (first or last) or not (other_first or other_last):
        return NameAgreement.UNKNOWN
    last_agreement = _last_names_agreement(last, other_last) if last and other_last else None
    first_agreement = _first_names_agreement(first, other_first) if first and other_first else None
    if NameAgreement.CONFLICT in (first_agreement, last_agreement):
        return NameAgreement.CONFLICT
    if last_agreement is None:
        # A first name alone does not identify anyone.
        return NameAgreement.UNKNOWN
    if first_agreement is None:
        return NameAgreement.LAST_NAME_ONLY
    # The weaker part decides: a nickname with a typo in the last name is a fuzzy match.
    return min(first_agreement, last_agreement, key=NAME_POINTS.__getitem__)


def names_agree(input_first, input_last, found_first, found_last) -> bool:
    """Whether two names may be the same person: nickname-aware, typo-tolerant; nothing to compare agrees."""
    return compare_names(input_first, input_last, found_first, found_last) is not NameAgreement.CONFLICT


# --- people -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _PersonKeys:
    email: str
    linkedin: str
    first: str
    last: str
    company_name: str
    company_domains: frozenset[str]


def _query_keys(query: dict) -> _PersonKeys:
    email = _key(query, "email_norm", "contact_email", normalize_email)
    website_domain = _key(query, "company_domain_norm", "company_website", normalize_domain)
    return _PersonKeys(
        email=email,
        linkedin=_key(query, "linkedin_norm", "contact_linkedin_url", normalize_linkedin_url),
        first=_key(query, "first_norm", "first_name", normalize_person_name),
        last=_key(query, "last_norm", "last_name", normalize_person_name),
        company_name=_key(query, "company_name_norm", "company_name", normalize_company_name),
        company_domains=frozenset({website_domain, _employer_domain_of_email(email)} - {""}),
    )


def _candidate_keys(candidate: dict, company: dict | None) -> _PersonKeys:
    email = _key(candidate, "email_norm", "contact_email", normalize_email)
    company_domain = (
        _key(company, "domain_norm", "company_website", normalize_domain)
        or _key(candidate, "company_domain_norm", "company_website", normalize_domain)
        or _employer_domain_of_email(email)
    )
    return _PersonKeys(
        email=email,
        linkedin=_key(candidate, "linkedin_norm", "contact_linkedin_url", normalize_linkedin_url),
        first=_key(candidate, "first_norm", "first_name", normalize_person_name),
        last=_key(candidate, "last_norm", "last_name", normalize_person_name),
        company_name=(_key(company, "name_norm", "company_name", normalize_company_name)
                      or _key(candidate, "company_name_norm", "company_name", normalize_company_name)),
        company_domains=frozenset({company_domain} - {""}),
    )


def _company_name_evidence(name: str, other: str) -> tuple[int, str] | None:
    if not name or not other:
        return None
    if name == other:
        return 40, "company_name"
    similarity = fuzz.token_sort_ratio(name, other)
    if similarity >= 90:
        return 30, "company_name_similar"
    if similarity >= 80:
        return 15, "company_name_similar"
    return None


def _person_company_points(query: _PersonKeys, found: _PersonKeys) -> tuple[int, list[str]]:
    """Points for the person's employer agreeing, or a penalty when both sides name different employers."""
    domain_agrees = bool(query.company_domains & found.company_domains)
    name_evidence = _company_name_evidence(query.company_name, found.company_name)
    agreements = ([(45, "domain")] if domain_agrees else []) + ([name_evidence] if name_evidence else [])
    if agreements:
        points = max(points for points, _ in agreements) + 5 * (len(agreements) - 1)
        return points, [evidence for _, evidence in agreements]
    if query.company_domains and found.company_domains:
        return -20, ["domain_mismatch"]
    if query.company_name and found.company_name:
        return -10, ["company_name_mismatch"]
    return 0, []


def _strong_key_score(shared_keys: list[str], query: _PersonKeys, found: _PersonKeys,
                      names: NameAgreement) -> MatchScore:
    evidence = list(shared_keys)
    confidence = 97 if len(shared_keys) == 2 else 92
    if names is NameAgreement.CONFLICT:
        # The address or profile now belongs to someone else (recycled mailbox, wrong URL on file).
        return MatchScore(40, (*evidence, names.value))
    if names is not NameAgreement.UNKNOWN:
        evidence.append(names.value)
        confidence += 3
    if query.linkedin and found.linkedin and query.linkedin != found.linkedin:
        evidence.append("linkedin_mismatch")
        confidence -= 25
    return MatchScore(_clamp(confidence), tuple(evidence))


def score_person(query: dict, candidate: dict, *, candidate_company: dict | None = None) -> MatchScore:
    """How likely `candidate` (with its employer, if known) is the person `query` describes."""
    return _score_person_keys(_query_keys(query), _candidate_keys(candidate, candidate_company))


def _score_person_keys(wanted: _PersonKeys, found: _PersonKeys) -> MatchScore:
    names = compare_names(wanted.first, wanted.last, found.first, found.last)
    shared_keys = [key for key, value, other in (("email", wanted.email, found.email),
                                                 ("linkedin", wanted.linkedin, found.linkedin))
                   if value and value == other]
    if shared_keys:
        return _strong_key_score(shared_keys, wanted, found, names)

    confidence = NAME_POINTS[names]
    evidence = [] if names is NameAgreement.UNKNOWN else [names.value]
    company_points, company_evidence = _person_company_points(wanted, found)
    confidence += company_points
    evidence += company_evidence
    if wanted.linkedin and found.linkedin:
        # Each person has one profile: a different one is a different person.
        confidence -= 40
        evidence.append("linkedin_mismatch")
    employer_email_domain = _employer_domain_of_email(wanted.email)
    if employer_email_domain and employer_email_domain == _employer_domain_of_email(found.email):
        # Another mailbox at the same employer: most likely a colleague with the same name.
        confidence -= 10
        evidence.append("email_mismatch")
    return MatchScore(_clamp(confidence, WITHOUT_STRONG_KEY_CAP), tuple(evidence))


def pick_best(query: dict, candidates: list[Candidate]) -> tuple[int | None, MatchScore | None]:
    """Index and score of the one matching candidate; (None, None) if none matches or it would be a guess."""
    wanted = _query_keys(query)
    scored = sorted(
        ((_score_person_keys(wanted, _candidate_keys(person, company)), index)
         for index, (person, company) in enumerate(candidates)),
        key=lambda scored_candidate: -scored_candidate[0].confidence,
    )
    if not scored or not is_match(scored[0][0]):
        return None, None
    best, best_index = scored[0]
    for runner_up, _ in scored[1:]:
        if not is_match(runner_up) or best.confidence - runner_up.confidence >= AMBIGUITY_MARGIN:
            break
        if runner_up.has_strong_key == best.has_strong_key:
            # Two namesakes at one employer, or one key shared by two records: nothing tells them apart.
            return None, None
    return best_index, best


# --- companies ----------------------------------------------------------------------------------

def _country(record: dict) -> str:
    return normalize_country(record.get("company_hq_country_code")) or normalize_country(
        record.get("company_hq_country"))


def _city(record: dict) -> str:
    return "".join(ch for ch in fold_text(record.get("company_hq_city")) if ch.isalnum())


def _location_points(query: dict, candidate: dict) -> tuple[int, list[str]]:
    points, evidence = 0, []
    country, other_country = _country(query), _country(candidate)
    if country and other_country:
        points, evidence = (3, ["country"]) if country == other_country else (-10, ["country_mismatch"])
    city = _city(query)
    if city and city == _city(candidate):
        points += 2
        evidence.append("city")
    return points, evidence


def score_company(query: dict, candidate: dict) -> MatchScore:
    """How likely `candidate` is the account `query` describes: domain and name, location as a tiebreaker."""
    domain = _key(query, "domain_norm", "company_website", normalize_domain)
    other_domain = _key(candidate, "domain_norm", "company_website", normalize_domain)
    linkedin = _key(query, "linkedin_norm", "company_linkedin_url", normalize_linkedin_url)
    other_linkedin = _key(candidate, "linkedin_norm", "company_linkedin_url", normalize_linkedin_url)
    name = _key(query, "name_norm", "company_name", normalize_company_name)
    other_name = _key(candidate, "name_norm", "company_name", normalize_company_name)

    agreements: list[tuple[int, str]] = []
    if domain and domain == other_domain:
        agreements.append((90, "domain"))
    if linkedin and linkedin == other_linkedin:
        agreements.append((90, "linkedin"))
    if name and name == other_name:
        agreements.append((85, "company_name"))
    elif name and other_name:
        similarity = fuzz.token_sort_ratio(name, other_name)
        if similarity >= 70:
            agreements.append((int(similarity * 0.8), "company_name_similar"))
    if not agreements:
        return MatchScore(0, ())

    confidence = max(points for points, _ in agreements) + 5 * (len(agreements) - 1)
    evidence = [kind for _, kind in agreements]
    for key, value, other in (("domain", domain, other_domain), ("linkedin", linkedin, other_linkedin)):
        if value and other and value != other:
            # Namesakes are common ("Acme" in Ohio and in Leeds); a different website says it is another one.
            confidence -= 25
            evidence.append(f"{key}_mismatch")
    location_points, location_evidence = _location_points(query, candidate)
    return MatchScore(_clamp(confidence + location_points), tuple(evidence + location_evidence))
