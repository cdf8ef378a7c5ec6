import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sources.normalize import (
    _domain_extractor,
    email_domain,
    fold_text,
    free_email_domains,
    is_disposable_email_domain,
    is_free_email_domain,
    is_role_address,
    name_variants,
    normalize_company_name,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
    normalize_phone,
    split_full_name,
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

NORMALIZERS = [
    fold_text,
    normalize_person_name,
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_phone,
    normalize_country,
]

# Text with the characters normalizers treat specially: accents, ligatures, invisible and URL syntax.
tricky_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from("aAzZ09 .-_'’&@:/?#%+()[],ßøæłİǅﬁ\u200b\u0301\u00a0ＡＢ。"),
    ),
    max_size=60,
)
dns_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
slug = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


# --- fold_text ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Crème Brûlée", "creme brulee"),
    ("STRASSE", "strasse"),
    ("Straße", "strasse"),
    ("Øster Æble Łódź", "oster aeble lodz"),
    ("  a\tb\n\u00a0 c ", "a b c"),
    ("zero\u200bwidth", "zerowidth"),
    ("ﬁrm", "firm"),
    ("ǅ", "dz"),
    (None, ""),
    (42, "42"),
])
def test_fold_text(raw, expected):
    assert fold_text(raw) == expected


# --- person names -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("O'Brien", "obrien"),
    ("O’Brien", "obrien"),
    ("Jean-Luc", "jeanluc"),
    ("Jean Luc", "jeanluc"),
    ("van Beethoven", "vanbeethoven"),
    ("Müller", "muller"),
    ("MULLER", "muller"),
    ("  José ", "jose"),
    ("Łukasz", "lukasz"),
    ("John2", "john"),
    ("...", ""),
    (None, ""),
])
def test_normalize_person_name(raw, expected):
    assert normalize_person_name(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Dr. John Q. Smith Jr.", ("john", "smith")),
    ("Mr. Robert 'Bob' Smith III", ("robert", "smith")),
    ("Jane Doe PhD", ("jane", "doe")),
    ("Smith, John", ("john", "smith")),
    ("J. Robert Smith", ("robert", "smith")),
    ("Prof. Dr. Hans-Peter Müller", ("hanspeter", "muller")),
    ("Mary Ann O'Brien-Smith", ("mary", "obriensmith")),
    ("Ludwig van Beethoven", ("ludwig", "vanbeethoven")),
    ("Madonna", ("madonna", "")),
    ("Dr.", ("", "")),
    ("", ("", "")),
    (None, ("", "")),
])
def test_split_full_name(raw, expected):
    assert split_full_name(raw) == expected


def test_split_full_name_meets_separately_entered_parts():
    assert split_full_name("Dr. José García-López") == (
        normalize_person_name("Jose"), normalize_person_name("Garcia Lopez"))


def test_name_variants_link_nicknames_and_canonical_names():
    assert {"bob", "robert"} <= name_variants("Bob")
    assert "bob" in name_variants("Robert")
    assert {"liz", "elizabeth"} <= name_variants("LIZ")
    assert "liz" in name_variants("Elizabeth")
    assert name_variants("Zebulonx") == frozenset({"zebulonx"})
    assert name_variants("") == frozenset()
    assert name_variants("  ") == frozenset()


# --- companies ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The Acme Corporation, Inc.", "acme", "ACME Corp.", "Acme, LLC", "Acme Ltd.", "ACME GmbH & Co. KG",
    "Acme S.A.", "Acme plc", "Acme (Inc)", "Ácme Company",
])
def test_company_name_variants_meet(raw):
    assert normalize_company_name(raw) == "acme"


@pytest.mark.parametrize("raw, expected", [
    ("Procter & Gamble", "procter and gamble"),
    ("Procter and Gamble Co.", "procter and gamble"),
    ("Smith & Co.", "smith"),
    ("Acme Intl. Holdings", "acme international holdings"),
    ("Acme International Holdings", "acme international holdings"),
    ("McDonald's Corporation", "mcdonalds"),
    ("Nestlé S.A.", "nestle"),
    ("3M Company", "3m"),
    ("The Home Depot", "home depot"),
    # A name made only of legal words keeps them rather than vanishing.
    ("Inc.", "inc"),
    ("", ""),
    ("  ,  ", ""),
])
def test_normalize_company_name(raw, expected):
    assert normalize_company_name(raw) == expected


# --- domains ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("https://WWW.Acme.co.uk:443/about?x=1", "acme.co.uk"),
    ("shop.acme.com", "acme.com"),
    ("acme.com", "acme.com"),
    ("ACME.COM.", "acme.com"),
    ("//acme.com/path", "acme.com"),
    ("acme.com:8080", "acme.com"),
    ("http://user:pw@acme.com/", "acme.com"),
    ("https://acme.com/contact?email=jane@other.com", "acme.com"),
    ("jane@acme.com", "acme.com"),
    ("mailto:Jane@Mail.Acme.com", "acme.com"),
    ("münchen.de", "xn--mnchen-3ya.de"),
    ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
    ("acme", ""),
    ("localhost", ""),
    ("192.168.0.1", ""),
    ("acme..com", ""),
    ("acme_corp.com", ""),
    ("not a domain.com", ""),
    ("", ""),
    (None, ""),
])
def test_normalize_domain(raw, expected):
    assert normalize_domain(raw) == expected


# --- email --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (" Jane.Doe@ACME.com ", "jane.doe@acme.com"),
    ("mailto:jane@acme.com", "jane@acme.com"),
    ("<jane@acme.com>", "jane@acme.com"),
    ("jane.doe+news@gmail.com", "jane.doe+news@gmail.com"),
    ("j.a.n.e@gmail.com", "j.a.n.e@gmail.com"),
    ("jane@xn--mnchen-3ya.de", "jane@münchen.de"),
    ("jane@acme", ""),
    ("jane..doe@acme.com", ""),
    ("jane@@acme.com", ""),
    ("jane doe@acme.com", ""),
    ("not an email", ""),
    ("", ""),
    (None, ""),
])
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Jane@Mail.ACME.co.uk", "acme.co.uk"),
    ("jane@münchen.de", "xn--mnchen-3ya.de"),
    ("acme.com", ""),
    ("jane@", ""),
])
def test_email_domain(raw, expected):
    assert email_domain(raw) == expected


def test_free_and_disposable_domains():
    assert "gmail.com" in free_email_domains()
    assert is_free_email_domain("gmail.com")
    assert is_free_email_domain("Jane@GMAIL.com")
    assert is_free_email_domain("yahoo.co.uk")
    assert not is_free_email_domain("acme.com")
    assert not is_free_email_domain("")
    assert is_disposable_email_domain("mailinator.com")
    assert is_disposable_email_domain("jane@mailinator.com")
    assert not is_disposable_email_domain("acme.com")
    assert not is_disposable_email_domain(None)


@pytest.mark.parametrize("raw, expected", [
    ("info@acme.com", True),
    ("SALES@acme.com", True),
    ("no-reply@acme.com", True),
    ("no_reply@acme.com", True),
    ("noreply@acme.com", True),
    ("support+eu@acme.com", True),
    ("admin@acme.com", True),
    ("jane.doe@acme.com", False),
    ("infoman@acme.com", False),
    ("info", False),
    ("", False),
])
def test_is_role_address(raw, expected):
    assert is_role_address(raw) is expected


# --- LinkedIn -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "https://www.linkedin.com/in/john-smith-82a505",
    "https://www.linkedin.com/in/john-smith-82a505/",
    "http://linkedin.com/in/John-Smith-82A505",
    "www.linkedin.com/in/john-smith-82a505",
    "linkedin.com/in/john-smith-82a505",
    "https://uk.linkedin.com/in/john-smith-82a505",
    "https://de.linkedin.com/in/john-smith-82a505/de",
    "https://m.linkedin.com/in/john-smith-82a505?trk=people-guest#about",
    "https://www.linkedin.com/in/john-smith-82a505/details/experience/",
    "HTTPS://WWW.LINKEDIN.COM:443/in/john-smith-82a505",
    " https://www.linkedin.com/in/john%2Dsmith-82a505 ",
])
def test_linkedin_profile_variants_meet(raw):
    assert normalize_linkedin_url(raw) == "linkedin.com/in/john-smith-82a505"


@pytest.mark.parametrize("raw, expected", [
    ("https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa", "linkedin.com/in/josé-garcía"),
    ("https://www.linkedin.com/in/JOSÉ-garcía", "linkedin.com/in/josé-garcía"),
    # Decomposed "é" (e + combining acute) meets the composed one.
    ("linkedin.com/in/jose\u0301", "linkedin.com/in/josé"),
    ("https://www.linkedin.com/in/jos%25C3%25A9", "linkedin.com/in/josé"),
    ("https://sy.linkedin.com/pub/krzysztof-marzec/a7/576/b50?trk=biz_employee_pub",
     "linkedin.com/in/krzysztof-marzec-b50576a7"),
    ("https://www.linkedin.com/company/acme-inc/about/", "linkedin.com/company/acme-inc"),
    ("https://www.linkedin.com/company/1035", "linkedin.com/company/1035"),
    ("https://www.linkedin.com/pub/dir/john/smith", ""),
    ("https://www.linkedin.com/sales/people/ACwAAA123", ""),
    ("https://www.linkedin.com/in/", ""),
    ("https://www.linkedin.com/feed/", ""),
    ("https://linkedin.com.evil.com/in/john", ""),
    ("https://notlinkedin.com/in/john", ""),
    ("https://www.linkedin.com/in/john%20smith", ""),
    ("https://www.linkedin.com/in/john\n/", ""),
    ("john-smith", ""),
    ("", ""),
    (None, ""),
])
def test_normalize_linkedin_url(raw, expected):
    assert normalize_linkedin_url(raw) == expected


# --- phones and countries -----------------------------------------------------------------------

@pytest.mark.parametrize("raw, region, expected", [
    ("(415) 555-2671", "US", "+14155552671"),
    ("415.555.2671", "US", "+14155552671"),
    ("+1 415 555 2671 ext. 12", "US", "+14155552671"),
    ("tel:+1-415-555-2671", "US", "+14155552671"),
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("020 7946 0958", "gb", "+442079460958"),
    ("020 7946 0958", "United Kingdom", "+442079460958"),
    ("020 7946 0958", "UK", "+442079460958"),
    ("0044 20 7946 0958", "GB", "+442079460958"),
    ("030 123456", "Germany", "+4930123456"),
    ("(415) 555-2671", "Narnia", "+14155552671"),
    ("+14155552671", "", "+14155552671"),
    ("555-1234", "US", ""),
    ("12", "US", ""),
    ("call me", "US", ""),
    ("", "US", ""),
    (None, "US", ""),
])
def test_normalize_phone(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw, expected", [
    ("US", "US"), ("us", "US"), ("U.S.A.", "US"), ("United States", "US"),
    ("United Kingdom", "GB"), ("uk", "GB"), ("Deutschland", ""), ("Germany", "DE"),
    ("Côte d'Ivoire", "CI"), ("XX", ""), ("", ""), (None, ""),
])
def test_normalize_country(raw, expected):
    assert normalize_country(raw) == expected


@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, pd.NaT], ids=repr)
def test_missing_dataframe_values_normalize_to_empty(normalizer, missing):
    assert normalizer(missing) == ""


# --- properties ---------------------------------------------------------------------------------

@pytest.mark.parametrize("normalizer", NORMALIZERS, ids=lambda f: f.__name__)
@PROPERTY_SETTINGS
@given(value=tricky_text)
def test_normalizers_are_total_and_idempotent(normalizer, value):
    once = normalizer(value)
    assert isinstance(once, str)
    assert normalizer(once) == once


@PROPERTY_SETTINGS
@given(value=tricky_text)
def test_derived_keys_are_fixed_points_of_their_normalizers(value):
    first, last = split_full_name(value)
    assert normalize_person_name(first) == first
    assert normalize_person_name(last) == last
    assert normalize_domain(email_domain(value)) == email_domain(value)
    for variant in name_variants(value):
        assert normalize_person_name(variant) == variant
    for predicate in (is_free_email_domain, is_disposable_email_domain, is_role_address):
        assert isinstance(predicate(value), bool)


@PROPERTY_SETTINGS
@given(
    subdomain=st.sampled_from(["", "www.", "WWW.", "shop.", "mail.eu."]),
    label=dns_label,
    suffix=st.sampled_from(["com", "co.uk", "de", "com.au", "io"]),
    scheme=st.sampled_from(["", "http://", "https://", "//"]),
    tail=st.sampled_from(["", "/", "/about", ":8080/x?y=1", "#top"]),
    local_part=st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,10}[a-z0-9])?", fullmatch=True),
)
def test_domain_from_website_meets_domain_from_email(subdomain, label, suffix, scheme, tail, local_part):
    # "co.io" and the like are public suffixes themselves: no organisation's domain ends there.
    assume(_domain_extractor()(f"x.{label}.{suffix}").suffix == suffix)
    website = f"{scheme}{subdomain}{label}.{suffix}{tail}"
    email = f"{local_part}@{label}.{suffix}".upper()
    assert normalize_domain(website) == normalize_domain(email) == f"{label}.{suffix}"
    if normalize_email(email):
        assert email_domain(email) == f"{label}.{suffix}"


@PROPERTY_SETTINGS
@given(
    profile=slug,
    host=st.sampled_from(["linkedin.com", "www.linkedin.com", "uk.linkedin.com", "m.linkedin.com"]),
    scheme=st.sampled_from(["", "http://", "https://"]),
    tail=st.sampled_from(["", "/", "?trk=abc", "/#x", "/en/", "/details/skills/"]),
    encode=st.booleans(),
)
def test_linkedin_import_and_lookup_forms_meet(profile, host, scheme, tail, encode):
    path = "".join(f"%{ord(ch):02X}" for ch in profile) if encode else profile.upper()
    assert normalize_linkedin_url(f"{scheme}{host}/in/{path}{tail}") == f"linkedin.com/in/{profile}"


@PROPERTY_SETTINGS
@given(
    words=st.lists(st.from_regex(r"[a-z][a-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=3),
    suffix=st.sampled_from(["", " Inc.", ", Inc", " LLC", ", L.L.C.", " Ltd", " GmbH", " Corp.", " Corp"]),
    article=st.sampled_from(["", "The ", "the "]),
)
def test_company_import_and_lookup_forms_meet(words, suffix, article):
    plain = " ".join(words)
    assert normalize_company_name(f"{article}{plain.title()}{suffix}") == normalize_company_name(plain)


@PROPERTY_SETTINGS
@given(digits=st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True))
def test_phone_formats_meet(digits):
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    national = normalize_phone(f"({area}) {exchange}-{line}")
    assert national == normalize_phone(f"+1.{area}.{exchange}.{line}") == normalize_phone(digits)
    assert national in ("", f"+1{digits}")
