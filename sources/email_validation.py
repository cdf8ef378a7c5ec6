"""Email deliverability checks. Locally: syntax, disposable domains and role addresses."""

from dataclasses import dataclass
from functools import lru_cache

from sources.normalize import email_domain, is_disposable_email_domain, is_role_address, normalize_email


@dataclass(frozen=True)
class EmailVerdict:
    deliverable: bool
    reason: str  # "valid", or why not


class LocalEmailValidator:
    source = "local_validation"

    def validate(self, email: str) -> EmailVerdict:
        normalized = normalize_email(email)
        if not normalized:
            return EmailVerdict(False, "invalid syntax")
        if is_disposable_email_domain(email_domain(normalized)):
            return EmailVerdict(False, "disposable domain")
        if is_role_address(normalized):
            return EmailVerdict(False, "role address")
        return EmailVerdict(True, "valid")

    def validate_many(self, emails: list[str]) -> dict[str, EmailVerdict]:
        return {email: self.validate(email) for email in set(emails)}


@lru_cache(maxsize=1)
def email_validator_backend():
    return LocalEmailValidator()
