from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import transaction

from pricing.models import Price, Subscription, SubscriptionPlan
from pricing.selectors import price_of, prices_current
from sources.fields import PHONE_FIELDS

EMAIL_FIELD = "contact_email"

# The rate categories of the seed, each with its Standard/Quick and Pro price names.
RATE_PRICE_NAMES = {
    "phone": {"standard": "standard_phone_cost", "pro": "pro_phone_cost"},
    "email": {"standard": "standard_email_cost", "pro": "pro_email_cost"},
    "account": {"standard": "account_standard_cost", "pro": "account_pro_cost"},
}


def credits_as_integer(value: Decimal) -> int:
    """How credits are shown where the API promises an integer: rounded half up (4.5 → 5)."""
    return int(Decimal(value).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Estimate:
    rate_category: str  # phone | email | account
    per_row_rate: Decimal
    multiplier: int  # criteria.limit for account expansion, else 1
    row_count: int
    total: Decimal

    @property
    def per_input_row(self) -> Decimal:
        return self.per_row_rate * self.multiplier

    @property
    def rounded_total(self) -> int:
        return credits_as_integer(self.total)


def rate_category_for(*, job_type: str, fields: list[str]) -> str:
    """The seed's estimation order: phone, else email, else account, else email."""
    requested = set(fields)
    if requested.intersection(PHONE_FIELDS):
        return "phone"
    if EMAIL_FIELD in requested:
        return "email"
    if job_type == "account":
        return "account"
    return "email"


def per_row_rate(*, rate_category: str, level: str, prices: dict[str, Decimal] | None = None) -> Decimal:
    tier = "pro" if level == "pro" else "standard"  # Quick is priced like Standard
    return price_of(RATE_PRICE_NAMES[rate_category][tier], prices)


def estimate_credits(*, job_type: str, level: str, fields: list[str], criteria_limit: int | None,
                     row_count: int, prices: dict[str, Decimal] | None = None) -> Estimate:
    prices = prices_current() if prices is None else prices
    category = rate_category_for(job_type=job_type, fields=fields)
    rate = per_row_rate(rate_category=category, level=level, prices=prices)
    multiplier = criteria_limit if (job_type == "account" and category == "account" and criteria_limit) else 1
    return Estimate(rate_category=category, per_row_rate=rate, multiplier=multiplier, row_count=row_count,
                    total=rate * row_count * multiplier)


def price_set(*, name: str, value: Decimal) -> Price:
    price, _ = Price.objects.update_or_create(name=name, defaults={"value": value})
    return price


@transaction.atomic
def plan_assign(*, username: str, enrichment_limit: int, rate_limit_per_second: int | None = None) -> Subscription:
    """Puts the user on a plan with this limit (one plan per distinct limit), ending any other."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    plan, _ = SubscriptionPlan.objects.get_or_create(
        name=f"{enrichment_limit} records per submission", defaults={"enrichment_limit": enrichment_limit}
    )
    if rate_limit_per_second is not None and plan.rate_limit_per_second != rate_limit_per_second:
        plan.rate_limit_per_second = rate_limit_per_second
        plan.save(update_fields=["rate_limit_per_second"])
    Subscription.objects.filter(user=user, is_active=True).update(is_active=False)
    return Subscription.objects.create(user=user, plan=plan, is_active=True)
