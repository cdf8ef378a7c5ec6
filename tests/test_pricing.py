"""Pricing: the seed's estimation arithmetic, the 5-minute cache and its invalidation, plans."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command

from ecore import process_cache
from pricing.models import Price
from pricing.selectors import (
    PRICING_CACHE_KEY,
    enrichment_limit_for_user,
    prices_current,
)
from pricing.services import estimate_credits, plan_assign, price_set

PRICES = {"standard_email_cost": Decimal("2"), "pro_email_cost": Decimal("4"), "standard_phone_cost": Decimal("5"),
          "pro_phone_cost": Decimal("8"), "account_standard_cost": Decimal("1.5"), "account_pro_cost": Decimal("3")}


@pytest.mark.parametrize("job_type, level, fields, limit, rows, category, total", [
    ("contact", "standard", ["contact_mobile_phone", "contact_email"], None, 10, "phone", "50"),
    ("contact", "pro", ["contact_direct_phone"], None, 10, "phone", "80"),
    ("contact", "standard", ["contact_email"], None, 10, "email", "20"),
    ("contact", "pro", ["job_title"], None, 3, "email", "12"),
    ("contact", "quick", ["contact_email"], None, 3, "email", "6"),
    ("account", "standard", ["industry"], None, 4, "account", "6.0"),
    ("account", "standard", ["industry", "first_name"], 5, 4, "account", "30.0"),
    ("account", "standard", ["industry", "contact_email"], 5, 4, "email", "8"),
    ("account", "standard", ["contact_mobile_phone"], 5, 4, "phone", "20"),
    ("contact", "standard", ["job_title"], 5, 4, "email", "8"),  # criteria never multiply contact jobs
])
def test_estimation_follows_the_seed(job_type, level, fields, limit, rows, category, total):
    estimate = estimate_credits(job_type=job_type, level=level, fields=fields, criteria_limit=limit, row_count=rows,
                                prices=PRICES)
    assert estimate.rate_category == category
    assert estimate.total == Decimal(total)


def test_totals_round_half_up_for_the_response():
    estimate = estimate_credits(job_type="account", level="standard", fields=["industry"], criteria_limit=None,
                                row_count=3, prices=PRICES)
    assert estimate.total == Decimal("4.5") and estimate.rounded_total == 5


@pytest.mark.django_db
def test_prices_are_cached_and_an_admin_save_invalidates_the_cache(django_assert_num_queries):
    prices_current()
    with django_assert_num_queries(0):
        assert prices_current()["standard_email_cost"] == Decimal("2")
    price = Price.objects.get(name="standard_email_cost")
    price.value = Decimal("2.75")
    price.save()  # what the admin's save does
    assert prices_current()["standard_email_cost"] == Decimal("2.75")


@pytest.mark.django_db
def test_a_direct_database_change_is_seen_only_after_the_cache_expires():
    prices_current()
    Price.objects.filter(name="standard_email_cost").update(value=Decimal("9"))  # bypasses signals
    assert prices_current()["standard_email_cost"] == Decimal("2")
    cache.delete(PRICING_CACHE_KEY)  # what the 5-minute expiry does
    process_cache.process_caches_clear()  # what a second does
    assert prices_current()["standard_email_cost"] == Decimal("9")


@pytest.mark.django_db
def test_a_process_keeps_its_prices_a_second_and_then_reads_them_again(monkeypatch, django_assert_num_queries):
    now = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now[0])
    prices_current()
    cache.set(PRICING_CACHE_KEY, {"standard_email_cost": "7"})  # another process's save, as Redis holds it
    now[0] += 0.9
    assert prices_current()["standard_email_cost"] == Decimal("2")
    now[0] += 0.2
    assert prices_current() == {"standard_email_cost": Decimal("7")}


@pytest.mark.django_db
def test_another_process_sees_a_saved_price_within_a_second(settings, monkeypatch):
    """A save drops Redis's copy; a process holding its own copy reads the new price once it is a second old."""
    now = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now[0])
    prices_current()
    Price.objects.filter(name="standard_email_cost").update(value=Decimal("4"))
    cache.delete(PRICING_CACHE_KEY)  # the saving process's invalidation, as this one sees it
    assert prices_current()["standard_email_cost"] == Decimal("2")
    now[0] += settings.PRICING_PROCESS_SECONDS
    assert prices_current()["standard_email_cost"] == Decimal("4")


@pytest.mark.django_db
def test_the_cache_lives_five_minutes(settings):
    import redis

    prices_current()
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = client.keys(f"*{PRICING_CACHE_KEY}")
    assert len(keys) == 1 and 290 <= client.ttl(keys[0]) <= 300


@pytest.mark.django_db
def test_set_price_command(capsys):
    call_command("set_price", "standard_email_cost", "3.5")
    assert capsys.readouterr().out.strip() == "standard_email_cost=3.5"
    assert prices_current()["standard_email_cost"] == Decimal("3.5")


@pytest.mark.django_db
def test_plan_limits(django_user_model, capsys):
    user = django_user_model.objects.create_user("p")
    assert enrichment_limit_for_user(user=user) == 50
    plan_assign(username="p", enrichment_limit=120)
    assert enrichment_limit_for_user(user=user) == 120
    call_command("set_plan", "p", "--enrichment-limit", "900")
    assert capsys.readouterr().out.strip() == "p: 900 records per submission"
    assert enrichment_limit_for_user(user=user) == 500


@pytest.mark.django_db
def test_price_set_updates_in_place():
    price_set(name="standard_email_cost", value=Decimal("1"))
    assert Price.objects.filter(name="standard_email_cost").count() == 1
