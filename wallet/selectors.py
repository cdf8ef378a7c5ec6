from datetime import UTC, date, datetime
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Min, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from ecore.exceptions import SpendCapReached, format_credits
from wallet.models import LedgerEntry, SpendCap, SpendCounter, Wallet, period_resets_at, period_start


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


def job_net_credits():
    """An annotation for a queryset of jobs: what each job kept of its charges (deductions less refunds).

    A subquery on the ledger's (job, kind) index, so a page of jobs costs one query however many it lists.
    """
    spent = (LedgerEntry.objects.filter(job=OuterRef("pk"), kind__in=[LedgerEntry.Kind.DEDUCTION,
                                                                      LedgerEntry.Kind.REFUND])
             .order_by().values("job").annotate(total=Sum("amount")).values("total"))
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=4))
    return -Coalesce(Subquery(spent, output_field=DecimalField(max_digits=14, decimal_places=4)), zero)


def credits_per_day(*, since: datetime) -> dict[date, dict[str, Decimal]]:
    """Credits charged and refunded per UTC day since `since`, over every wallet, in one query."""
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=4))
    days = (LedgerEntry.objects.filter(created_at__gte=since,
                                       kind__in=[LedgerEntry.Kind.DEDUCTION, LedgerEntry.Kind.REFUND]).order_by()
            .annotate(day=TruncDate("created_at", tzinfo=UTC)).values("day")
            .annotate(charged=Coalesce(Sum(-F("amount"), filter=Q(kind=LedgerEntry.Kind.DEDUCTION)), zero),
                      refunded=Coalesce(Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND)), zero)))
    return {row["day"]: {"charged": row["charged"], "refunded": row["refunded"]} for row in days}


# What each single lookup writes as its ledger note (enrichment/single.py), by endpoint.
LOOKUP_NOTES = {"single phone enrichment": "phone", "single email enrichment": "email",
                "single contact enrichment": "person_company", "single account enrichment": "person_company"}
USAGE_GROUPS = ("day", "job", "endpoint")


def ledger_entries_for_user(*, user, created_after=None, created_before=None):
    """The user's ledger, newest first, with each entry's job loaded."""
    entries = LedgerEntry.objects.filter(wallet__user=user).select_related("job")
    if created_after is not None:
        entries = entries.filter(created_at__gte=created_after)
    if created_before is not None:
        entries = entries.filter(created_at__lt=created_before)
    return entries.order_by("-created_at", "-id")


def ledger_reason(entry: LedgerEntry) -> str:
    """Why the entry moved credits, read from its reference (`job:<id>:row:<uid>:<reason>`, …) or note."""
    parts = entry.reference.split(":")
    if parts[0] == "job" and len(parts) >= 3:
        if parts[2] == "row" and len(parts) == 5:
            return parts[4]
        return {"submit": "submit", "resume": "resume", "pause": "paused_rows_released",
                "failure": "failed_rows_released"}.get(parts[2], parts[2])
    if parts[0] == "single":
        return f"{LOOKUP_NOTES.get(entry.note, 'single')}_lookup"
    return entry.kind


def _usage_endpoint():
    lookups = [When(note=note, then=Value(endpoint)) for note, endpoint in LOOKUP_NOTES.items()]
    return Case(When(reference__startswith="job:", then=Value("jobs")), *lookups, default=Value("other"))


def usage_for_user(*, user, group_by: str, created_after=None, created_before=None) -> list[dict]:
    """Credits charged, refunded and net, rows submitted and lookups charged, per day, job or endpoint.

    Counts deductions and refunds only (not top-ups or adjustments), in one query.
    """
    keys = {"day": TruncDate("created_at", tzinfo=UTC), "job": F("job__job_id"), "endpoint": _usage_endpoint()}
    spend = ledger_entries_for_user(user=user, created_after=created_after, created_before=created_before).filter(
        kind__in=[LedgerEntry.Kind.DEDUCTION, LedgerEntry.Kind.REFUND]).order_by()
    zero = Value(Decimal("0"), output_field=DecimalField(max_digits=14, decimal_places=4))
    groups = spend.annotate(key=keys[group_by]).values("key").annotate(
        charged=Coalesce(Sum(Case(When(kind=LedgerEntry.Kind.DEDUCTION, then=-F("amount")))), zero),
        refunded=Coalesce(Sum(Case(When(kind=LedgerEntry.Kind.REFUND, then=F("amount")))), zero),
        rows=Coalesce(Sum(Case(When(reference__endswith=":submit", then=F("job__record_count")))), 0),
        lookups=Count("id", filter=Q(kind=LedgerEntry.Kind.DEDUCTION, reference__startswith="single:")),
        first_at=Min("created_at"),
    )
    ordering = {"day": "-key", "job": "-first_at", "endpoint": "key"}[group_by]
    return [{group_by: group["key"], "charged": group["charged"], "refunded": group["refunded"],
             "net": group["charged"] - group["refunded"], "rows": group["rows"], "lookups": group["lookups"]}
            for group in groups.order_by(ordering)]


def _caps_of(*, user, token_id: int | None) -> list[SpendCap]:
    caps = Q(user_id=user.pk) | Q(token_id=token_id) if token_id is not None else Q(user_id=user.pk)
    # The token's before the user's, the day's before the month's: the first one that refuses is named.
    return sorted(SpendCap.objects.filter(caps), key=lambda cap: (cap.scope != "token", cap.period != "daily"))


def _spent_against(caps: list[SpendCap], *, user, at) -> dict[int, Decimal]:
    """What each cap's current period has spent, by cap id."""
    starts = {period: period_start(period, at) for period in SpendCap.Period.values}
    tokens = [cap.token_id for cap in caps if cap.token_id is not None]
    counters = SpendCounter.objects.filter(
        Q(token__isnull=True) | Q(token_id__in=tokens), user=user, period_start__in=set(starts.values()),
    ).values_list("token_id", "period", "period_start", "spent")
    spent = {(token_id, period, start): amount for token_id, period, start, amount in counters}
    return {cap.pk: spent.get((cap.token_id, cap.period, starts[cap.period]), Decimal("0")) for cap in caps}


def spend_caps_check(*, user, token_id: int | None, amount: Decimal) -> None:
    """Raises `SpendCapReached` for the first of the user's and the token's caps that `amount` would pass.

    A pre-check, so that a request over a cap creates nothing: the charge itself is refused again by
    the counters' conditional upsert, which concurrent requests cannot both pass.
    """
    caps = _caps_of(user=user, token_id=token_id)
    if not caps:
        return
    now = timezone.now()
    spent = _spent_against(caps, user=user, at=now)
    for cap in caps:
        if spent[cap.pk] + amount > cap.limit:
            raise _refusal(cap, spent=spent[cap.pk], amount=amount, at=now)


def spend_cap_refusal(*, user, token_id: int | None, amount: Decimal) -> SpendCapReached:
    """The refusal of a charge the spend counters turned down: the first cap it would pass now, or, when
    another request has given room back since, the cap with the least room left."""
    caps = _caps_of(user=user, token_id=token_id)
    now = timezone.now()
    spent = _spent_against(caps, user=user, at=now)
    over = [cap for cap in caps if spent[cap.pk] + amount > cap.limit]
    cap = over[0] if over else min(caps, key=lambda cap: cap.limit - spent[cap.pk])
    return _refusal(cap, spent=spent[cap.pk], amount=amount, at=now)


def _refusal(cap: SpendCap, *, spent: Decimal, amount: Decimal, at) -> SpendCapReached:
    return SpendCapReached(cap=cap.name, limit=cap.limit, spent=spent, requested=amount,
                           resets_at=period_resets_at(cap.period, at))


def spend_overview(*, user, token_id: int | None) -> list[dict]:
    """The user's and the token's caps with what their current periods have spent."""
    caps = _caps_of(user=user, token_id=token_id)
    now = timezone.now()
    spent = _spent_against(caps, user=user, at=now)
    return [{"cap": cap.name, "limit": format_credits(cap.limit), "spent": format_credits(spent[cap.pk]),
             "remaining": format_credits(max(cap.limit - spent[cap.pk], Decimal("0"))),
             "resets_at": period_resets_at(cap.period, now).strftime("%Y-%m-%dT%H:%M:%SZ")} for cap in caps]
