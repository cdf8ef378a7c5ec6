"""Email deliverability checks: ZeroBounce for Pro jobs when it is configured, local checks otherwise.

Locally: syntax, disposable domains, role addresses, and the domain's MX records when DNS answers
(bounded to about a second per batch, cached per domain, "unknown" when DNS cannot tell). An address
guessed from a domain's pattern (`sources.email_patterns`) needs stronger evidence than one DataCore
knows: its pattern learned from at least MIN_PATTERN_SUPPORT known addresses and its domain a DataCore
company's, or, with ZeroBounce, a "valid" verdict (catch-all and unknown are not enough).
"""

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings
from django.core.cache import cache

from ecore.process_cache import ProcessCache
from sources.models import Company
from sources.normalize import email_domain, is_disposable_email_domain, is_role_address, normalize_email
from sources.providers.http import ProviderPolicy, ProviderUnavailable
from sources.providers.zerobounce import (
    BATCH_LIMIT,
    UNDELIVERABLE_STATUSES,
    ZeroBounceClient,
    ZeroBounceResult,
)

logger = logging.getLogger(__name__)

MIN_PATTERN_SUPPORT = 2
MX_CACHE_SECONDS = 24 * 3600
MX_UNKNOWN_CACHE_SECONDS = 600
# How long a process keeps the MX statuses it read or resolved before asking Redis again: lookups
# repeat the same company domains, and Redis's copy lives hours (minutes when unknown).
MX_PROCESS_SECONDS = 60
MX_PROCESS_ENTRIES = 65536
ZEROBOUNCE_CACHE_SECONDS = 24 * 3600
# A domain that certainly receives mail: when the resolver denies it exists, its negative answers are
# not to be believed (a sandbox or captive DNS), and every domain counts as unknown.
RESOLVER_CANARY_DOMAIN = "gmail.com"


@dataclass(frozen=True)
class EmailVerdict:
    deliverable: bool
    reason: str  # "valid", or why not


class MxStatus(Enum):
    ACCEPTS_MAIL = "accepts mail"
    NO_SUCH_DOMAIN = "domain does not exist"
    NO_MAIL = "domain accepts no mail"
    UNKNOWN = "unknown"


def _nameserver(address: str) -> dns.nameserver.Do53Nameserver:
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "53")
    return dns.nameserver.Do53Nameserver(host, int(port))


# This process's copy of Redis's MX entries, by cache key.
_process_mx = ProcessCache(max_entries=MX_PROCESS_ENTRIES, seconds=lambda: MX_PROCESS_SECONDS)


class MxChecker:
    """MX lookups for a batch's domains within `seconds_per_batch` in all, cached per domain (in Redis,
    and for MX_PROCESS_SECONDS in the process)."""

    def __init__(self, *, nameservers: Iterable[str] = (), seconds_per_batch: float = 1.0):
        self.nameservers = list(nameservers)
        self.seconds_per_batch = seconds_per_batch

    @classmethod
    def from_settings(cls) -> "MxChecker":
        return cls(nameservers=settings.EMAIL_DNS_NAMESERVERS, seconds_per_batch=settings.EMAIL_MX_SECONDS_PER_BATCH)

    def _resolver(self) -> dns.resolver.Resolver:
        if not self.nameservers:
            return dns.resolver.Resolver()
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(address) for address in self.nameservers]
        return resolver

    def _cache_key(self, domain: str) -> str:
        return f"email_mx:{','.join(self.nameservers)}:{domain}"

    def _lookup(self, resolver: dns.resolver.Resolver, domain: str, deadline: float) -> MxStatus:
        lifetime = deadline - time.monotonic()
        if lifetime <= 0:
            return MxStatus.UNKNOWN
        try:
            answer = resolver.resolve(domain, "MX", lifetime=lifetime, search=False)
        except dns.resolver.NXDOMAIN:
            return MxStatus.NO_SUCH_DOMAIN
        except (dns.resolver.NoAnswer, dns.exception.DNSException, OSError):
            # No MX record still allows mail to the domain's A record; the rest is DNS not answering.
            return MxStatus.UNKNOWN
        exchanges = {str(record.exchange) for record in answer}
        return MxStatus.NO_MAIL if exchanges == {"."} else MxStatus.ACCEPTS_MAIL

    def _resolver_is_truthful(self, resolver, deadline: float) -> bool:
        trusted = self._lookup(resolver, RESOLVER_CANARY_DOMAIN, deadline) is MxStatus.ACCEPTS_MAIL
        cache.set(self._canary_key, trusted, timeout=MX_UNKNOWN_CACHE_SECONDS)
        _process_mx.put_many({self._canary_key: trusted})
        return trusted

    @property
    def _canary_key(self) -> str:
        return self._cache_key("<canary>")

    def _unknown_while_dns_cannot_tell(self, domains: list[str]) -> dict[str, MxStatus]:
        # Not in Redis: each process asks again once its copy expires, and DNS may answer by then.
        _process_mx.put_many({self._cache_key(domain): MxStatus.UNKNOWN.value for domain in domains})
        return dict.fromkeys(domains, MxStatus.UNKNOWN)

    def check_many(self, domains: Iterable[str]) -> dict[str, MxStatus]:
        domains = sorted({domain for domain in domains if domain})
        keys = [self._canary_key, *(self._cache_key(domain) for domain in domains)]
        cached = _process_mx.get_many(keys)
        if any(key not in cached for key in keys[1:]):
            # The resolver's last verdict comes with the domains' in one round trip.
            from_redis = cache.get_many([key for key in keys if key not in cached])
            _process_mx.put_many(from_redis)
            cached |= from_redis
        statuses = {domain: MxStatus(cached[self._cache_key(domain)]) for domain in domains
                    if self._cache_key(domain) in cached}
        pending = [domain for domain in domains if domain not in statuses]
        if not pending:
            return statuses
        if cached.get(self._canary_key) is False:
            return statuses | self._unknown_while_dns_cannot_tell(pending)
        deadline = time.monotonic() + self.seconds_per_batch
        try:
            resolver = self._resolver()
        except dns.exception.DNSException:
            return statuses | self._unknown_while_dns_cannot_tell(pending)
        if cached.get(self._canary_key) is None and not self._resolver_is_truthful(resolver, deadline):
            return statuses | self._unknown_while_dns_cannot_tell(pending)
        with ThreadPoolExecutor(max_workers=min(8, len(pending)), thread_name_prefix="mx") as pool:
            found = dict(zip(pending, pool.map(lambda domain: self._lookup(resolver, domain, deadline), pending),
                             strict=True))
        for status in set(found.values()):
            timeout = MX_UNKNOWN_CACHE_SECONDS if status is MxStatus.UNKNOWN else MX_CACHE_SECONDS
            cache.set_many({self._cache_key(domain): status.value for domain, each in found.items() if each is status},
                           timeout=timeout)
        _process_mx.put_many({self._cache_key(domain): status.value for domain, status in found.items()})
        return statuses | found


def _host(email: str) -> str:
    return email.rpartition("@")[2]


def _static_verdict(email: str) -> EmailVerdict | None:
    """Why an address cannot be delivered, from the address alone; None when nothing says so."""
    normalized = normalize_email(email)
    if not normalized:
        return EmailVerdict(False, "invalid syntax")
    if is_disposable_email_domain(email_domain(normalized)):
        return EmailVerdict(False, "disposable domain")
    if is_role_address(normalized):
        return EmailVerdict(False, "role address")
    return None


def datacore_domains(domains: Iterable[str]) -> set[str]:
    domains = {domain for domain in domains if domain}
    if not domains:
        return set()
    return set(Company.objects.filter(domain_norm__in=domains).values_list("domain_norm", flat=True))


def _pattern_verdict(email: str, *, support: int, known_domains: set[str]) -> EmailVerdict | None:
    if support < MIN_PATTERN_SUPPORT:
        return EmailVerdict(False, f"guessed from a pattern of {support} known address(es), "
                                   f"{MIN_PATTERN_SUPPORT} needed")
    if email_domain(email) not in known_domains:
        return EmailVerdict(False, "guessed at a domain DataCore does not know")
    return None


class LocalEmailValidator:
    source = "local_validation"

    def __init__(self, *, mx_checker: MxChecker | None = None):
        self.mx_checker = mx_checker or MxChecker.from_settings()

    def validate(self, email: str) -> EmailVerdict:
        return self.validate_many([email])[email]

    def validate_many(self, emails: Iterable[str], *, guessed: Mapping[str, int] | None = None) -> dict[str, EmailVerdict]:
        """Verdicts by address. `guessed` maps pattern-built addresses to their pattern's known-address count."""
        guessed = guessed or {}
        emails = set(emails)
        verdicts = {email: verdict for email in emails if (verdict := _static_verdict(email)) is not None}
        remaining = [email for email in emails if email not in verdicts]
        known_domains = datacore_domains(email_domain(email) for email in remaining if email in guessed)
        for email in remaining:
            if email in guessed and (verdict := _pattern_verdict(email, support=guessed[email],
                                                                  known_domains=known_domains)):
                verdicts[email] = verdict
        remaining = [email for email in remaining if email not in verdicts]
        mx = self.mx_checker.check_many(_host(normalize_email(email)) for email in remaining)
        for email in remaining:
            status = mx.get(_host(normalize_email(email)), MxStatus.UNKNOWN)
            if status in (MxStatus.NO_SUCH_DOMAIN, MxStatus.NO_MAIL):
                verdicts[email] = EmailVerdict(False, status.value)
            elif email in guessed:
                verdicts[email] = EmailVerdict(True, f"pattern of {guessed[email]} known addresses")
            else:
                verdicts[email] = EmailVerdict(True, "valid" if status is MxStatus.ACCEPTS_MAIL else "valid (mail server unknown)")
        return verdicts


class ZeroBounceEmailValidator:
    """ZeroBounce's verdicts, one batch call per BATCH_LIMIT addresses, cached a day per address.

    Addresses that fail the local static checks are not sent (they cost a credit to learn nothing);
    when ZeroBounce cannot answer, the local validator decides instead and the job goes on.
    """

    source = "zerobounce"

    def __init__(self, client: ZeroBounceClient, *, fallback: LocalEmailValidator):
        self.client = client
        self.fallback = fallback
        self.unavailable_reason = ""

    def _results(self, emails: list[str]) -> dict[str, ZeroBounceResult]:
        keys = {email: f"zerobounce:{email}" for email in emails}
        cached = cache.get_many(list(keys.values()))
        results = {email: ZeroBounceResult(**cached[key]) for email, key in keys.items() if key in cached}
        uncached = [email for email in emails if email not in results]
        try:
            for start in range(0, len(uncached), BATCH_LIMIT):
                chunk = uncached[start:start + BATCH_LIMIT]
                answered = self.client.validate_batch(chunk)
                fresh = {email: answered[email] for email in chunk if email in answered}
                cache.set_many({keys[email]: vars(result) for email, result in fresh.items()},
                               timeout=ZEROBOUNCE_CACHE_SECONDS)
                results.update(fresh)
        except ProviderUnavailable as exc:
            self.unavailable_reason = exc.reason
            logger.warning("ZeroBounce unavailable, validating locally: %s", exc.reason)
        finally:
            self.client.http.close()
        return results

    def validate_many(self, emails: Iterable[str], *, guessed: Mapping[str, int] | None = None) -> dict[str, EmailVerdict]:
        guessed = guessed or {}
        emails = set(emails)
        verdicts = {email: verdict for email in emails if (verdict := _static_verdict(email)) is not None}
        normalized = {email: normalize_email(email) for email in emails if email not in verdicts}
        results = self._results(sorted(set(normalized.values())))
        undecided = []
        for email, address in normalized.items():
            result = results.get(address)
            if result is None:
                undecided.append(email)
            elif result.status in UNDELIVERABLE_STATUSES:
                verdicts[email] = EmailVerdict(False, result.reason)
            elif email in guessed and result.status != "valid":
                verdicts[email] = EmailVerdict(False, f"guessed, and ZeroBounce says {result.reason}")
            else:
                verdicts[email] = EmailVerdict(True, result.reason)
        if undecided:
            verdicts.update(self.fallback.validate_many(undecided, guessed={
                email: guessed[email] for email in undecided if email in guessed}))
        return verdicts


def email_validator_backend(*, spec=None):
    """ZeroBounce when it is configured, for Pro jobs (a paid check) or outside any job; local otherwise.

    `spec` is the enrichment's `EnrichmentSpec`, for its level and job id.
    """
    local = LocalEmailValidator()
    if spec is not None and spec.level != "pro":
        return local
    client = ZeroBounceClient.from_settings(job_id=spec.job_id if spec is not None else None,
                                            policy=ProviderPolicy.from_settings())
    return local if client is None else ZeroBounceEmailValidator(client, fallback=local)
