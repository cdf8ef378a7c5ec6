from django.contrib import admin

from enrichment.models import IdempotencyRecord, Job, JobRow, WebhookDelivery


class JobRowInline(admin.TabularInline):
    model = JobRow
    extra = 0
    can_delete = False
    fields = ("position", "row_uid", "enrichment_status", "charge", "refund_due", "refund_reason", "completed_at")
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("event_id", "event", "status", "attempts", "last_status_code", "next_attempt_at", "delivered_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("job_id", "user", "type", "level", "record_count", "rows_processed", "status", "created_at")
    list_filter = ("status", "type", "level")
    search_fields = ("job_id", "user__username")
    readonly_fields = [field.name for field in Job._meta.fields]
    inlines = [JobRowInline, WebhookDeliveryInline]

    def has_add_permission(self, request):
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "token", "endpoint", "response_status", "created_at")
    readonly_fields = [field.name for field in IdempotencyRecord._meta.fields]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event", "job", "status", "attempts", "last_status_code", "next_attempt_at",
                    "created_at", "delivered_at")
    list_filter = ("status", "event")
    search_fields = ("event_id", "job__job_id", "url")
    list_select_related = ("job",)
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
