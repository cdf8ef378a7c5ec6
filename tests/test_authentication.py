"""Bearer/Token authentication, hashed prefixed tokens, and the test-token daily quota."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tokens.models import ApiToken, TestTokenUsage
from tokens.services import api_token_find, api_token_revoke

pytestmark = pytest.mark.django_db

ESTIMATE = "/api/v1/enrichment/estimate/"
BODY = {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
        "data": [{"first_name": "Jane", "last_name": "Doe"}]}


def test_live_token_authenticates_with_bearer_and_token_schemes(make_client, alice):
    assert make_client(alice).post(ESTIMATE, BODY, format="json").status_code == 200
    assert make_client(alice, scheme="Token").post(ESTIMATE, BODY, format="json").status_code == 200


def test_tokens_are_stored_only_as_a_hash_with_a_recognisable_prefix(make_client, alice):
    issued = make_client(alice).token
    assert issued.plaintext.startswith("eck_live_")
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.plaintext not in {stored.digest, stored.lookup_key}
    assert len(stored.digest) == 64
    assert api_token_find(issued.plaintext) == stored
    assert api_token_find(issued.plaintext[:-1] + ("A" if issued.plaintext[-1] != "A" else "B")) is None


@pytest.mark.parametrize("header", [
    "Bearer eck_live_doesnotexistatallxxxxxxxxxxxxxxxxxxxxxxx",
    "Bearer not-even-our-format",
    "Basic dXNlcjpwYXNz",
    "Bearer",
    "Bearer a b",
])
def test_unknown_tokens_get_the_seed_401(client, header):
    response = client.post(ESTIMATE, BODY, content_type="application/json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or expired token"}


def test_missing_header_gets_the_seed_401(client):
    response = client.post(ESTIMATE, BODY, content_type="application/json")
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or expired token"}


def test_revoked_token_is_rejected(make_client, alice):
    api = make_client(alice)
    api_token_revoke(token=api.token.token)
    response = api.post(ESTIMATE, BODY, format="json")
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or expired token"}


def test_expired_token_is_rejected(make_client, alice):
    api = make_client(alice, expires_at=timezone.now() - timedelta(seconds=1))
    assert api.post(ESTIMATE, BODY, format="json").json() == {"message": "Invalid or expired token"}


def test_inactive_user_is_rejected(make_user, make_client):
    user = make_user("gone")
    api = make_client(user)
    user.is_active = False
    user.save()
    response = api.post(ESTIMATE, BODY, format="json")
    assert response.status_code == 401
    assert response.json() == {"message": "User is inactive or deleted"}


def test_test_token_quota_returns_the_seed_429_after_the_daily_limit(make_user, make_client):
    api = make_client(make_user("sandbox", credits=100), kind=ApiToken.Kind.TEST, daily_limit=3)
    assert api.token.plaintext.startswith("eck_test_")
    for _ in range(3):
        assert api.post(ESTIMATE, BODY, format="json").status_code == 200
    response = api.post(ESTIMATE, BODY, format="json")
    assert response.status_code == 429
    assert response.json() == {"error": {"message": "Daily usage limit exceeded for this test token.",
                                         "current_usage": 3, "daily_limit": 3, "resets_at": "midnight UTC"}}
    assert TestTokenUsage.objects.get(token=api.token.token).count == 3


def test_quota_is_checked_at_authentication_before_validation(make_user, make_client):
    api = make_client(make_user("sandbox"), kind=ApiToken.Kind.TEST, daily_limit=0)
    response = api.post(ESTIMATE, {"type": "bogus"}, format="json")
    assert response.status_code == 429


def test_live_tokens_have_no_daily_quota(make_client, alice):
    api = make_client(alice, daily_limit=1)
    for _ in range(3):
        assert api.post(ESTIMATE, BODY, format="json").status_code == 200


def test_create_api_token_command_prints_only_the_token(capsys):
    call_command("create_api_token", "carol")
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("eck_live_") and "\n" not in printed
    assert api_token_find(printed).user.username == "carol"


def test_create_api_token_command_issues_test_tokens_with_a_limit(capsys):
    call_command("create_api_token", "dave", "--test", "--daily-limit", "7")
    token = api_token_find(capsys.readouterr().out.strip())
    assert token.kind == "test" and token.daily_limit == 7
