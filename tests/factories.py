"""DataCore records for tests, with keys normalized exactly as the importer does."""

from django.utils import timezone

from sources.models import Company, Person
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


def make_company(company_name="Acme Corp", company_website="acme.com", **fields) -> Company:
    domain = normalize_domain(company_website)
    name_norm = normalize_company_name(company_name)
    defaults = {
        "industry": "Software", "sub_industry": "Application Software", "revenue_range": "$10M-$50M",
        "employee_range": "51-200", "company_hq_city": "Austin", "company_hq_country": "United States",
        "company_hq_country_code": "US", "company_hq_phone": "+15125550100", "year_founded": "2004",
        "industry_naics_code": "511210", "industry_sic_code": "7372", "last_seen_at": timezone.now(),
    }
    defaults.update(fields)
    return Company.objects.create(
        source_key=f"d:{domain}" if domain else f"n:{name_norm}", company_name=company_name,
        company_website=company_website, name_norm=name_norm, domain_norm=domain, **defaults)


def make_person(company: Company | None, first_name="Jane", last_name="Doe", **fields) -> Person:
    email = normalize_email(fields.get("contact_email", ""))
    linkedin = normalize_linkedin_url(fields.get("contact_linkedin_url", ""))
    defaults = {"job_title": "VP Sales", "job_level": "VP", "job_function": "Sales", "last_seen_at": timezone.now()}
    defaults.update(fields)
    return Person.objects.create(
        source_key=f"li:{linkedin}" if linkedin else (f"e:{email}" if email else f"n:{first_name}|{last_name}|{_next()}"),
        company=company, first_name=first_name, last_name=last_name,
        first_norm=normalize_person_name(first_name), last_norm=normalize_person_name(last_name),
        email_norm=email, linkedin_norm=linkedin,
        company_name_norm=company.name_norm if company else "", company_domain_norm=company.domain_norm if company else "",
        **defaults)


# Fifty distinct first names: a DataCore person each in the `datacore_people` fixture, so rows built from them match.
TESTER_FIRST_NAMES = [
    "Aaron", "Beatrice", "Caleb", "Delia", "Edgar", "Fiona", "Gideon", "Harriet", "Ivan", "Juno", "Kieran", "Lorna",
    "Magnus", "Nadia", "Oscar", "Petra", "Quentin", "Rosalind", "Silas", "Tamsin", "Ulric", "Vera", "Wendell",
    "Ximena", "Yusuf", "Zelda", "Anselm", "Brigid", "Cormac", "Dagny", "Ewan", "Freya", "Gareth", "Hedda", "Ignatius",
    "Jolene", "Kasimir", "Leonie", "Milo", "Nerys", "Orrin", "Philippa", "Rufus", "Sabine", "Thaddeus", "Ursula",
    "Valentin", "Winifred", "Xavier", "Yvette",
]
