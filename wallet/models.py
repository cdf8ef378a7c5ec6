from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Wallet(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet")
    balance = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")]

    def __str__(self):
        return f"{self.user} — {self.balance.normalize():f} credits"


class LedgerEntryQuerySet(models.QuerySet):
    def delete(self):
        raise PermissionError("The ledger is append-only")

    def update(self, **kwargs):
        raise PermissionError("The ledger is append-only")


class LedgerEntry(models.Model):
    """Append-only: every change of a balance is one row here, and the balance is their sum.

    `reference` names what a movement is for (`job:<id>:submit`, `job:<id>:row:<uid>:not_found`, …);
    it is unique, so the database itself refuses a second charge or refund of the same thing.
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        DEDUCTION = "deduction", "Deduction"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=4, help_text="Signed: deductions are negative.")
    balance_after = models.DecimalField(max_digits=14, decimal_places=4)
    job = models.ForeignKey("enrichment.Job", null=True, blank=True, on_delete=models.PROTECT,
                            related_name="ledger_entries")
    reference = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["reference"], condition=~Q(reference=""), name="ledger_reference_once"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_not_negative"),
            models.CheckConstraint(
                condition=(Q(kind__in=["topup", "refund"], amount__gt=0) | Q(kind="deduction", amount__lt=0)
                           | Q(kind="adjustment")),
                name="ledger_amount_sign_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["job", "kind"])]

    def __str__(self):
        # Note: imported here because wallet.selectors imports this module.
        from wallet.selectors import ledger_reason

        sign = "−" if self.amount < 0 else "+"
        day = f" · {self.created_at:%Y-%m-%d}" if self.created_at else ""
        return f"{sign}{abs(self.amount).normalize():f} credits · {ledger_reason(self)}{day}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The ledger is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The ledger is append-only")


class SpendCap(models.Model):
    """An optional ceiling on the credits a user, or one of their tokens, may spend in a UTC day or month.

    Checked against `SpendCounter`, which counts net spend whether or not a cap is set, so a cap set
    today knows what today has already spent.
    """

    class Period(models.TextChoices):
        DAILY = "daily", "Daily (UTC day)"
        MONTHLY = "monthly", "Monthly (UTC calendar month)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="spend_caps", help_text="Caps everything the user spends.")
    token = models.ForeignKey("tokens.ApiToken", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="spend_caps", help_text="Caps what requests with this token spend.")
    period = models.CharField(max_length=8, choices=Period.choices)
    limit = models.DecimalField(max_digits=14, decimal_places=4, validators=[MinValueValidator(Decimal("0"))],
                                help_text="Credits per period, net of refunds.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id", "token_id", "period"]
        constraints = [
            models.CheckConstraint(condition=(Q(user__isnull=False, token__isnull=True)
                                              | Q(user__isnull=True, token__isnull=False)),
                                   name="spend_cap_user_or_token"),
            models.CheckConstraint(condition=Q(limit__gte=0), name="spend_cap_limit_not_negative"),
            models.UniqueConstraint(fields=["user", "period"], condition=Q(token__isnull=True),
                                    name="spend_cap_once_per_user_and_period"),
            models.UniqueConstraint(fields=["token", "period"], condition=Q(user__isnull=True),
                                    name="spend_cap_once_per_token_and_period"),
        ]

    @property
    def scope(self) -> str:
        return "token" if self.token_id is not None else "user"

    @property
    def name(self) -> str:
        """How a refusal names the cap: token_daily, user_monthly, …"""
        return f"{self.scope}_{self.period}"

    def __str__(self):
        return f"{self.name} cap of {self.limit.normalize():f} for {self.token or self.user}"


class SpendCounter(models.Model):
    """Net credits a user (token empty) or one of their tokens spent in one UTC day or month.

    Deductions add to it in the transaction that moves the wallet, refused by a conditional upsert
    when a cap would be passed; refunds take from the counter of the period their charge was made in.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey("tokens.ApiToken", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=8, choices=SpendCap.Period.choices)
    period_start = models.DateField()
    spent = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "token", "period", "period_start"], nulls_distinct=False,
                                    name="spend_counter_once_per_scope_and_period"),
            models.CheckConstraint(condition=Q(spent__gte=0), name="spend_counter_not_negative"),
        ]

    def __str__(self):
        return f"{self.token or self.user} spent {self.spent.normalize():f} ({self.period} from {self.period_start})"


def period_start(period: str, at: datetime) -> date:
    """The first UTC day of the day or month `at` falls in."""
    day = at.astimezone(UTC).date()
    return day if period == SpendCap.Period.DAILY else day.replace(day=1)


def period_resets_at(period: str, at: datetime) -> datetime:
    """When the day or month `at` falls in ends (UTC midnight)."""
    start = period_start(period, at)
    if period == SpendCap.Period.DAILY:
        following = start + timedelta(days=1)
    else:
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(following.year, following.month, following.day, tzinfo=UTC)
