from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ecore.exceptions import InsufficientCredits
from ecore.metrics import CREDITS_CHARGED
from wallet.models import LedgerEntry, SpendCap, SpendCounter, Wallet, period_start
from wallet.selectors import spend_cap_refusal


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


@dataclass(frozen=True)
class Spend:
    """Whose spend a charge or refund counts in: the user's always, and the token's whose request charged.

    `charged_at` is when the charge was made: a deduction's is now; a refund's is that of the charge
    it gives back, so the room comes back in the day and month that were spent.
    """

    token_id: int | None = None
    charged_at: datetime | None = None


SPEND_SCOPES_SQL = """
    (VALUES (false, NULL::bigint, 'daily', %(day)s::date), (false, NULL::bigint, 'monthly', %(month)s::date),
            (true, %(token_id)s::bigint, 'daily', %(day)s::date), (true, %(token_id)s::bigint, 'monthly', %(month)s::date))
    AS scope (is_token, token_id, period, period_start)
"""


def _cap_limit_sql(alias: str) -> str:
    """The limit of the cap on the counter or scope `alias`, NULL when there is none."""
    return f"""(SELECT cap."limit" FROM {SpendCap._meta.db_table} cap WHERE cap.period = {alias}.period
                AND CASE WHEN {alias}.token_id IS NULL THEN cap.user_id = %(user_id)s
                         ELSE cap.token_id = {alias}.token_id END)"""


# Adds a charge to the user's and the token's day and month counters in one statement, each only if
# its cap (when there is one) still has room: the upsert's row lock serializes concurrent charges on
# a counter, and its WHERE sees the latest committed value, as the wallet's UPDATE does.
SPEND_ADD_SQL = f"""
INSERT INTO {SpendCounter._meta.db_table} AS counter (user_id, token_id, period, period_start, spent)
SELECT %(user_id)s, scope.token_id, scope.period, scope.period_start, %(amount)s
FROM {SPEND_SCOPES_SQL}
WHERE (NOT scope.is_token OR scope.token_id IS NOT NULL)
  AND %(amount)s <= COALESCE({_cap_limit_sql("scope")}, %(amount)s)
ON CONFLICT (user_id, token_id, period, period_start) DO UPDATE SET spent = counter.spent + EXCLUDED.spent
WHERE counter.spent + EXCLUDED.spent <= COALESCE({_cap_limit_sql("counter")}, counter.spent + EXCLUDED.spent)
RETURNING counter.id
"""

SPEND_RELEASE_SQL = f"""
UPDATE {SpendCounter._meta.db_table} SET spent = GREATEST(spent - %(amount)s, 0)
WHERE user_id = %(user_id)s AND (token_id IS NULL OR token_id = %(token_id)s)
  AND ((period = 'daily' AND period_start = %(day)s) OR (period = 'monthly' AND period_start = %(month)s))
"""


class _CapRefused(Exception):
    """A spend counter refused the charge; the movement's transaction is rolled back."""


def _spend_count(cursor, *, user_id: int, amount: Decimal, spend: Spend, now: datetime) -> None:
    """Counts a deduction (amount < 0) against the caps, or gives a refund's room back (amount > 0)."""
    at = spend.charged_at or now
    values = {"user_id": user_id, "token_id": spend.token_id, "amount": abs(amount),
              "day": period_start(SpendCap.Period.DAILY, at), "month": period_start(SpendCap.Period.MONTHLY, at)}
    if amount > 0:
        cursor.execute(SPEND_RELEASE_SQL, values)
        return
    cursor.execute(SPEND_ADD_SQL, values)
    if len(cursor.fetchall()) < (4 if spend.token_id is not None else 2):
        raise _CapRefused()


def _ledger_move(*, user, amount: Decimal, kind: str, job, reference: str, note: str,
                 created_by, spend: Spend | None = None) -> LedgerEntry | None:
    """The movement applied, or None when the wallet does not exist or cannot pay it.

    With `spend`, the user's and the token's spend counters move with it, in its transaction; a
    deduction that a spend cap refuses raises `SpendCapReached` and moves nothing.
    """
    values = {"amount": amount, "now": timezone.now(), "user_id": user.pk, "kind": kind,
              "job_id": job.pk if job is not None else None, "reference": reference, "note": note,
              "created_by_id": created_by.pk if created_by is not None else None}
    # Alone, the statement is its own transaction; inside a caller's, a savepoint keeps a refused
    # reference from aborting it. Spend counters share the movement's transaction. The wallet's row
    # is locked first, by every movement, so the counters (all the user's) are only ever written
    # under it and cannot deadlock.
    try:
        with transaction.atomic() if connection.in_atomic_block or spend is not None else nullcontext():
            with connection.cursor() as cursor:
                cursor.execute(LEDGER_MOVE_SQL, values)
                row = cursor.fetchone()
                if row is not None and spend is not None:
                    _spend_count(cursor, user_id=user.pk, amount=amount, spend=spend, now=values["now"])
    except _CapRefused:
        raise spend_cap_refusal(user=user, token_id=spend.token_id, amount=-amount) from None
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
                  created_by=None, spend: Spend | None = None) -> LedgerEntry:
    """Moves `amount` (signed) in or out of the user's wallet under its row lock, with its ledger row.

    A movement whose `reference` is already on the ledger is not applied again: the existing
    entry is returned, so retried refunds and redelivered tasks cannot pay or charge twice.
    """
    amount = Decimal(amount)
    try:
        entry = _ledger_move(user=user, amount=amount, kind=kind, job=job, reference=reference, note=note,
                             created_by=created_by, spend=spend)
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
                             created_by=created_by, spend=spend)
    raise InsufficientCredits(required=-amount, available=wallet.balance)


def wallet_deduct(*, user, amount: Decimal, job=None, reference: str, note: str = "",
                  token_id: int | None = None) -> LedgerEntry:
    """Spends `amount`: counted in the user's and (given) the token's spend, refused past a spend cap
    (`SpendCapReached`) or a wallet that cannot pay (`InsufficientCredits`)."""
    if amount <= 0:
        raise ValueError("a deduction must be positive")
    return _ledger_apply(user=user, amount=-amount, kind=LedgerEntry.Kind.DEDUCTION, job=job,
                         reference=reference, note=note, spend=Spend(token_id=token_id))


def wallet_refund(*, user, amount: Decimal, job=None, reference: str, note: str = "",
                  spend: Spend | None = None) -> LedgerEntry | None:
    """Gives `amount` back; with `spend`, the room it took from the spend caps too."""
    if amount <= 0:
        return None
    return _ledger_apply(user=user, amount=amount, kind=LedgerEntry.Kind.REFUND, job=job, reference=reference,
                         note=note, spend=spend)


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
def wallet_refund_many(*, user, job, refunds: list[tuple[Decimal, str, str]],
                       spend: Spend | None = None) -> list[LedgerEntry]:
    """Many refunds of one job under a single wallet lock: `(amount, reference, note)` each; with
    `spend`, what they give back returns to the spend caps too.

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
        if spend is not None:
            with connection.cursor() as cursor:
                _spend_count(cursor, user_id=user.pk, amount=sum(entry.amount for entry in entries), spend=spend,
                             now=timezone.now())
    return entries


def spend_cap_set(*, user=None, token=None, period: str, limit: Decimal | None) -> SpendCap | None:
    """Sets the user's or the token's cap for `period` to `limit` credits, or removes it (None).

    The period's spend so far stays counted: a cap set at noon knows what the morning spent.
    """
    if (user is None) == (token is None):
        raise ValueError("a spend cap is for a user or for a token")
    scope = {"user": user, "token": None} if user is not None else {"user": None, "token": token}
    if limit is None:
        SpendCap.objects.filter(period=period, **scope).delete()
        return None
    cap, _ = SpendCap.objects.update_or_create(period=period, **scope, defaults={"limit": limit})
    return cap
