from django.contrib import admin, messages

from tokens.models import ApiToken, TestTokenUsage
from tokens.services import api_token_create, api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("display_prefix", "user", "kind", "name", "created_at", "expires_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("user__username", "lookup_key", "name")
    readonly_fields = ("lookup_key", "created_at")
    fields = ("user", "name", "kind", "daily_limit", "rate_limit_per_second", "expires_at", "revoked_at",
              "lookup_key", "created_at")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued = api_token_create(user=obj.user, kind=obj.kind, name=obj.name, daily_limit=obj.daily_limit,
                                  expires_at=obj.expires_at)
        obj.pk = issued.token.pk
        obj.lookup_key = issued.token.lookup_key
        self.message_user(
            request, f"New token (shown once, copy it now): {issued.plaintext}", level=messages.WARNING
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)


@admin.register(TestTokenUsage)
class TestTokenUsageAdmin(admin.ModelAdmin):
    list_display = ("token", "day", "count")
    list_filter = ("day",)
