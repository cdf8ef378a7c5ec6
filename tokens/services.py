import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from ecore.exceptions import ApplicationError
from tokens.models import ApiToken, TestTokenUsage

TOKEN_PREFIXES = {ApiToken.Kind.LIVE: "eck_live_", ApiToken.Kind.TEST: "eck_test_"}
LOOKUP_KEY_LENGTH = 12
SECRET_LENGTH = 32


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _random_chars(length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def api_token_create(*, user, kind: str = ApiToken.Kind.LIVE, name: str = "", daily_limit: int | None = None,
                     expires_at: datetime | None = None) -> IssuedToken:
    lookup_key = _random_chars(LOOKUP_KEY_LENGTH)
    plaintext = TOKEN_PREFIXES[kind] + lookup_key + _random_chars(SECRET_LENGTH)
    token = ApiToken(user=user, kind=kind, name=name, lookup_key=lookup_key, digest=_digest(plaintext),
                     expires_at=expires_at)
    if daily_limit is not None:
        token.daily_limit = daily_limit
    token.save()
    return IssuedToken(token=token, plaintext=plaintext)


@transaction.atomic
def api_token_create_for_username(*, username: str, kind: str, daily_limit: int | None = None) -> IssuedToken:
    user, _ = get_user_model().objects.get_or_create(username=username)
    return api_token_create(user=user, kind=kind, daily_limit=daily_limit, name="created from the shell")


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_find(plaintext: str) -> ApiToken | None:
    """The usable token whose digest matches `plaintext`, or None."""
    kind = next((kind for kind, prefix in TOKEN_PREFIXES.items() if plaintext.startswith(prefix)), None)
    if kind is None:
        return None
    prefix = TOKEN_PREFIXES[kind]
    lookup_key = plaintext[len(prefix):len(prefix) + LOOKUP_KEY_LENGTH]
    token = ApiToken.objects.select_related("user").filter(lookup_key=lookup_key, kind=kind).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(plaintext)):
        return None
    return token if token.is_usable else None


class DailyQuotaExceeded(ApplicationError):
    status_code = 429

    def __init__(self, current_usage: int, daily_limit: int):
        super().__init__({"error": {
            "message": "Daily usage limit exceeded for this test token.",
            "current_usage": current_usage,
            "daily_limit": daily_limit,
            "resets_at": "midnight UTC",
        }})


def test_token_record_request(*, token: ApiToken) -> int:
    """Counts one request against a test token's UTC-day quota; raises once the quota is spent.

    A single upsert that only increments below the limit, so concurrent requests can never
    push the counter past it.
    """
    if token.daily_limit == 0:
        raise DailyQuotaExceeded(current_usage=0, daily_limit=0)
    today = datetime.now(UTC).date()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TestTokenUsage._meta.db_table} (token_id, day, count) VALUES (%s, %s, 1)
            ON CONFLICT (token_id, day) DO UPDATE SET count = {TestTokenUsage._meta.db_table}.count + 1
            WHERE {TestTokenUsage._meta.db_table}.count < %s
            RETURNING count
            """,
            [token.pk, today, token.daily_limit],
        )
        row = cursor.fetchone()
    if row is None:
        raise DailyQuotaExceeded(current_usage=token.daily_limit, daily_limit=token.daily_limit)
    return row[0]
