"""The OpenAPI schema documents Submit's two modes; the admin pages operators use render."""

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_documents_submit_in_both_modes(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    submit = schema["paths"]["/api/v1/enrichment/submit/"]["post"]
    assert set(submit["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert {"200", "400", "401", "402", "429"} <= set(submit["responses"])
    assert "/api/v1/enrichment-control/" in schema["paths"]


def _request_schemas(schema: dict, path: str) -> dict[str, dict]:
    content = schema["paths"][path]["post"]["requestBody"]["content"]
    components = schema["components"]["schemas"]
    return {media_type: components[body["schema"]["$ref"].rpartition("/")[2]] for media_type, body in content.items()}


@pytest.mark.parametrize("path", ["/api/v1/enrichment/submit/", "/api/v1/enrichment/estimate/"])
def test_both_request_schemas_list_every_field_the_serializers_accept(client, path):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    requests = _request_schemas(schema, path)
    for media_type, request in requests.items():
        assert {"type", "level", "fields_to_enrich", "criteria", "min_confidence", "webhook_url"} <= set(
            request["properties"]), media_type
    assert "file" in requests["multipart/form-data"]["properties"]
    assert "data" in requests["application/json"]["required"]
    assert "data" not in requests["multipart/form-data"]["required"]


def test_swagger_ui_is_served(client):
    assert client.get("/api/docs/").status_code == 200


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", None)
    client.force_login(admin)
    return client


@pytest.mark.parametrize("url", ["/admin/tokens/apitoken/", "/admin/tokens/apitoken/add/", "/admin/pricing/price/",
                                 "/admin/pricing/subscriptionplan/", "/admin/wallet/wallet/",
                                 "/admin/wallet/ledgerentry/", "/admin/enrichment/job/"])
def test_admin_pages_render(admin_client, url):
    assert admin_client.get(url).status_code == 200


def test_admin_top_up_writes_a_ledger_entry(admin_client, make_user):
    from decimal import Decimal

    from wallet.models import LedgerEntry, Wallet
    from wallet.selectors import ledger_sum

    user = make_user("customer", credits=10)
    wallet = Wallet.objects.get(user=user)
    assert admin_client.get(f"/admin/wallet/wallet/{wallet.pk}/change/").status_code == 200
    response = admin_client.post(f"/admin/wallet/wallet/{wallet.pk}/topup/", {"amount": "25", "note": "invoice 7"})
    assert response.status_code == 302
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("35") == ledger_sum(user=user)
    assert LedgerEntry.objects.filter(wallet=wallet, kind="topup", note="invoice 7").exists()
    refused = admin_client.post(f"/admin/wallet/wallet/{wallet.pk}/adjust/", {"amount": "-100", "note": "oops"})
    assert refused.status_code == 200 and b"You require 100 credits" in refused.content


def test_admin_creates_a_token_and_shows_it_once(admin_client, make_user):
    from tokens.models import ApiToken

    user = make_user("customer")
    response = admin_client.post("/admin/tokens/apitoken/add/", {
        "user": user.pk, "name": "ci", "kind": "live", "daily_limit": 100}, follow=True)
    assert response.status_code == 200
    messages = [str(message) for message in response.context["messages"]]
    assert any("eck_live_" in message for message in messages)
    assert ApiToken.objects.filter(user=user).count() == 1


def test_api_requests_skip_the_admins_sessions_and_messages(api_client, admin_client):
    """The API authenticates by token: a session cookie is neither read nor renewed there."""
    api_client.cookies = admin_client.cookies
    response = api_client.get("/api/v1/enrichment/status/")
    assert response.status_code == 200
    assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "_messages")
    assert "Cookie" not in response.get("Vary", "")
    assert "sessionid" not in response.cookies


def test_the_admin_still_refuses_a_post_without_its_csrf_token(django_user_model):
    from django.test import Client

    django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-password")
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/admin/login/", {"username": "admin", "password": "secret-password"}).status_code == 403
    strict.get("/admin/login/")
    token = strict.cookies["csrftoken"].value
    response = strict.post("/admin/login/", {"username": "admin", "password": "secret-password",
                                             "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and "sessionid" in response.cookies
