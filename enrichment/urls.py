from django.urls import path

from enrichment import apis

urlpatterns = [
    path("enrichment/submit/", apis.SubmitApi.as_view(), name="enrichment-submit"),
    path("enrichment/estimate/", apis.EstimateApi.as_view(), name="enrichment-estimate"),
]
