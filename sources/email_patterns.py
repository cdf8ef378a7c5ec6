"""Each domain's email address pattern, learned from the addresses DataCore knows there.

A domain's pattern is the template most of its known people follow (`{first}.{last}`, `{f}{last}` …),
learned in one query for all the domains of a batch; it builds the likely address of someone else at
that domain. Such a guess is only an address to validate, never a known one.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from sources.models import Person
from sources.normalize import normalize_person_name
from sources.sql import lookup_errors

SOURCE = "email_pattern"

# The common corporate templates, most common first: the order breaks ties between templates that
# produce the same address for a name.
PATTERNS = (
    "{first}.{last}", "{f}{last}", "{first}", "{first}{last}", "{first}_{last}", "{f}.{last}",
    "{last}.{first}", "{first}{l}", "{last}{f}", "{last}", "{first}-{last}", "{last}{first}",
    "{first}.{l}", "{last}_{first}", "{f}{l}",
)


@dataclass(frozen=True)
class DomainPattern:
    domain: str
    pattern: str
    support: int  # known addresses at the domain that follow the pattern
    known: int  # known addresses at the domain of people with a first and last name


def _name_part(value) -> str:
    name = normalize_person_name(value)
    return name if name.isascii() else ""


def local_part(pattern: str, *, first: str, last: str) -> str:
    """The pattern applied to a name; "" when the name lacks a part or has no ASCII spelling."""
    first, last = _name_part(first), _name_part(last)
    if not (first and last):
        return ""
    return pattern.format(first=first, last=last, f=first[0], l=last[0])


def patterns_matching(address_local_part: str, *, first: str, last: str) -> list[str]:
    local = address_local_part.split("+", 1)[0]
    return [pattern for pattern in PATTERNS if local and local_part(pattern, first=first, last=last) == local]


def infer_pattern(domain: str, people: Iterable[tuple[str, str, str]]) -> DomainPattern | None:
    """The pattern a strict majority of (local part, first, last) at the domain follow, or None."""
    support: Counter[str] = Counter()
    known = 0
    for address_local_part, first, last in people:
        if not (_name_part(first) and _name_part(last)):
            continue
        known += 1
        support.update(patterns_matching(address_local_part, first=first, last=last))
    if not support:
        return None
    best = max(PATTERNS, key=lambda pattern: (support[pattern], -PATTERNS.index(pattern)))
    if support[best] * 2 <= known:
        return None
    return DomainPattern(domain=domain, pattern=best, support=support[best], known=known)


def patterns_for_domains(domains: Iterable[str]) -> dict[str, DomainPattern]:
    """The learned pattern of each domain that has one, from one query over DataCore's people."""
    domains = sorted({domain for domain in domains if domain})
    if not domains:
        return {}
    people_by_domain: dict[str, list[tuple[str, str, str]]] = {}
    with lookup_errors(source=SOURCE):
        known_addresses = list(
            Person.objects.filter(company_domain_norm__in=domains, opted_out=False)
            .exclude(email_norm="").values_list("company_domain_norm", "email_norm", "first_norm", "last_norm")
        )
    for domain, email, first, last in known_addresses:
        address_local_part, _, host = email.rpartition("@")
        # Only addresses on the domain itself: a subsidiary's mail host follows its own pattern.
        if host == domain:
            people_by_domain.setdefault(domain, []).append((address_local_part, first, last))
    patterns = (infer_pattern(domain, people) for domain, people in people_by_domain.items())
    return {pattern.domain: pattern for pattern in patterns if pattern is not None}


def candidate_email(pattern: DomainPattern, *, first: str, last: str) -> str:
    local = local_part(pattern.pattern, first=first, last=last)
    return f"{local}@{pattern.domain}" if local else ""
