from decimal import Decimal

from django.conf import settings
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
