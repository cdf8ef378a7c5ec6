"""DataCore: eCore's own reference database of companies and people.

Columns carry the seed's field names, so a requested field maps to a column of the same name.
`*_norm` columns hold the keys of `sources.normalize`, computed identically at import and at
lookup, and are what the pipeline's batch queries hit.
"""

from django.contrib.postgres.indexes import GistIndex
from django.db import models


class Company(models.Model):
    source_key = models.CharField(max_length=255, help_text="Natural key: domain, else name.")
    company_name = models.CharField(max_length=255)
    company_website = models.CharField(max_length=255, blank=True)
    company_linkedin_url = models.CharField(max_length=255, blank=True)
    company_hq_street = models.CharField(max_length=255, blank=True)
    company_hq_city = models.CharField(max_length=128, blank=True)
    company_hq_state = models.CharField(max_length=128, blank=True)
    company_hq_state_code = models.CharField(max_length=16, blank=True)
    company_hq_postal_code = models.CharField(max_length=32, blank=True)
    company_hq_country = models.CharField(max_length=128, blank=True)
    company_hq_country_code = models.CharField(max_length=8, blank=True)
    company_hq_phone = models.CharField(max_length=64, blank=True)
    industry = models.CharField(max_length=128, blank=True)
    sub_industry = models.CharField(max_length=128, blank=True)
    revenue_range = models.CharField(max_length=64, blank=True)
    employee_range = models.CharField(max_length=64, blank=True)
    year_founded = models.CharField(max_length=8, blank=True)
    industry_naics_code = models.CharField(max_length=16, blank=True)
    industry_naics_description = models.CharField(max_length=255, blank=True)
    industry_sic_code = models.CharField(max_length=16, blank=True)
    industry_sic_description = models.CharField(max_length=255, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subsidiaries")

    name_norm = models.CharField(max_length=255)
    domain_norm = models.CharField(max_length=255, blank=True)
    linkedin_norm = models.CharField(max_length=255, blank=True)
    opted_out = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="When DataCore last verified the record.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        # Plain b-tree indexes (no LIKE twins): lookups are equality on normalized keys.
        constraints = [models.UniqueConstraint(fields=["source_key"], name="company_source_key_unique")]
        indexes = [
            models.Index(fields=["name_norm"], name="company_name_norm"),
            models.Index(fields=["domain_norm"], name="company_domain_norm"),
            models.Index(fields=["linkedin_norm"], name="company_linkedin_norm"),
            # GiST, not GIN: the name search asks for the nearest few names (ORDER BY <-> LIMIT), which
            # GiST answers walking the index; GIN must fetch every similar name and sort them (10x slower).
            GistIndex(fields=["name_norm"], opclasses=["gist_trgm_ops"], name="company_name_norm_trgm_gist"),
        ]

    def __str__(self):
        return self.company_name


class Person(models.Model):
    source_key = models.CharField(max_length=255, help_text="Natural key: LinkedIn URL, else email, else name at company.")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    first_name = models.CharField(max_length=128, blank=True)
    last_name = models.CharField(max_length=128, blank=True)
    job_title = models.CharField(max_length=255, blank=True)
    job_level = models.CharField(max_length=64, blank=True)
    job_function = models.CharField(max_length=64, blank=True)
    contact_email = models.CharField(max_length=255, blank=True)
    contact_linkedin_url = models.CharField(max_length=255, blank=True)
    contact_office_street = models.CharField(max_length=255, blank=True)
    contact_office_city = models.CharField(max_length=128, blank=True)
    contact_office_state = models.CharField(max_length=128, blank=True)
    contact_office_state_code = models.CharField(max_length=16, blank=True)
    contact_office_postal_code = models.CharField(max_length=32, blank=True)
    contact_office_country = models.CharField(max_length=128, blank=True)
    contact_office_country_code = models.CharField(max_length=8, blank=True)
    contact_office_phone = models.CharField(max_length=64, blank=True)
    contact_mobile_phone = models.CharField(max_length=64, blank=True)
    contact_direct_phone = models.CharField(max_length=64, blank=True)

    email_norm = models.CharField(max_length=255, blank=True)
    linkedin_norm = models.CharField(max_length=255, blank=True)
    first_norm = models.CharField(max_length=128, blank=True)
    last_norm = models.CharField(max_length=128, blank=True)
    company_name_norm = models.CharField(max_length=255, blank=True)
    company_domain_norm = models.CharField(max_length=255, blank=True)
    opted_out = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "people"
        constraints = [models.UniqueConstraint(fields=["source_key"], name="person_source_key_unique")]
        # The company leads: a batch names ~100 companies but its last names ("smith") are shared by thousands.
        indexes = [
            models.Index(fields=["email_norm"], name="person_email_norm"),
            models.Index(fields=["linkedin_norm"], name="person_linkedin_norm"),
            models.Index(fields=["company_domain_norm", "last_norm"], name="person_domain_last"),
            models.Index(fields=["company_name_norm", "last_norm"], name="person_company_last"),
            models.Index(fields=["company", "job_level"], name="person_company_level"),
        ]

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() or self.source_key


class LinkedInSnapshot(models.Model):
    """The newest scraped LinkedIn profile snapshot per profile: a lookup source, and the evidence
    for the still-in-company check."""

    linkedin_norm = models.CharField(max_length=255, unique=True)
    contact_linkedin_url = models.CharField(max_length=255)
    first_name = models.CharField(max_length=128, blank=True)
    last_name = models.CharField(max_length=128, blank=True)
    job_title = models.CharField(max_length=255, blank=True)
    company_name = models.CharField(max_length=255, blank=True)
    company_website = models.CharField(max_length=255, blank=True)
    location = models.CharField(max_length=255, blank=True)
    company_name_norm = models.CharField(max_length=255, blank=True)
    company_domain_norm = models.CharField(max_length=255, blank=True)
    first_norm = models.CharField(max_length=128, blank=True)
    last_norm = models.CharField(max_length=128, blank=True)
    scraped_at = models.DateTimeField()

    def __str__(self):
        return f"{self.contact_linkedin_url} @ {self.scraped_at:%Y-%m-%d}"


class Suppression(models.Model):
    """Compliance: a person (email, LinkedIn URL) or a whole domain never returned by any endpoint or job."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        LINKEDIN = "linkedin", "LinkedIn URL"
        DOMAIN = "domain", "Domain"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=255, help_text="Stored normalized.")
    reason = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="suppression_once")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.value}"
