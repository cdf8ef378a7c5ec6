"""AnyMailFinder: a person's work email from their name and company domain (or company name).

`POST https://api.anymailfinder.com/v5.0/search/person.json` with `Authorization: Bearer <key>` and a
body of `full_name` (or `first_name` + `last_name`) and `domain` (or `company_name`). A find answers
200 with `{"success": true, "results": {"email": …, "validation": "valid" | "unknown" | …}}` (the
older `{"email": …, "email_class": "verified"}` shape is read too); nothing found answers 404.
There is no batch endpoint for person searches, so the stage calls it per row, concurrently.
"""

from dataclasses import dataclass, replace

from django.conf import settings

from sources.normalize import normalize_email
from sources.providers.http import ProviderHttp, ProviderPolicy

SOURCE = "anymailfinder"
VERIFIED = frozenset({"valid", "verified"})
# 404: nobody found; 451: the person asked not to be found.
NOT_FOUND_STATUSES = (404, 451)


@dataclass(frozen=True)
class FoundEmail:
    email: str
    verified: bool
    validation: str


class AnymailfinderClient:
    source = SOURCE

    def __init__(self, http: ProviderHttp):
        self.http = http

    @classmethod
    def from_settings(cls, *, job_id, policy: ProviderPolicy) -> "AnymailfinderClient | None":
        if not settings.ANYMAILFINDER_API_KEY:
            return None
        # Its queue may hold a request up to a minute, and a request cut short goes back to the end of it.
        policy = replace(policy, timeout=settings.ANYMAILFINDER_TIMEOUT_SECONDS)
        return cls(ProviderHttp(name=SOURCE, base_url=settings.ANYMAILFINDER_BASE_URL, job_id=job_id, policy=policy,
                                headers={"Authorization": f"Bearer {settings.ANYMAILFINDER_API_KEY}"}))

    def find_person_email(self, *, first_name: str, last_name: str, domain: str = "",
                          company_name: str = "") -> FoundEmail | None:
        body = {"first_name": first_name, "last_name": last_name}
        body.update({"domain": domain} if domain else {"company_name": company_name})
        status, answer = self.http.call_json("POST", "/search/person.json", json=body,
                                             accept=(200, *NOT_FOUND_STATUSES))
        if status in NOT_FOUND_STATUSES:
            return None
        if not isinstance(answer, dict):
            raise self.http.unavailable("unavailable: unexpected response shape")
        results = answer.get("results") if isinstance(answer.get("results"), dict) else answer
        email = normalize_email(results.get("email"))
        if not email:
            return None
        validation = str(results.get("validation") or answer.get("email_class") or "").lower()
        return FoundEmail(email=email, verified=validation in VERIFIED, validation=validation or "unknown")
