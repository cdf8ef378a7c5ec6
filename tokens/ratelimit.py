"""Per-token request limits on the single-record endpoints, shared by every process through Redis.

GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp): a token may send
`limit` requests at once and then `limit` per second, so a client pacing itself at the limit is
never refused for jitter, and no client exceeds the limit over any stretch longer than a second.
One Lua script reads and advances the token's theoretical arrival time atomically, on Redis's
clock, so every web process agrees and none can slip a request in between a read and a write.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

from ecore.exceptions import ApplicationError
from ecore.metrics import RATE_LIMITED
from pricing.models import SubscriptionPlan
from tokens.models import ApiToken

logger = logging.getLogger(__name__)

PERIOD_MICROSECONDS = 1_000_000
# A user without a plan gets what a new plan gets.
DEFAULT_LIMIT_PER_SECOND = SubscriptionPlan._meta.get_field("rate_limit_per_second").default
KEY_PREFIX = "ecore:ratelimit:token:"

# KEYS[1]: the token's theoretical arrival time (TAT), microseconds on Redis's clock.
# ARGV: requests per period, the period in microseconds.
# Returns {allowed, remaining, microseconds until the bucket is full, microseconds until a retry may pass}.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
if limit < 1 then
    return {0, 0, 0, period}
end
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
    tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
    return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((period - (new_tat - now)) / interval), math.ceil(new_tat - now), 0}
"""


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int  # requests that may be sent at once right now
    reset_seconds: int  # until the full `limit` may be sent at once again
    retry_after_seconds: int  # until a refused request would pass; 0 when allowed

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
def _gcra():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
                                  socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS)
    return client.register_script(GCRA_SCRIPT)


class LocalGcra:
    """The same algorithm in this process's memory, for while Redis is down.

    Lookups stay available through an outage (a paid API that stops answering costs its customers
    more than a looser limit), and each process still enforces the token's limit on its own, so
    the service as a whole allows at most the limit times its number of web processes.
    """

    MAX_TOKENS = 10_000

    def __init__(self):
        self._arrivals: dict[str, float] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, period: int) -> tuple[int, int, int, int]:
        if limit < 1:
            return 0, 0, 0, period
        now = time.monotonic_ns() / 1000
        interval = period / limit
        with self._lock:
            if len(self._arrivals) > self.MAX_TOKENS:
                self._arrivals = {token: tat for token, tat in self._arrivals.items() if tat > now}
            tat = max(self._arrivals.get(key, now), now)
            new_tat = tat + interval
            allow_at = new_tat - period
            if now < allow_at:
                return 0, 0, math.ceil(tat - now), math.ceil(allow_at - now)
            self._arrivals[key] = new_tat
        return 1, math.floor((period - (new_tat - now)) / interval), math.ceil(new_tat - now), 0


_local_gcra = LocalGcra()


def rate_limit_for_token(*, token: ApiToken) -> int:
    """Requests per second: the token's own limit, else its owner's plan's, else the default.

    `token` is as authenticated (`api_token_find`), which loaded its plan's limit.
    """
    if token.rate_limit_per_second is not None:
        return token.rate_limit_per_second
    return token.plan_rate_limit if token.plan_rate_limit is not None else DEFAULT_LIMIT_PER_SECOND


def rate_limit_hit(*, token: ApiToken) -> RateLimitDecision:
    """Counts one request of `token` if its bucket has room; says whether it may proceed."""
    limit = rate_limit_for_token(token=token)
    key = f"{KEY_PREFIX}{token.lookup_key}"
    try:
        allowed, remaining, reset, retry_after = _gcra()(keys=[key], args=[limit, PERIOD_MICROSECONDS])
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        logger.warning("Rate limits counted per process: Redis unavailable (%s)", exc)
        allowed, remaining, reset, retry_after = _local_gcra.hit(key, limit, PERIOD_MICROSECONDS)
    if not allowed:
        RATE_LIMITED.inc()
    return RateLimitDecision(allowed=bool(allowed), limit=limit, remaining=max(int(remaining), 0),
                             reset_seconds=math.ceil(int(reset) / 1_000_000),
                             retry_after_seconds=math.ceil(int(retry_after) / 1_000_000))
