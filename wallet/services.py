from contextlib import nullcontext
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ecore.exceptions import InsufficientCredits
from ecore.metrics import CREDITS_CHARGED
from wallet.models import LedgerEntry, Wallet


def wallet_get_or_create(*, user) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(user=user)
    return wallet


def _wallet_locked(user) -> Wallet:
    wallet_get_or_create(user=user)
    return Wallet.objects.select_for_update().get(user=user)


# One statement moves the balance and writes its ledger row: the UPDATE takes the wallet's row
# lock, its WHERE refuses a balance that would go negative, and the INSERT only happens when the
# UPDATE did, so the two cannot part. No read-then-write, and one round trip instead of six.
LEDGER_MOVE_SQL = f"""
WITH moved AS (
    UPDATE {Wallet._meta.db_table} SET balance = balance + %(amount)s, updated_at = %(now)s
    WHERE user_id = %(user_id)s AND balance + %(amount)s >= 0
    RETURNING id, balance
)
INSERT INTO {LedgerEntry._meta.db_table}
    (wallet_id, kind, amount, balance_after, job_id, reference, note, created_by_id, created_at)
SELECT id, %(kind)s, %(amount)s, balance, %(job_id)s, %(reference)s, %(note)s, %(created_by_id)s, %(now)s
FROM moved
RETURNING id, wallet_id, balance_after
"""


def _ledger_move(*, user, amount: Decimal, kind: str, job, reference: str, note: str,
                 created_by) -> LedgerEntry | None:
    """The movement applied, or None when the wallet does not exist or cannot pay it."""
    values = {"amount": amount, "now": timezone.now(), "user_id": user.pk, "kind": kind,
              "job_id": job.pk if job is not None else None, "reference": reference, "note": note,
              "created_by_id": created_by.pk if created_by is not None else None}
    # Alone, the statement is its own transaction; inside a caller's, a savepoint keeps a refused
    # reference from aborting it.
    with transaction.atomic() if connection.in_atomic_block else nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(LEDGER_MOVE_SQL, values)
            row = cursor.fetchone()
    if row is None:
        return None
    entry_id, wallet_id, balance_after = row
    entry = LedgerEntry(id=entry_id, wallet_id=wallet_id, kind=kind, amount=amount, balance_after=balance_after,
                        job=job, reference=reference, note=note, created_by=created_by, created_at=values["now"])
    entry._state.adding = False
    return entry


def _ledger_entry_with_reference(reference: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(reference=reference).first() if reference else None


def _ledger_apply(*, user, amount: Decimal, kind: str, job=None, reference: str = "", note: str = "",
                  created_by=None) -> LedgerEntry:
    """Moves `amount` (signed) in or out of the user's wallet under its row lock, with its ledger row.

    A movement whose `reference` is already on the ledger is not applied again: the existing
    entry is returned, so retried refunds and redelivered tasks cannot pay or charge twice.
    """
    amount = Decimal(amount)
    try:
        entry = _ledger_move(user=user, amount=amount, kind=kind, job=job, reference=reference, note=note,
                             created_by=created_by)
    except IntegrityError:
        existing = _ledger_entry_with_reference(reference)
        if existing is None:
            raise
        return existing
    if entry is not None:
        if kind == LedgerEntry.Kind.DEDUCTION:
            CREDITS_CHARGED.inc(float(-amount))
        return entry
    existing = _ledger_entry_with_reference(reference)
    if existing is not None:
        return existing
    wallet, created = Wallet.objects.get_or_create(user=user)
    if created:
        return _ledger_apply(user=user, amount=amount, kind=kind, job=job, reference=reference, note=note,
                             created_by=created_by)
    raise InsufficientCredits(required=-amount, available=wallet.balance)


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
