from decimal import Decimal

from django.db.models import Sum

from wallet.models import LedgerEntry, Wallet


def wallet_balance(*, user) -> Decimal:
    return Wallet.objects.filter(user=user).values_list("balance", flat=True).first() or Decimal("0")


def ledger_sum(*, user) -> Decimal:
    return LedgerEntry.objects.filter(wallet__user=user).aggregate(total=Sum("amount"))["total"] or Decimal("0")


def job_credit_totals(*, job) -> dict[str, Decimal]:
    """Charged (deductions) and refunded (refunds) credits of one job, both positive."""
    rows = LedgerEntry.objects.filter(job=job).values("kind").annotate(total=Sum("amount"))
    totals = {row["kind"]: row["total"] for row in rows}
    return {
        "charged": -totals.get(LedgerEntry.Kind.DEDUCTION, Decimal("0")),
        "refunded": totals.get(LedgerEntry.Kind.REFUND, Decimal("0")),
    }
