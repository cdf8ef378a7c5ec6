"""Serper (Google search API): finds a person's LinkedIn profile, or a company's website.

`POST https://google.serper.dev/search` with the `X-API-KEY` header and `{"q": …}`; the answer's
`organic` list holds `{title, link, snippet, position}`, and `knowledgeGraph.website` the site Google
shows for an entity.
"""

from dataclasses import dataclass

from django.conf import settings
from rapidfuzz import fuzz

from sources.matching import NameAgreement, compare_names
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_linkedin_url,
    split_full_name,
)
from sources.providers.http import ProviderHttp, ProviderPolicy
from sources.providers.netnut import split_linkedin_title

SOURCE = "serper"
RESULTS_PER_QUERY = 10
# Titles whose name says who the profile is: a last name alone or a bare initial is too weak.
AGREEING_NAMES = (NameAgreement.EXACT, NameAgreement.NICKNAME, NameAgreement.FUZZY)
# Sites that rank for company names but are not the company's own.
NOT_COMPANY_SITES = frozenset({
    "linkedin.com", "facebook.com", "twitter.com", "x.com", "instagram.com", "youtube.com", "tiktok.com",
    "wikipedia.org", "crunchbase.com", "bloomberg.com", "zoominfo.com", "glassdoor.com", "indeed.com",
    "yelp.com", "dnb.com", "apollo.io", "rocketreach.co", "craft.co", "owler.com", "pitchbook.com",
    "github.com", "google.com", "bbb.org", "yahoo.com", "reuters.com", "forbes.com",
})


@dataclass(frozen=True)
class SearchHit:
    title: str
    link: str
    snippet: str
    position: int


@dataclass(frozen=True)
class SearchResults:
    organic: list[SearchHit]
    website: str  # the knowledge graph's website, when Google shows one


@dataclass(frozen=True)
class ProfileHit:
    url: str
    name: str
    mentions_company: bool


def linkedin_profile_query(*, first_name: str, last_name: str, company: str) -> str:
    return f'"{first_name} {last_name}" {company} site:linkedin.com/in'


def company_website_query(company_name: str) -> str:
    return f"{company_name} official website"


class SerperClient:
    source = SOURCE

    def __init__(self, http: ProviderHttp):
        self.http = http

    @classmethod
    def from_settings(cls, *, job_id, policy: ProviderPolicy) -> "SerperClient | None":
        if not settings.SERPER_API_KEY:
            return None
        return cls(ProviderHttp(name=SOURCE, base_url=settings.SERPER_BASE_URL, job_id=job_id, policy=policy,
                                headers={"X-API-KEY": settings.SERPER_API_KEY}))

    def search(self, query: str) -> SearchResults:
        _, body = self.http.call_json("POST", "/search", json={"q": query, "num": RESULTS_PER_QUERY})
        if not isinstance(body, dict):
            raise self.http.unavailable("unavailable: unexpected response shape")
        organic = [
            SearchHit(title=str(hit.get("title") or ""), link=str(hit.get("link") or ""),
                      snippet=str(hit.get("snippet") or ""), position=int(hit.get("position") or index + 1))
            for index, hit in enumerate(body.get("organic") or []) if isinstance(hit, dict)
        ]
        graph = body.get("knowledgeGraph") if isinstance(body.get("knowledgeGraph"), dict) else {}
        return SearchResults(organic=sorted(organic, key=lambda hit: hit.position),
                             website=str(graph.get("website") or ""))


def _mentions_company(text: str, company_name: str) -> bool:
    company = normalize_company_name(company_name)
    return bool(company) and fuzz.partial_ratio(company, normalize_company_name(text)) >= 90


def profile_from_results(results: SearchResults, *, first_name: str, last_name: str,
                         company_name: str) -> ProfileHit | None:
    """The best-ranked LinkedIn profile whose title names the person, or None."""
    for hit in results.organic:
        key = normalize_linkedin_url(hit.link)
        if not key.startswith("linkedin.com/in/"):
            continue
        name, _, _ = split_linkedin_title(hit.title)
        if compare_names(first_name, last_name, *split_full_name(name)) in AGREEING_NAMES:
            return ProfileHit(url=f"https://www.{key}", name=name,
                              mentions_company=_mentions_company(f"{hit.title} {hit.snippet}", company_name))
    return None


def website_from_results(results: SearchResults, *, company_name: str) -> str:
    """The company's own domain: the first result whose domain carries the company's name."""
    company = normalize_company_name(company_name).replace(" ", "")
    if len(company) < 3:
        return ""
    for link in [results.website, *(hit.link for hit in results.organic)]:
        domain = normalize_domain(link)
        if not domain or domain in NOT_COMPANY_SITES:
            continue
        label = domain.split(".", 1)[0]
        if company in label or (len(label) >= 4 and label in company) or fuzz.ratio(company, label) >= 85:
            return domain
    return ""
