"""Netnut (residential proxy network): reads a LinkedIn public profile page through the proxy.

Requests go through `http://USER:PASS@gw.netnut.net:5959`; the page's JSON-LD `Person` (name,
jobTitle, worksFor) is read first, its `og:title`/`og:description` when it has none.
"""

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
from django.conf import settings
from nameparser import HumanName

from sources.normalize import normalize_linkedin_url
from sources.providers.http import ProviderHttp, ProviderPolicy

SOURCE = "netnut"
BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0 Safari/537.36",
    "Accept": "text/html,application/xhtml+xml",
    "Accept-Language": "en-US,en;q=0.9",
}
_TITLE_SEPARATORS = re.compile(r"\s+[-–—|]\s+")
_LINKEDIN_SUFFIX = re.compile(r"\s*\|\s*LinkedIn\s*$", re.IGNORECASE)
_EXPERIENCE = re.compile(r"Experience:\s*([^·]+)")


@dataclass(frozen=True)
class LinkedInProfile:
    url: str
    first_name: str
    last_name: str
    job_title: str
    company_name: str

    def as_person(self) -> dict:
        """The profile under DataCore's field names, for scoring and filling."""
        return {"first_name": self.first_name, "last_name": self.last_name, "job_title": self.job_title,
                "company_name": self.company_name, "contact_linkedin_url": self.url}


def split_linkedin_title(title: str) -> tuple[str, str, str]:
    """(name, headline, company) of a LinkedIn page title: "Jane Roe - CFO - Initech | LinkedIn"."""
    parts = [part.strip() for part in _TITLE_SEPARATORS.split(_LINKEDIN_SUFFIX.sub("", title or "")) if part.strip()]
    if not parts:
        return "", "", ""
    if len(parts) == 1:
        return parts[0], "", ""
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return parts[0], parts[1], parts[-1]


class _ProfilePageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.json_ld: list[str] = []
        self.meta: dict[str, str] = {}
        self._in_json_ld = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and (attributes.get("type") or "").lower() == "application/ld+json":
            self._in_json_ld = True
            self.json_ld.append("")
        elif tag == "meta":
            key = attributes.get("property") or attributes.get("name")
            if key and attributes.get("content"):
                self.meta.setdefault(key.lower(), attributes["content"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_json_ld = False

    def handle_data(self, data):
        if self._in_json_ld:
            self.json_ld[-1] += data


def _nodes(value):
    """Every JSON-LD object in a document: top-level lists and `@graph` lists flattened."""
    if isinstance(value, list):
        for item in value:
            yield from _nodes(item)
    elif isinstance(value, dict):
        yield value
        yield from _nodes(value.get("@graph", []))


def _is_person(node: dict) -> bool:
    kind = node.get("@type")
    return kind == "Person" or (isinstance(kind, list) and "Person" in kind)


def _first_text(value) -> str:
    if isinstance(value, list):
        return next((text for text in map(_first_text, value) if text), "")
    if isinstance(value, dict):
        return _first_text(value.get("name"))
    return str(value).strip() if value else ""


def _person_node(parser: _ProfilePageParser) -> dict | None:
    for text in parser.json_ld:
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            continue
        person = next((node for node in _nodes(document) if _is_person(node)), None)
        if person is not None:
            return person
    return None


def _without_company(headline: str, company: str) -> str:
    """"CFO at Initech" -> "CFO" when the company is known."""
    if company and headline.lower().endswith(f" at {company.lower()}"):
        return headline[: -len(company) - 4].strip()
    return headline


def parse_profile_page(html: str, *, url: str) -> LinkedInProfile | None:
    """The profile a public LinkedIn page shows, or None when the page has none (a login wall)."""
    parser = _ProfilePageParser()
    parser.feed(html)
    person = _person_node(parser)
    title_name, headline, title_company = split_linkedin_title(parser.meta.get("og:title", ""))
    if person is not None:
        name = _first_text(person.get("name")) or title_name
        first, last = str(person.get("givenName") or ""), str(person.get("familyName") or "")
        company = _first_text(person.get("worksFor")) or title_company
        job_title = _first_text(person.get("jobTitle")) or headline
    elif title_name:
        name, first, last, company, job_title = title_name, "", "", title_company, headline
        experience = _EXPERIENCE.search(parser.meta.get("og:description", ""))
        if experience and not company:
            company = experience.group(1).strip()
    else:
        return None
    if not (first and last):
        parsed = HumanName(name)
        first, last = first or parsed.first, last or parsed.last
    if not (first or last):
        return None
    return LinkedInProfile(url=url, first_name=first.strip(), last_name=last.strip(),
                           job_title=_without_company(job_title, company), company_name=company.strip())


class NetnutClient:
    source = SOURCE

    def __init__(self, http: ProviderHttp):
        self.http = http

    @classmethod
    def from_settings(cls, *, job_id, policy: ProviderPolicy) -> "NetnutClient | None":
        if not (settings.NETNUT_USERNAME and settings.NETNUT_PASSWORD):
            return None
        proxy = httpx.Proxy(settings.NETNUT_PROXY_URL, auth=(settings.NETNUT_USERNAME, settings.NETNUT_PASSWORD))
        return cls(ProviderHttp(name=SOURCE, base_url=settings.NETNUT_PROFILE_BASE_URL, job_id=job_id,
                                policy=policy, headers=BROWSER_HEADERS, proxy=proxy))

    def fetch_profile(self, linkedin_url: str) -> LinkedInProfile | None:
        """The profile at a LinkedIn URL; None when it does not exist or shows nothing readable."""
        key = normalize_linkedin_url(linkedin_url)
        if not key.startswith("linkedin.com/in/"):
            return None
        path = key.removeprefix("linkedin.com")
        response = self.http.call("GET", f"{path}/", accept=(200, 404, 410))
        if response.status_code != 200:
            return None
        return parse_profile_page(response.text, url=f"https://www.{key}")
