from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from ecore.exceptions import ApplicationError
from wallet.models import LedgerEntry, SpendCap, SpendCounter, Wallet
from wallet.selectors import ledger_reason
from wallet.services import wallet_adjust, wallet_topup


def job_link(entry: LedgerEntry) -> str:
    """The entry's job by its raw id: loading each job would also read its input (up to a megabyte)."""
    if entry.job_id is None:
        return "—"
    return format_html('<a href="{}">{}…</a>', reverse("admin:enrichment_job_change", args=[entry.job_id]),
                       str(entry.job_id)[:8])


class WalletMovementForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=4,
                                help_text="Credits. Top-ups must be positive; adjustments may be negative.")
    note = forms.CharField(max_length=255)


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "reason", "amount", "balance_after", "job_column", "reference", "note")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="reason")
    def reason(self, entry: LedgerEntry) -> str:
        return ledger_reason(entry)

    @admin.display(description="job")
    def job_column(self, entry: LedgerEntry) -> str:
        return job_link(entry)


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__username",)
    readonly_fields = ("user", "balance", "updated_at")
    inlines = [LedgerEntryInline]
    change_form_template = "admin/wallet/wallet_change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("<int:wallet_id>/topup/", self.admin_site.admin_view(self.movement_view),
                 {"kind": "topup"}, name="wallet_wallet_topup"),
            path("<int:wallet_id>/adjust/", self.admin_site.admin_view(self.movement_view),
                 {"kind": "adjustment"}, name="wallet_wallet_adjust"),
        ] + super().get_urls()

    def movement_view(self, request, wallet_id, kind):
        wallet = Wallet.objects.select_related("user").get(pk=wallet_id)
        form = WalletMovementForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            amount: Decimal = form.cleaned_data["amount"]
            note = form.cleaned_data["note"]
            try:
                if kind == "topup":
                    wallet_topup(user=wallet.user, amount=amount, note=note, created_by=request.user)
                else:
                    wallet_adjust(user=wallet.user, amount=amount, note=note, created_by=request.user)
            except ValueError as exc:
                form.add_error("amount", str(exc))
            except ApplicationError as exc:
                form.add_error("amount", str(exc.body))
            else:
                self.message_user(request, f"{kind.title()} of {amount} credits recorded.", messages.SUCCESS)
                return redirect(reverse("admin:wallet_wallet_change", args=[wallet.pk]))
        context = {**self.admin_site.each_context(request), "wallet": wallet, "form": form, "kind": kind,
                   "opts": self.model._meta, "title": f"{kind.title()} for {wallet.user}"}
        return render(request, "admin/wallet/movement_form.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "reason", "amount", "balance_after", "job_column", "reference")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("wallet__user",)
    search_fields = ("wallet__user__username", "reference", "note")
    readonly_fields = [f.name for f in LedgerEntry._meta.fields]

    @admin.display(description="user", ordering="wallet__user__username")
    def user(self, entry: LedgerEntry):
        return entry.wallet.user

    @admin.display(description="reason")
    def reason(self, entry: LedgerEntry) -> str:
        return ledger_reason(entry)

    @admin.display(description="job", ordering="job")
    def job_column(self, entry: LedgerEntry) -> str:
        return job_link(entry)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SpendCap)
class SpendCapAdmin(admin.ModelAdmin):
    """A user's cap limits everything they spend; a token's, what requests with it spend. Net of refunds."""

    list_display = ("__str__", "user", "token", "period", "limit", "updated_at")
    list_filter = ("period",)
    search_fields = ("user__username", "token__lookup_key", "token__user__username")
    raw_id_fields = ("user", "token")
    fields = ("user", "token", "period", "limit")


@admin.register(SpendCounter)
class SpendCounterAdmin(admin.ModelAdmin):
    list_display = ("user", "token", "period", "period_start", "spent")
    list_filter = ("period",)
    search_fields = ("user__username", "token__lookup_key")
    readonly_fields = [f.name for f in SpendCounter._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
