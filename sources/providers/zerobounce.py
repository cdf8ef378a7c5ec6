"""ZeroBounce API v2: email deliverability.

Single: `GET https://api.zerobounce.net/v2/validate?api_key=…&email=…&ip_address=`. Batch:
`POST https://bulkapi.zerobounce.net/v2/validatebatch` with `{"api_key", "email_batch": [{"email_address",
"ip_address"}]}`, up to 200 addresses a call (older docs said 100) and 5 calls a minute. Each result
has `address`, `status` (valid, invalid, catch-all, unknown, spamtrap, abuse, do_not_mail) and
`sub_status` (what each means to us: `sources.email_validation.ZEROBOUNCE_STATUSES`). Errors come back as HTTP 200 bodies: `{"error": …}` for a single validation, and
`{"email_batch": [], "errors": [{"error": …, "email_address": "all"}]}` for a batch.
"""

from dataclasses import dataclass

from django.conf import settings

from sources.providers.http import ProviderHttp, ProviderPolicy

SOURCE = "zerobounce"
BATCH_LIMIT = 200


@dataclass(frozen=True)
class ZeroBounceResult:
    address: str
    status: str
    sub_status: str

    @property
    def reason(self) -> str:
        return f"{self.status} ({self.sub_status})" if self.sub_status else self.status


def _result(item: dict) -> ZeroBounceResult:
    return ZeroBounceResult(address=str(item.get("address") or "").lower(),
                            status=str(item.get("status") or "unknown").lower(),
                            sub_status=str(item.get("sub_status") or "").lower())


class ZeroBounceClient:
    source = SOURCE

    def __init__(self, http: ProviderHttp, *, api_key: str):
        self.http = http
        self.api_key = api_key

    @classmethod
    def from_settings(cls, *, job_id, policy: ProviderPolicy) -> "ZeroBounceClient | None":
        if not settings.ZEROBOUNCE_API_KEY:
            return None
        # Two hosts (api and bulkapi) under one budget, so absolute URLs.
        return cls(ProviderHttp(name=SOURCE, base_url="", job_id=job_id, policy=policy),
                   api_key=settings.ZEROBOUNCE_API_KEY)

    def validate(self, email: str) -> ZeroBounceResult:
        _, body = self.http.call_json("GET", f"{settings.ZEROBOUNCE_BASE_URL}/validate",
                                      params={"api_key": self.api_key, "email": email, "ip_address": ""})
        if not isinstance(body, dict) or body.get("error"):
            raise self.http.unavailable(f"unavailable: {body.get('error') if isinstance(body, dict) else 'bad response'}")
        return _result(body)

    def validate_batch(self, emails: list[str]) -> dict[str, ZeroBounceResult]:
        """Results by lowercased address, for up to BATCH_LIMIT addresses; addresses it failed are absent."""
        if len(emails) > BATCH_LIMIT:
            raise ValueError(f"ZeroBounce validates at most {BATCH_LIMIT} addresses a call")
        _, body = self.http.call_json("POST", f"{settings.ZEROBOUNCE_BULK_BASE_URL}/validatebatch", json={
            "api_key": self.api_key,
            "email_batch": [{"email_address": email, "ip_address": None} for email in emails],
            # ZeroBounce answers "unknown" for what it cannot settle in this many seconds (10–120),
            # so a slow mail server does not run the call past our own timeout.
            "timeout": min(120, max(10, int(self.http.policy.timeout) - 5)),
        })
        if not isinstance(body, dict):
            raise self.http.unavailable("unavailable: unexpected response shape")
        errors = [error for error in body.get("errors") or [] if isinstance(error, dict)]
        if any(error.get("email_address") == "all" for error in errors):
            raise self.http.unavailable(f"unavailable: {errors[0].get('error') or 'the batch was refused'}")
        results = (_result(item) for item in body.get("email_batch") or [] if isinstance(item, dict))
        return {result.address: result for result in results if result.address}
