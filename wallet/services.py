from decimal import Decimal

from django.db import transaction

from ecore.exceptions import InsufficientCredits
from wallet.models import LedgerEntry, Wallet


def wallet_get_or_create(*, user) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(user=user)
    return wallet


def _wallet_locked(user) -> Wallet:
    wallet_get_or_create(user=user)
    return Wallet.objects.select_for_update().get(user=user)


@transaction.atomic
def _ledger_apply(*, user, amount: Decimal, kind: str, job=None, reference: str = "", note: str = "",
                  created_by=None) -> LedgerEntry:
    """Moves `amount` (signed) in or out of the user's wallet under a row lock, with its ledger row.

    A movement whose `reference` is already on the ledger is not applied again: the existing
    entry is returned, so retried refunds and redelivered tasks cannot pay or charge twice.
    """
    amount = Decimal(amount)
    wallet = _wallet_locked(user)
    if reference:
        existing = LedgerEntry.objects.filter(reference=reference).first()
        if existing is not None:
            return existing
    new_balance = wallet.balance + amount
    if new_balance < 0:
        raise InsufficientCredits(required=-amount, available=wallet.balance)
    wallet.balance = new_balance
    wallet.save(update_fields=["balance", "updated_at"])
    return LedgerEntry.objects.create(wallet=wallet, kind=kind, amount=amount, balance_after=new_balance,
                                      job=job, reference=reference, note=note, created_by=created_by)


def wallet_deduct(*, user, amount: Decimal, job=None, reference: str, note: str = "") -> LedgerEntry:
    if amount <= 0:
        raise ValueError("a deduction must be positive")
    return _ledger_apply(user=user, amount=-amount, kind=LedgerEntry.Kind.DEDUCTION, job=job,
                         reference=reference, note=note)


def wallet_refund(*, user, amount: Decimal, job=None, reference: str, note: str = "") -> LedgerEntry | None:
    if amount <= 0:
        return None
    return _ledger_apply(user=user, amount=amount, kind=LedgerEntry.Kind.REFUND, job=job, reference=reference,
                         note=note)


def wallet_topup(*, user, amount: Decimal, note: str = "", created_by=None, reference: str = "") -> LedgerEntry:
    if amount <= 0:
        raise ValueError("a top-up must be positive")
    return _ledger_apply(user=user, amount=amount, kind=LedgerEntry.Kind.TOPUP, note=note, created_by=created_by,
                         reference=reference)


def wallet_adjust(*, user, amount: Decimal, note: str, created_by=None) -> LedgerEntry:
    if amount == 0:
        raise ValueError("an adjustment must change the balance")
    return _ledger_apply(user=user, amount=amount, kind=LedgerEntry.Kind.ADJUSTMENT, note=note,
                         created_by=created_by)


@transaction.atomic
def wallet_refund_many(*, user, job, refunds: list[tuple[Decimal, str, str]]) -> list[LedgerEntry]:
    """Many refunds of one job under a single wallet lock: `(amount, reference, note)` each.

    References already on the ledger are skipped, so a reconciliation that runs again after a
    crash pays nothing twice.
    """
    refunds = [(Decimal(amount), reference, note) for amount, reference, note in refunds if amount > 0]
    if not refunds:
        return []
    wallet = _wallet_locked(user)
    already = set(LedgerEntry.objects.filter(reference__in=[ref for _, ref, _ in refunds])
                  .values_list("reference", flat=True))
    entries = []
    balance = wallet.balance
    for amount, reference, note in refunds:
        if reference in already:
            continue
        already.add(reference)
        balance += amount
        entries.append(LedgerEntry(wallet=wallet, kind=LedgerEntry.Kind.REFUND, amount=amount,
                                   balance_after=balance, job=job, reference=reference, note=note))
    if entries:
        LedgerEntry.objects.bulk_create(entries)
        wallet.balance = balance
        wallet.save(update_fields=["balance", "updated_at"])
    return entries
