from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from pricing.models import Price, Subscription

PRICING_CACHE_KEY = "pricing:prices:v1"


class PriceMissing(LookupError):
    pass


def prices_current() -> dict[str, Decimal]:
    """All prices, from a cache that lives 5 minutes and is dropped whenever a price is saved."""
    cached = cache.get(PRICING_CACHE_KEY)
    if cached is not None:
        return {name: Decimal(value) for name, value in cached.items()}
    prices = dict(Price.objects.values_list("name", "value"))
    cache.set(PRICING_CACHE_KEY, {name: str(value) for name, value in prices.items()},
              settings.PRICING_CACHE_SECONDS)
    return prices


def price_of(name: str, prices: dict[str, Decimal] | None = None) -> Decimal:
    prices = prices_current() if prices is None else prices
    try:
        return prices[name]
    except KeyError:
        raise PriceMissing(f"No price named {name!r} is configured") from None


def pricing_cache_invalidate() -> None:
    # Again after commit, so a reader cannot re-cache the old value between the delete and the commit.
    cache.delete(PRICING_CACHE_KEY)
    transaction.on_commit(lambda: cache.delete(PRICING_CACHE_KEY))


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
