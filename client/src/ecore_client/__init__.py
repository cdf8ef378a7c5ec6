"""The eCore enrichment API from Python: `Client`, `AsyncClient`, the `ecore` command and an MCP server."""

__version__ = "0.1.0"

from ecore_client.client import AsyncClient, Client, RetryPolicy  # noqa: E402
from ecore_client.errors import (  # noqa: E402
    AuthenticationFailed,
    BadRequest,
    Conflict,
    ConnectionFailed,
    DailyQuotaExceeded,
    EcoreError,
    InsufficientCredits,
    JobFailed,
    NotFound,
    PayloadTooLarge,
    PlanLimitExceeded,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    SpendCapReached,
    WaitTimedOut,
)
from ecore_client.models import (  # noqa: E402
    Account,
    BulkSubmission,
    Credits,
    Estimate,
    JobStatus,
    JobSummary,
    Lookup,
    PersonCompany,
    Submission,
)

__all__ = [
    "Account", "AsyncClient", "AuthenticationFailed", "BadRequest", "BulkSubmission", "Client", "Conflict",
    "ConnectionFailed", "Credits", "DailyQuotaExceeded", "EcoreError", "Estimate", "InsufficientCredits",
    "JobFailed", "JobStatus", "JobSummary", "Lookup", "NotFound", "PayloadTooLarge", "PersonCompany",
    "PlanLimitExceeded", "RateLimited", "RetryPolicy", "ServerError", "ServiceUnavailable", "SpendCapReached",
    "Submission",
    "WaitTimedOut", "__version__",
]
