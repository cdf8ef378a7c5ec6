"""Status, status list, results and pause/resume: the job endpoints around Submit."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from ecore.exceptions import ValidationFailed, format_credits
from ecore.openapi import (
    INVALID_PAGE,
    JOB_NOT_FOUND,
    JOB_OR_PAGE_NOT_FOUND,
    PRICE_MISSING,
    error_response,
    page_of,
    validation_failed,
)
from enrichment.apis import credit_headers
from enrichment.exports import rows_as_csv, rows_as_xlsx
from enrichment.selectors import (
    job_is_finished,
    job_result_rows,
    job_status_document,
    job_summary,
    jobs_for_user,
)
from enrichment.services import job_for_user, job_request_pause, job_resume


class Pagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


def _nullable_object() -> serializers.DictField:
    return serializers.DictField(allow_null=True)


JOB_STATUS = inline_serializer("JobStatus", {
    "job_id": serializers.UUIDField(), "status": serializers.CharField(), "current_stage": serializers.CharField(),
    "type": serializers.CharField(), "level": serializers.CharField(),
    "fields_to_enrich": serializers.ListField(child=serializers.CharField()), "criteria": _nullable_object(),
    "progress": inline_serializer("JobProgress", {
        "rows_total": serializers.IntegerField(), "rows_processed": serializers.IntegerField(),
        "percent": serializers.FloatField()}),
    "credits": inline_serializer("JobCredits", {
        "estimated": serializers.CharField(), "charged": serializers.CharField(),
        "refunded": serializers.CharField(), "net": serializers.CharField()}),
    "field_stats": _nullable_object(), "stages": serializers.ListField(child=serializers.DictField()),
    "checkpoint": _nullable_object(), "pause_requested": serializers.BooleanField(),
    "created_at": serializers.DateTimeField(), "started_at": serializers.DateTimeField(allow_null=True),
    "finished_at": serializers.DateTimeField(allow_null=True), "updated_at": serializers.DateTimeField(),
    "failure": _nullable_object(), "webhooks": serializers.ListField(child=serializers.DictField()),
})
JOB_SUMMARY = inline_serializer("JobSummary", {
    "job_id": serializers.UUIDField(), "status": serializers.CharField(), "type": serializers.CharField(),
    "level": serializers.CharField(), "record_count": serializers.IntegerField(),
    "rows_processed": serializers.IntegerField(), "estimated_credits": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(), "finished_at": serializers.DateTimeField(allow_null=True),
}, many=True)
RESULTS_PAGE = page_of(
    "ResultsPage", serializers.ListField(child=serializers.DictField()), job_id=serializers.UUIDField(),
    status=serializers.CharField(), partial=serializers.BooleanField(help_text="The job is still running."))
CSV, XLSX = "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("page_size", int)]


class JobStatusApi(APIView):
    @extend_schema(summary="A job's status, progress, credits and per-field statistics",
                   responses={200: JOB_STATUS, 404: JOB_NOT_FOUND})
    def get(self, request, job_id):
        return Response(job_status_document(job_for_user(user=request.user, job_id=job_id)))


class JobListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)
        record_count = serializers.IntegerField(required=False, min_value=1)
        status = serializers.CharField(required=False)

    @extend_schema(summary="The caller's jobs, newest first", operation_id="enrichment_status_list",
                   responses={200: page_of("JobList", JOB_SUMMARY),
                              400: validation_failed("A filter that does not parse, e.g. "
                                                     '{"created_after": ["Datetime has wrong format. …"]}'),
                              404: INVALID_PAGE},
                   parameters=[OpenApiParameter("created_after", OpenApiTypes.DATETIME),
                               OpenApiParameter("created_before", OpenApiTypes.DATETIME),
                               OpenApiParameter("record_count", int), OpenApiParameter("status", str),
                               *PAGE_PARAMETERS])
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        if not filters.is_valid():
            raise ValidationFailed(filters.errors)
        paginator = Pagination()
        page = paginator.paginate_queryset(jobs_for_user(user=request.user, **filters.validated_data), request, self)
        return paginator.get_paginated_response([job_summary(job) for job in page])


class JobResultsApi(APIView):
    DOWNLOADS = {
        "csv": (f"{CSV}; charset=utf-8", "csv", rows_as_csv),
        "xlsx": (XLSX, "xlsx", rows_as_xlsx),
    }

    @extend_schema(
        summary="Result rows in input order (JSON pages, or ?format=csv / ?format=xlsx)",
        responses={200: RESULTS_PAGE, **{(200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description=(
            "?format=csv or ?format=xlsx: every row, as an attachment (formula cells escaped); "
            "X-Results-Partial says whether the job is still running."))
            for content_type in (CSV, XLSX)},
            400: validation_failed('{"format": "Use json, csv or xlsx."}'), 404: JOB_OR_PAGE_NOT_FOUND},
        parameters=[OpenApiParameter("format", str, enum=["json", "csv", "xlsx"]), *PAGE_PARAMETERS])
    def get(self, request, job_id):
        job = job_for_user(user=request.user, job_id=job_id)
        columns, rows = job_result_rows(job)
        partial = not job_is_finished(job)
        export_format = request.query_params.get("format", "json")
        if export_format in self.DOWNLOADS:
            content_type, extension, render = self.DOWNLOADS[export_format]
            response = HttpResponse(render(columns, rows), content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="enrichment-{job.job_id}.{extension}"'
            response["X-Results-Partial"] = "true" if partial else "false"
            return response
        if export_format != "json":
            raise ValidationFailed({"format": "Use json, csv or xlsx."})
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, self)
        response = paginator.get_paginated_response(page)
        response.data.update({"job_id": str(job.job_id), "status": job.status, "partial": partial})
        return response


class JobControlApi(APIView):
    class InputSerializer(serializers.Serializer):
        job_id = serializers.UUIDField()
        action = serializers.ChoiceField(choices=["pause", "resume"])

    @extend_schema(summary="Pause or resume a job", request=InputSerializer, responses={
        200: inline_serializer("ControlResponse", {
            "job_id": serializers.UUIDField(), "action": serializers.CharField(), "status": serializers.CharField(),
            "message": serializers.CharField(),
            "charged_credits": serializers.CharField(required=False, help_text="resume: the remainder's price"),
            "remaining_rows": serializers.IntegerField(required=False, help_text="resume: rows still to do")}),
        400: validation_failed("Field errors; a job that cannot be paused or resumed in its status; or, on resume, "
                               '{"error": "Cannot resume: the pause checkpoint is missing or invalid."}'),
        402: error_response("resume: You require N credits, but only M are available."),
        404: JOB_NOT_FOUND, **PRICE_MISSING})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationFailed(serializer.errors)
        job_id, action = serializer.validated_data["job_id"], serializer.validated_data["action"]
        if action == "pause":
            job = job_request_pause(user=request.user, job_id=job_id)
            message = ("Job paused." if job.status == "Paused"
                       else "Pause requested; the job stops at its next batch boundary.")
            body = {"job_id": str(job.job_id), "action": action, "status": job.status, "message": message}
        else:
            job, estimate = job_resume(user=request.user, job_id=job_id, token_id=request.auth.pk)
            body = {"job_id": str(job.job_id), "action": action, "status": job.status,
                    "message": "Job resumed.", "charged_credits": format_credits(estimate.total),
                    "remaining_rows": estimate.row_count}
            return Response(body, headers=credit_headers(charged=estimate.total, user=request.user))
        return Response(body)
