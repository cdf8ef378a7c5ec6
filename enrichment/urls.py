from django.urls import path

from enrichment import account_apis, apis, job_apis, single_apis, webhook_apis

urlpatterns = [
    path("enrichment/submit/", apis.SubmitApi.as_view(), name="enrichment-submit"),
    path("enrichment/estimate/", apis.EstimateApi.as_view(), name="enrichment-estimate"),
    path("enrichment/status/", job_apis.JobListApi.as_view(), name="enrichment-status-list"),
    path("enrichment/status/<str:job_id>/", job_apis.JobStatusApi.as_view(), name="enrichment-status"),
    path("enrichment/results/<str:job_id>/", job_apis.JobResultsApi.as_view(), name="enrichment-results"),
    path("enrichment-control/", job_apis.JobControlApi.as_view(), name="enrichment-control"),
    path("enrichment/single/", single_apis.PersonCompanyEnrichmentApi.as_view(), name="enrichment-single"),
    path("external/phone/enrichment/", single_apis.PhoneEnrichmentApi.as_view(), name="external-phone-enrichment"),
    path("external/email/enrichment/", single_apis.EmailEnrichmentApi.as_view(), name="external-email-enrichment"),
    path("account/", account_apis.AccountApi.as_view(), name="account"),
    path("account/usage/", account_apis.AccountUsageApi.as_view(), name="account-usage"),
    path("account/ledger/", account_apis.AccountLedgerApi.as_view(), name="account-ledger"),
    path("account/webhook-secret/", webhook_apis.WebhookSecretApi.as_view(), name="account-webhook-secret"),
]
