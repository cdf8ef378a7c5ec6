"""Per-token request limits on the single-record endpoints, shared by every process through Redis.

A sliding one-second window: a token may make at most `limit` requests in any second. Each
token's window is a sorted set of the times of its accepted requests; one Lua script trims it,
counts it and admits the request atomically, on Redis's clock, so web processes on different
machines agree and none can slip a request past the limit between a read and a write.
"""

import math
import uuid
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

from ecore.exceptions import ApplicationError
from pricing.models import SubscriptionPlan
from pricing.selectors import plan_for_user
from tokens.models import ApiToken

WINDOW_MICROSECONDS = 1_000_000
# A user without a plan gets what a new plan gets.
DEFAULT_LIMIT_PER_SECOND = SubscriptionPlan._meta.get_field("rate_limit_per_second").default
KEY_PREFIX = "ecore:ratelimit:token:"

SLIDING_WINDOW_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    count = count + 1
    allowed = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
end
return {allowed, limit - count, reset}
"""


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the oldest request in the window leaves it

    @property
    def retry_after_seconds(self) -> int:
        return max(self.reset_seconds, 1)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimitExceeded(ApplicationError):
    status_code = 429

    def __init__(self, decision: RateLimitDecision):
        retry_after = decision.retry_after_seconds
        super().__init__({"error": f"Rate limit exceeded. Retry after {retry_after} seconds."},
                         headers={**decision.headers, "Retry-After": str(retry_after)})


@lru_cache(maxsize=1)
def _sliding_window():
    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.register_script(SLIDING_WINDOW_SCRIPT)


def rate_limit_for_token(*, token: ApiToken) -> int:
    """Requests per second: the token's own limit, else its owner's plan's, else the default."""
    if token.rate_limit_per_second is not None:
        return token.rate_limit_per_second
    plan = plan_for_user(user=token.user)
    return plan.rate_limit_per_second if plan else DEFAULT_LIMIT_PER_SECOND


def rate_limit_hit(*, token: ApiToken) -> RateLimitDecision:
    """Counts one request of `token` if its window has room; says whether it may proceed."""
    limit = rate_limit_for_token(token=token)
    allowed, remaining, reset_microseconds = _sliding_window()(
        keys=[f"{KEY_PREFIX}{token.lookup_key}"], args=[limit, WINDOW_MICROSECONDS, uuid.uuid4().hex])
    return RateLimitDecision(allowed=bool(allowed), limit=limit, remaining=max(int(remaining), 0),
                             reset_seconds=math.ceil(int(reset_microseconds) / 1_000_000))
