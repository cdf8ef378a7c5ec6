"""Status, status list, results and pause/resume: the job endpoints around Submit."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from ecore.exceptions import ValidationFailed, format_credits
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


class JobStatusApi(APIView):
    @extend_schema(summary="A job's status, progress, credits and per-field statistics",
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request, job_id):
        return Response(job_status_document(job_for_user(user=request.user, job_id=job_id)))


class JobListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)
        record_count = serializers.IntegerField(required=False, min_value=1)
        status = serializers.CharField(required=False)

    @extend_schema(summary="The caller's jobs, newest first", operation_id="enrichment_status_list",
                   responses={200: OpenApiTypes.OBJECT}, parameters=[
        OpenApiParameter("created_after", str), OpenApiParameter("created_before", str),
        OpenApiParameter("record_count", int), OpenApiParameter("status", str),
        OpenApiParameter("page", int), OpenApiParameter("page_size", int)])
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        if not filters.is_valid():
            raise ValidationFailed(filters.errors)
        paginator = Pagination()
        page = paginator.paginate_queryset(jobs_for_user(user=request.user, **filters.validated_data), request, self)
        return paginator.get_paginated_response([job_summary(job) for job in page])


class JobResultsApi(APIView):
    DOWNLOADS = {
        "csv": ("text/csv; charset=utf-8", "csv", rows_as_csv),
        "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", rows_as_xlsx),
    }

    @extend_schema(summary="Result rows in input order (JSON pages, or ?format=csv / ?format=xlsx)",
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT}, parameters=[
        OpenApiParameter("format", str, enum=["json", "csv", "xlsx"]), OpenApiParameter("page", int),
        OpenApiParameter("page_size", int)])
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

    @extend_schema(summary="Pause or resume a job", request=InputSerializer, responses={200: inline_serializer(
        "ControlResponse", {"job_id": serializers.UUIDField(), "action": serializers.CharField(),
                            "status": serializers.CharField(), "message": serializers.CharField()})})
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
