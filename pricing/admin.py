from django.contrib import admin

from pricing.models import Price, Subscription, SubscriptionPlan


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("name", "value", "description", "updated_at")
    list_editable = ("value",)
    search_fields = ("name",)


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(admin.ModelAdmin):
    list_display = ("name", "enrichment_limit", "rate_limit_per_second")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "plan", "is_active", "started_at", "ends_at")
    list_filter = ("is_active", "plan")
    search_fields = ("user__username",)
    autocomplete_fields = ()
