from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ecore.exceptions import ApplicationError
from ecore.process_cache import ProcessCache
from pricing.models import Price, Subscription

PRICING_CACHE_KEY = "pricing:prices:v1"


class PriceMissing(ApplicationError):
    """A price the request needs is not configured: a 503 for the request, whatever asked for the price."""

    status_code = 503

    def __init__(self, detail: str):
        super().__init__({"error": f"Pricing is not configured: {detail}. Please contact support."})


# This process's copy of the prices: a single-record lookup reads its price on every request, and a
# Redis round trip for it cost as much as the rate limit's.
_process_prices = ProcessCache(max_entries=1, seconds=lambda: settings.PRICING_PROCESS_SECONDS)


def prices_current() -> dict[str, Decimal]:
    """All prices: this process's copy for PRICING_PROCESS_SECONDS, else Redis's, which lives 5 minutes.

    Saving a price drops Redis's copy and this process's at once; other processes see it within
    PRICING_PROCESS_SECONDS.
    """
    kept = _process_prices.get(PRICING_CACHE_KEY)
    if kept is not None:
        return dict(kept)
    cached = cache.get(PRICING_CACHE_KEY)
    if cached is not None:
        prices = {name: Decimal(value) for name, value in cached.items()}
    else:
        prices = dict(Price.objects.values_list("name", "value"))
        cache.set(PRICING_CACHE_KEY, {name: str(value) for name, value in prices.items()},
                  settings.PRICING_CACHE_SECONDS)
    _process_prices.put(PRICING_CACHE_KEY, prices)
    return dict(prices)


def price_of(name: str, prices: dict[str, Decimal] | None = None) -> Decimal:
    prices = prices_current() if prices is None else prices
    try:
        return prices[name]
    except KeyError:
        raise PriceMissing(f"No price named {name!r} is configured") from None


def pricing_cache_invalidate() -> None:
    # Again after commit, so a reader cannot re-cache the old value between the delete and the commit.
    _caches_drop()
    transaction.on_commit(_caches_drop)


def _caches_drop() -> None:
    cache.delete(PRICING_CACHE_KEY)
    _process_prices.clear()


def plan_for_user(*, user):
    now = timezone.now()
    subscription = (
        Subscription.objects.select_related("plan")
        .filter(user=user, is_active=True)
        .exclude(ends_at__lt=now)
        .first()
    )
    return subscription.plan if subscription else None


def enrichment_limit_for_user(*, user) -> int:
    plan = plan_for_user(user=user)
    limit = plan.enrichment_limit if plan else settings.ENRICHMENT_DEFAULT_PLAN_LIMIT
    return min(limit, settings.ENRICHMENT_HARD_LIMIT)
