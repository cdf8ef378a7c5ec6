from django import forms
from django.contrib import admin

from sources.compliance import suppression_value_normalized
from sources.models import Company, LinkedInSnapshot, Person, Suppression


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ("kind", "value", "reason")

    def clean(self):
        cleaned = super().clean()
        kind, value = cleaned.get("kind"), cleaned.get("value")
        if kind and value:
            normalized = suppression_value_normalized(kind=kind, value=value)
            if not normalized:
                self.add_error("value", f"Not a usable {Suppression.Kind(kind).label}.")
            cleaned["value"] = normalized
        return cleaned


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionForm
    list_display = ("kind", "value", "reason", "created_at")
    list_filter = ("kind",)
    search_fields = ("value", "reason")
    readonly_fields = ("created_at",)


class DataCoreAdmin(admin.ModelAdmin):
    """DataCore is imported, and its `*_norm` keys derive from the imported values: only `opted_out` is edited here."""

    list_editable = ("opted_out",)
    list_filter = ("opted_out",)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name != "opted_out"]

    def has_add_permission(self, request):
        return False


@admin.register(Company)
class CompanyAdmin(DataCoreAdmin):
    list_display = ("company_name", "domain_norm", "industry", "company_hq_country_code", "opted_out", "last_seen_at")
    search_fields = ("company_name", "name_norm", "domain_norm", "company_website")


@admin.register(Person)
class PersonAdmin(DataCoreAdmin):
    list_display = ("__str__", "contact_email", "job_title", "company", "company_domain_norm", "opted_out",
                    "last_seen_at")
    list_select_related = ("company",)
    search_fields = ("first_name", "last_name", "email_norm", "contact_email", "linkedin_norm",
                     "company_domain_norm", "company__company_name")


@admin.register(LinkedInSnapshot)
class LinkedInSnapshotAdmin(admin.ModelAdmin):
    list_display = ("contact_linkedin_url", "first_name", "last_name", "job_title", "company_name", "scraped_at")
    search_fields = ("linkedin_norm", "first_name", "last_name", "company_name", "company_domain_norm")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
