from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Price(models.Model):
    """One named price in credits, editable in admin. There are no hard-coded prices."""

    name = models.SlugField(max_length=64, unique=True)
    value = models.DecimalField(max_digits=12, decimal_places=4, validators=[MinValueValidator(Decimal("0"))])
    description = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=models.Q(value__gte=0), name="price_not_negative")]

    def __str__(self):
        return f"{self.name} = {self.value}"


class SubscriptionPlan(models.Model):
    name = models.CharField(max_length=100, unique=True)
    enrichment_limit = models.PositiveIntegerField(help_text="Records per submission (500 is the hard ceiling).")
    rate_limit_per_second = models.PositiveIntegerField(
        default=30, help_text="Requests per second per token on the single-record endpoints."
    )

    def __str__(self):
        return f"{self.name} ({self.enrichment_limit} records)"


class Subscription(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.PROTECT, related_name="subscriptions")
    is_active = models.BooleanField(default=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(is_active=True),
                                    name="one_active_subscription_per_user"),
        ]

    def __str__(self):
        return f"{self.user} on {self.plan}"
