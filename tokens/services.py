import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from ecore.exceptions import ApplicationError
from pricing.models import Subscription, SubscriptionPlan
from tokens.models import ApiToken, TestTokenUsage
from wallet.models import Wallet

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


def api_token_by_prefix(prefix: str) -> ApiToken | None:
    """The token a full token or its displayed prefix (`eck_live_<lookup key>`) names, usable or not."""
    kind = next((kind for kind, start in TOKEN_PREFIXES.items() if prefix.startswith(start)), None)
    if kind is None:
        return None
    lookup_key = prefix[len(TOKEN_PREFIXES[kind]):len(TOKEN_PREFIXES[kind]) + LOOKUP_KEY_LENGTH]
    if len(lookup_key) != LOOKUP_KEY_LENGTH:
        return None
    return ApiToken.objects.select_related("user").filter(kind=kind, lookup_key=lookup_key).first()


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


@dataclass(frozen=True)
class _TokenQuery:
    sql: str
    token_fields: list[str]
    user_fields: list[str]


@lru_cache(maxsize=1)
def _token_query() -> _TokenQuery:
    user_model = get_user_model()
    token_columns = [f"t.{field.column}" for field in ApiToken._meta.concrete_fields]
    user_columns = [f"u.{field.column}" for field in user_model._meta.concrete_fields]
    sql = f"""
        SELECT {", ".join(token_columns + user_columns)},
            (SELECT p.rate_limit_per_second
             FROM {Subscription._meta.db_table} s JOIN {SubscriptionPlan._meta.db_table} p ON p.id = s.plan_id
             WHERE s.user_id = t.user_id AND s.is_active AND (s.ends_at IS NULL OR s.ends_at >= now())
             LIMIT 1),
            (SELECT w.balance FROM {Wallet._meta.db_table} w WHERE w.user_id = t.user_id)
        FROM {ApiToken._meta.db_table} t JOIN {user_model._meta.db_table} u ON u.id = t.user_id
        WHERE t.lookup_key = %s AND t.kind = %s
    """
    return _TokenQuery(sql=sql, token_fields=[field.attname for field in ApiToken._meta.concrete_fields],
                       user_fields=[field.attname for field in user_model._meta.concrete_fields])


def api_token_find(plaintext: str) -> ApiToken | None:
    """The usable token whose digest matches `plaintext`, or None.

    Every authenticated request needs the token, its user, the user's plan rate limit and wallet
    balance, so one query loads them all: `token.plan_rate_limit` (None without a plan) and
    `token.owner_balance` (0 without a wallet) are as they stood when the request arrived.
    """
    kind = next((kind for kind, prefix in TOKEN_PREFIXES.items() if plaintext.startswith(prefix)), None)
    if kind is None:
        return None
    prefix = TOKEN_PREFIXES[kind]
    lookup_key = plaintext[len(prefix):len(prefix) + LOOKUP_KEY_LENGTH]
    query = _token_query()
    with connection.cursor() as cursor:
        cursor.execute(query.sql, [lookup_key, kind])
        row = cursor.fetchone()
    if row is None:
        return None
    user_start, user_end = len(query.token_fields), len(query.token_fields) + len(query.user_fields)
    token = ApiToken.from_db(connection.alias, query.token_fields, row[:user_start])
    token.user = get_user_model().from_db(connection.alias, query.user_fields, row[user_start:user_end])
    token.plan_rate_limit, balance = row[user_end:]
    token.owner_balance = balance if balance is not None else Decimal("0")
    if not hmac.compare_digest(token.digest, _digest(plaintext)):
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
