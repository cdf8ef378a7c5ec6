from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A hashed API credential. The plaintext is shown once, at creation, and never stored.

    Format: `<kind prefix><lookup key><secret>`, e.g. `eck_live_AbC123xYz789…`. The lookup key
    finds the row through an index; the SHA-256 digest of the whole token is then compared in
    constant time, as django-rest-knox and GitHub's token formats do.
    """

    class Kind(models.TextChoices):
        LIVE = "live", "Live"
        TEST = "test", "Test"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.LIVE)
    lookup_key = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    daily_limit = models.PositiveIntegerField(
        default=100, help_text="Requests per UTC day; applies to test tokens only."
    )
    rate_limit_per_second = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the plan's per-second limit on single-record endpoints."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} token {self.display_prefix}… ({self.user})"

    @property
    def display_prefix(self) -> str:
        return f"eck_{self.kind}_{self.lookup_key}"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class TestTokenUsage(models.Model):
    __test__ = False  # not a pytest test class despite its name

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "day"], name="test_token_usage_once_per_day")]

    def __str__(self):
        return f"{self.count} requests on {self.day:%Y-%m-%d} by token {self.token_id}"
