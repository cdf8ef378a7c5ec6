"""The caller's account: balance and limits, where the credits went (usage), and the ledger itself."""

import csv
from datetime import UTC, date, datetime, time, timedelta

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ecore.exceptions import ValidationFailed, format_credits
from ecore.openapi import INVALID_PAGE, page_of, validation_failed
from enrichment.job_apis import Pagination
from enrichment.selectors import account_overview
from wallet.selectors import USAGE_GROUPS, ledger_entries_for_user, ledger_reason, usage_for_user

ACCOUNT_RESPONSE = inline_serializer("AccountResponse", {
    "username": serializers.CharField(),
    "balance": serializers.CharField(help_text="Credits in the wallet, exact."),
    "plan": inline_serializer("AccountPlan", {
        "name": serializers.CharField(allow_null=True),
        "records_per_submission": serializers.IntegerField(),
        "rate_limit_per_second": serializers.IntegerField()}),
    "token": inline_serializer("AccountToken", {
        "kind": serializers.CharField(), "name": serializers.CharField(),
        "daily_limit": serializers.IntegerField(allow_null=True),
        "requests_today": serializers.IntegerField(allow_null=True),
        "requests_left_today": serializers.IntegerField(allow_null=True)}),
    "spend_caps": inline_serializer("AccountSpendCap", {
        "cap": serializers.CharField(help_text="token_daily, token_monthly, user_daily or user_monthly"),
        "limit": serializers.CharField(), "spent": serializers.CharField(), "remaining": serializers.CharField(),
        "resets_at": serializers.DateTimeField()}, many=True),
})
LEDGER_COLUMNS = ("created_at", "kind", "reason", "amount", "balance_after", "job_id", "note")
USAGE_PAGE = page_of("UsagePage", inline_serializer("UsageRow", {
    **{group: serializers.CharField(required=False, allow_null=True, help_text=f"group_by={group}")
       for group in USAGE_GROUPS},
    "charged": serializers.CharField(), "refunded": serializers.CharField(), "net": serializers.CharField(),
    "rows": serializers.IntegerField(), "lookups": serializers.IntegerField()}, many=True))
LEDGER_PAGE = page_of("LedgerPage", inline_serializer("LedgerRow", {
    "created_at": serializers.DateTimeField(), "kind": serializers.CharField(), "reason": serializers.CharField(),
    "amount": serializers.CharField(), "balance_after": serializers.CharField(),
    "job_id": serializers.UUIDField(allow_null=True), "note": serializers.CharField()}, many=True))


class PeriodSerializer(serializers.Serializer):
    """`from` and `to` are UTC days, both included."""

    def get_fields(self):
        return {"from": serializers.DateField(required=False), "to": serializers.DateField(required=False)}


def _period(query_params, serializer_class=PeriodSerializer) -> dict:
    period = serializer_class(data=query_params)
    if not period.is_valid():
        raise ValidationFailed(period.errors)
    valid = dict(period.validated_data)
    start, end = valid.pop("from", None), valid.pop("to", None)
    return {**valid,
            "created_after": datetime.combine(start, time.min, tzinfo=UTC) if start else None,
            "created_before": (datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
                               if end and end < date.max else None)}


PERIOD_PARAMETERS = [OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day (included)"),
                     OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day (included)")]


class AccountApi(APIView):
    @extend_schema(summary="Your balance, your plan's limits and this token's quota", responses={200: ACCOUNT_RESPONSE})
    def get(self, request):
        return Response(account_overview(token=request.auth))


class AccountUsageApi(APIView):
    class FilterSerializer(PeriodSerializer):
        def get_fields(self):
            return {**super().get_fields(), "group_by": serializers.ChoiceField(choices=USAGE_GROUPS, default="day")}

    @extend_schema(summary="Where your credits went: charged, refunded and net per day, job or endpoint",
                   parameters=[*PERIOD_PARAMETERS, OpenApiParameter("group_by", str, enum=list(USAGE_GROUPS)),
                               OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses={200: USAGE_PAGE, 400: validation_failed("A date or group_by that does not parse"),
                              404: INVALID_PAGE})
    def get(self, request):
        period = _period(request.query_params, self.FilterSerializer)
        groups = usage_for_user(user=request.user, **period)
        paginator = Pagination()
        page = paginator.paginate_queryset(groups, request, self)
        return paginator.get_paginated_response([_usage_row(group) for group in page])


def _usage_row(group: dict) -> dict:
    key = next(iter(group))
    value = group[key]
    return {key: value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else value),
            **{name: format_credits(group[name]) for name in ("charged", "refunded", "net")},
            "rows": group["rows"], "lookups": group["lookups"]}


def _ledger_row(entry) -> dict:
    return {"created_at": entry.created_at.isoformat(), "kind": entry.kind, "reason": ledger_reason(entry),
            "amount": format_credits(entry.amount), "balance_after": format_credits(entry.balance_after),
            "job_id": str(entry.job.job_id) if entry.job else None, "note": entry.note}


class _Echo:
    """A file whose `write` hands back what it was given, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


class AccountLedgerApi(APIView):
    @extend_schema(summary="Your ledger, newest first: every movement of your credits (JSON pages or ?format=csv)",
                   parameters=[*PERIOD_PARAMETERS, OpenApiParameter("format", str, enum=["json", "csv"]),
                               OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses={200: LEDGER_PAGE, (200, "text/csv"): OpenApiTypes.STR,
                              400: validation_failed('A date that does not parse, or {"format": "Use json or csv."}'),
                              404: INVALID_PAGE})
    def get(self, request):
        entries = ledger_entries_for_user(user=request.user, **_period(request.query_params))
        export_format = request.query_params.get("format", "json")
        if export_format == "csv":
            response = StreamingHttpResponse(_ledger_csv_lines(entries), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="ledger.csv"'
            return response
        if export_format != "json":
            raise ValidationFailed({"format": "Use json or csv."})
        paginator = Pagination()
        page = paginator.paginate_queryset(entries, request, self)
        return paginator.get_paginated_response([_ledger_row(entry) for entry in page])


def _ledger_csv_lines(entries):
    """The ledger as CSV lines, read from the database in chunks: memory stays flat however long it is."""
    writer = csv.writer(_Echo())
    yield writer.writerow(LEDGER_COLUMNS)
    for entry in entries.iterator(chunk_size=2000):
        row = _ledger_row(entry)
        yield writer.writerow(["" if row[name] is None else row[name] for name in LEDGER_COLUMNS])
