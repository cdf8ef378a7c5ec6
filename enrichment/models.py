import uuid
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    """The seed's lifecycle names, verbatim."""

    UPLOADING = "Uploading", "Uploading"
    STARTED = "Enrichment Started", "Enrichment Started"
    PREPARING = "Preparing Data", "Preparing Data"
    DATACORE = "DataCore Lookup", "DataCore Lookup"
    SCRAPED = "Scraped DB Lookup", "Scraped DB Lookup"
    BIGQUERY = "BigQuery Lookup", "BigQuery Lookup"
    MEILISEARCH = "Meilisearch Lookup", "Meilisearch Lookup"
    PRO = "Pro Enrichment", "Pro Enrichment"
    EMAIL_VALIDATION = "Email Validation", "Email Validation"
    PHONE_LOOKUP = "BigQuery Phone Lookup", "BigQuery Phone Lookup"
    NAME_MATCH = "Name-Match Verification", "Name-Match Verification"
    STILL_IN_COMPANY = "Still-In-Company Check", "Still-In-Company Check"
    STATS = "Calculating Stats", "Calculating Stats"
    RECONCILING = "Reconciling Credits", "Reconciling Credits"
    SAVING = "Saving Results", "Saving Results"
    SAVING_ROWS = "Saving Row Results", "Saving Row Results"
    COMPLETED = "Enrichment Completed", "Enrichment Completed"
    PAUSED = "Paused", "Paused"
    FAILURE = "Failure", "Failure"


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILURE})


class RowPricing:
    """What one input row costs and how far an account row expands: a job's and its spec's alike."""

    criteria: dict | None
    per_row_rate: Decimal
    rate_multiplier: int

    @property
    def criteria_limit(self) -> int | None:
        return (self.criteria or {}).get("limit")

    @property
    def row_charge(self) -> Decimal:
        """What one input row costs at the current rate."""
        return self.per_row_rate * self.rate_multiplier


class Job(RowPricing, models.Model):
    class Type(models.TextChoices):
        CONTACT = "contact", "Contact"
        ACCOUNT = "account", "Account"

    class Level(models.TextChoices):
        STANDARD = "standard", "Standard"
        PRO = "pro", "Pro"
        QUICK = "quick", "Quick"

    job_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="enrichment_jobs")
    type = models.CharField(max_length=16, choices=Type.choices)
    level = models.CharField(max_length=16, choices=Level.choices)
    fields_to_enrich = models.JSONField(default=list)
    criteria = models.JSONField(null=True, blank=True)
    record_count = models.PositiveIntegerField()
    input_data = models.JSONField(default=list, help_text="The submitted records, in order.")
    input_columns = models.JSONField(default=list, help_text="Input column names in the client's order "
                                                             "(jsonb does not keep the order of keys).")
    input_file_name = models.CharField(max_length=255, blank=True)
    min_confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    max_age_days = models.PositiveIntegerField(null=True, blank=True,
                                               help_text="Values last seen longer ago are withheld and not charged.")
    accept_catch_all = models.BooleanField(default=True, help_text="Deliver (and charge) emails at catch-all "
                                                                   "domains; when off they are dropped and refunded.")
    webhook_url = models.URLField(max_length=1000, blank=True)

    rate_category = models.CharField(max_length=16)
    per_row_rate = models.DecimalField(max_digits=12, decimal_places=4,
                                       help_text="Current per-row price; resume re-prices it.")
    rate_multiplier = models.PositiveIntegerField(default=1, help_text="criteria.limit for expanded accounts")
    estimated_credits = models.DecimalField(max_digits=14, decimal_places=4)
    # Whose spend the job's refunds give back: the token and time of its last charge (submit or resume).
    token = models.ForeignKey("tokens.ApiToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The token whose request charged the job last (submit or resume).")
    charged_at = models.DateTimeField(null=True, blank=True, help_text="When the job was last charged.")

    status = models.CharField(max_length=40, choices=JobStatus.choices, default=JobStatus.UPLOADING)
    stage_log = models.JSONField(default=list, blank=True, help_text="Per stage: state, source, rows filled.")
    rows_processed = models.PositiveIntegerField(default=0)
    checkpoint = models.JSONField(null=True, blank=True)
    pause_requested = models.BooleanField(default=False)
    pause_count = models.PositiveIntegerField(default=0)
    field_stats = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    failure_meta = models.JSONField(null=True, blank=True)

    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"]), models.Index(fields=["status", "queued_at"])]

    def __str__(self):
        return f"{self.type}/{self.level} job {self.job_id} ({self.status})"


class JobRow(models.Model):
    """One input row's result, saved as soon as the row is finished; the source of truth for results."""

    class EnrichmentStatus(models.TextChoices):
        ENRICHED = "enriched"
        PARTIAL = "partially_enriched"
        NOT_ENRICHED = "not_enriched"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="rows")
    row_uid = models.CharField(max_length=32, unique=True, help_text="Internal UUID, 32 hex characters.")
    position = models.PositiveIntegerField(help_text="Index of the input row.")
    output = models.JSONField(help_text="Output rows of this input row (several when an account expands).")
    enrichment_status = models.CharField(max_length=24, choices=EnrichmentStatus.choices)
    charge = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"),
                                 help_text="What this row was charged when processed.")
    refund_due = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"),
                                     help_text="The part of the charge reversed at reconciliation.")
    refund_reason = models.CharField(max_length=40, blank=True)
    already_paid = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("0"),
                                       help_text="The part of what the row delivered that the customer had already "
                                                 "paid for, refunded at reconciliation as `already_paid`.")
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="job_row_once_per_position")]

    def __str__(self):
        return f"row {self.position + 1} of job {str(self.job_id)[:8]}…"


class PaidValue(models.Model):
    """What a customer has paid for: one person's or company's values of one kind, delivered and charged.

    The unique key is what makes a repeat free. A row or lookup delivering (user, entity, paid_for)
    again takes the key only when its `paid_at` is `repeat_free_days` old (an upsert that updates
    only then); otherwise it is not charged. Two deliveries of one key at the same moment meet in
    the unique index, so exactly one of them pays.
    """

    class PaidFor(models.TextChoices):
        PHONE = "phone", "A phone"
        EMAIL = "email", "A deliverable email"
        PROFILE = "profile", "A person's other fields"
        COMPANY = "company", "A company's firmographics"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=400, help_text="person:<DataCore natural key> or company:<key>")
    paid_for = models.CharField(max_length=16, choices=PaidFor.choices)
    paid_at = models.DateTimeField()
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reference = models.CharField(max_length=200, help_text="The charge that paid: a job row or a single lookup.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "entity", "paid_for"], name="paid_value_once")]

    def __str__(self):
        return f"{self.user} paid for {self.entity} ({self.paid_for}) at {self.paid_at:%Y-%m-%d %H:%M}"


class IdempotencyRecord(models.Model):
    """A stored response replayed for retries carrying the same `Idempotency-Key` (scoped to a token)."""

    token = models.ForeignKey("tokens.ApiToken", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=100)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token")]

    def __str__(self):
        return f"Idempotency-Key {self.key} · {self.endpoint}"


class WebhookSecret(models.Model):
    """The key a user's webhook deliveries are signed with; rotating it replaces it at once."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"webhook secret of {self.user} ({self.created_at:%Y-%m-%d})"


class WebhookDelivery(models.Model):
    """One event for one job's webhook, and where its delivery stands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=32)
    url = models.URLField(max_length=1000)
    payload = models.JSONField(help_text="The event as sent: event_id, event, created_at and the status document.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_excerpt = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self):
        attempts = f"{self.attempts} attempt{'' if self.attempts == 1 else 's'}"
        return f"{self.event} webhook to {urlsplit(self.url).hostname} · {self.status} after {attempts}"
