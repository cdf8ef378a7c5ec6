"""The caller's account: balance, plan limits and token, so a client can size its submissions."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enrichment.selectors import account_overview

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
})


class AccountApi(APIView):
    @extend_schema(summary="Your balance, your plan's limits and this token's quota", responses={200: ACCOUNT_RESPONSE})
    def get(self, request):
        return Response(account_overview(token=request.auth))
