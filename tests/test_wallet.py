"""The wallet and its ledger: exact, append-only, never negative, never charged twice."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from ecore.exceptions import InsufficientCredits
from tests.concurrency import run_at_once
from wallet.models import LedgerEntry, Wallet
from wallet.selectors import ledger_sum, wallet_balance
from wallet.services import wallet_adjust, wallet_deduct, wallet_refund, wallet_topup

pytestmark = pytest.mark.django_db


def test_every_movement_is_a_ledger_entry_summing_to_the_balance(make_user):
    user = make_user("w")
    wallet_topup(user=user, amount=Decimal("100"))
    wallet_deduct(user=user, amount=Decimal("12.5"), reference="r1")
    wallet_refund(user=user, amount=Decimal("2.25"), reference="r2")
    wallet_adjust(user=user, amount=Decimal("-0.75"), note="correction")
    assert wallet_balance(user=user) == Decimal("89")
    assert ledger_sum(user=user) == Decimal("89")
    assert list(LedgerEntry.objects.filter(wallet__user=user).order_by("id").values_list("kind", flat=True)) == [
        "topup", "deduction", "refund", "adjustment"]


def test_a_deduction_larger_than_the_balance_is_refused_and_changes_nothing(make_user):
    user = make_user("w", credits=10)
    with pytest.raises(InsufficientCredits) as caught:
        wallet_deduct(user=user, amount=Decimal("10.01"), reference="too-much")
    assert caught.value.body == {"error": "You require 10.01 credits, but only 10 are available."}
    assert wallet_balance(user=user) == Decimal("10")
    assert LedgerEntry.objects.filter(wallet__user=user).count() == 1


def test_the_same_refund_is_never_paid_twice(make_user):
    user = make_user("w", credits=10)
    first = wallet_refund(user=user, amount=Decimal("3"), reference="job:x:row:1:not_found")
    second = wallet_refund(user=user, amount=Decimal("3"), reference="job:x:row:1:not_found")
    assert first.pk == second.pk
    assert wallet_balance(user=user) == Decimal("13")


def test_the_database_refuses_a_duplicate_reference_and_a_negative_balance(make_user):
    user = make_user("w", credits=10)
    wallet = Wallet.objects.get(user=user)
    LedgerEntry.objects.create(wallet=wallet, kind="refund", amount=1, balance_after=11, reference="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(wallet=wallet, kind="refund", amount=1, balance_after=12, reference="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(pk=wallet.pk).update(balance=Decimal("-1"))


def test_the_ledger_is_append_only(make_user):
    user = make_user("w", credits=10)
    entry = LedgerEntry.objects.get(wallet__user=user)
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        LedgerEntry.objects.all().delete()


def test_wallet_topup_command_prints_the_new_balance(make_user, capsys):
    user = make_user("w", credits=10)
    call_command("wallet_topup", "w", "15.5")
    assert capsys.readouterr().out.strip() == "25.5"
    assert ledger_sum(user=user) == Decimal("25.5")


@pytest.mark.django_db(transaction=True)
def test_concurrent_deductions_from_separate_connections_never_overdraw(make_user):
    user = make_user("racer", credits=50)
    outcomes = []

    def deduct(index):
        try:
            wallet_deduct(user=user, amount=Decimal("7"), reference=f"race:{index}")
            outcomes.append("ok")
        except InsufficientCredits:
            outcomes.append("refused")

    run_at_once(deduct, 20)

    assert outcomes.count("ok") == 7  # 7 × 7 = 49 ≤ 50 < 56
    assert wallet_balance(user=user) == Decimal("1")
    assert ledger_sum(user=user) == Decimal("1")


def test_a_first_top_up_opens_the_wallet_and_a_deduction_without_one_is_refused(make_user):
    user = make_user("new")
    with pytest.raises(InsufficientCredits) as caught:
        wallet_deduct(user=user, amount=Decimal("1"), reference="before-any-topup")
    assert caught.value.body == {"error": "You require 1 credits, but only 0 are available."}
    entry = wallet_topup(user=user, amount=Decimal("4.5"), note="first")
    assert (entry.kind, entry.balance_after) == ("topup", Decimal("4.5"))
    assert LedgerEntry.objects.get(pk=entry.pk).note == "first"
    assert wallet_balance(user=user) == ledger_sum(user=user) == Decimal("4.5")


def test_a_retried_deduction_returns_its_entry_even_once_the_balance_is_too_low(make_user):
    user = make_user("w", credits=10)
    first = wallet_deduct(user=user, amount=Decimal("8"), reference="job:y:submit")
    again = wallet_deduct(user=user, amount=Decimal("8"), reference="job:y:submit")
    assert again.pk == first.pk
    assert wallet_balance(user=user) == ledger_sum(user=user) == Decimal("2")


def test_a_repeated_reference_inside_a_callers_transaction_leaves_it_usable(make_user):
    user = make_user("w", credits=10)
    with transaction.atomic():
        wallet_refund(user=user, amount=Decimal("1"), reference="job:z:row:1:not_found")
        wallet_refund(user=user, amount=Decimal("1"), reference="job:z:row:1:not_found")
        wallet_deduct(user=user, amount=Decimal("5"), reference="job:z:more")
    assert wallet_balance(user=user) == ledger_sum(user=user) == Decimal("6")


@pytest.mark.django_db(transaction=True)
def test_the_same_movement_sent_from_separate_connections_at_once_is_applied_once(make_user):
    user = make_user("twice", credits=50)
    entry_ids = []

    def refund(_index):
        entry_ids.append(wallet_refund(user=user, amount=Decimal("3"), reference="job:w:row:7:not_found").pk)

    run_at_once(refund, 8)

    assert len(entry_ids) == 8 and len(set(entry_ids)) == 1
    assert wallet_balance(user=user) == ledger_sum(user=user) == Decimal("53")
