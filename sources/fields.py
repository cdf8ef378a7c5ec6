"""The seed's field names, shared by validation, DataCore columns and the pipeline."""

CONTACT_FIELDS = (
    "first_name", "last_name", "job_title", "job_level", "job_function",
    "contact_email", "contact_linkedin_url",
    "contact_office_street", "contact_office_city", "contact_office_state",
    "contact_office_postal_code", "contact_office_country",
    "contact_office_phone", "contact_mobile_phone", "contact_direct_phone",
    "contact_office_country_code", "contact_office_state_code",
)

ACCOUNT_FIELDS = (
    "company_name", "company_hq_street", "company_hq_city", "company_hq_state",
    "company_hq_postal_code", "company_hq_country", "company_website",
    "industry", "sub_industry", "company_linkedin_url", "company_hq_phone",
    "revenue_range", "employee_range", "year_founded",
    "company_hq_country_code", "company_hq_state_code",
    "industry_naics_code", "industry_naics_description",
    "industry_sic_code", "industry_sic_description",
)

CONTACT_IDENTIFIERS = ("company_name", "contact_email", "contact_linkedin_url", "first_name", "last_name")
ACCOUNT_IDENTIFIERS = ("company_name", "company_website")

PHONE_FIELDS = ("contact_mobile_phone", "contact_direct_phone")
# Every field whose value is a phone number (each delivered with its E.164 form, type and country);
# PHONE_FIELDS are the ones that set a row's price.
PHONE_NUMBER_FIELDS = ("contact_office_phone", "contact_mobile_phone", "contact_direct_phone", "company_hq_phone")
