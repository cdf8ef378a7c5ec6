"""The caller's webhook signing secret: read it, or rotate it."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enrichment.webhooks import webhook_secret_for_user, webhook_secret_rotate

SECRET_RESPONSE = inline_serializer("WebhookSecretResponse", {
    "secret": serializers.CharField(), "created_at": serializers.DateTimeField(),
    "signature_header": serializers.CharField(), "signature_scheme": serializers.CharField()})


def _secret_body(secret) -> dict:
    return {
        "secret": secret.secret,
        "created_at": secret.created_at.isoformat(),
        "signature_header": "X-Ecore-Signature",
        "signature_scheme": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>',
    }


class WebhookSecretApi(APIView):
    @extend_schema(summary="The secret your job webhooks are signed with", responses={200: SECRET_RESPONSE})
    def get(self, request):
        return Response(_secret_body(webhook_secret_for_user(user=request.user)))

    @extend_schema(summary="Rotate the webhook secret (the old one stops signing at once)", request=None,
                   responses={200: SECRET_RESPONSE})
    def post(self, request):
        return Response(_secret_body(webhook_secret_rotate(user=request.user)))
