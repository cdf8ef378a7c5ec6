"""Email deliverability checks: ZeroBounce for Pro jobs when it is configured, local checks otherwise.

Locally: syntax, disposable domains, role addresses, and the domain's MX records when DNS answers
(bounded to about a second per batch, cached per domain, "unknown" when DNS cannot tell). An address
guessed from a domain's pattern (`sources.email_patterns`) needs stronger evidence than one DataCore
knows: its pattern learned from at least MIN_PATTERN_SUPPORT known addresses and its domain a DataCore
company's, or, with ZeroBounce, a "valid" verdict (catch-all and unknown are not enough).

Every verdict carries one of five statuses (`EmailStatus`) and a reason code: the local checks' own
codes, or `zerobounce:<status>[:<sub_status>]` for ZeroBounce's documented answers, each mapped in
ZEROBOUNCE_STATUSES. A domain ZeroBounce finds catch-all is remembered (CATCH_ALL_CACHE_SECONDS), so the
local checks say catch-all for its other addresses too; there is no local probe of a mail server.
"""

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum, StrEnum

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings
from django.core.cache import cache

from ecore.process_cache import ProcessCache
from sources import datacore
from sources.models import Company
from sources.normalize import email_domain, is_disposable_email_domain, is_role_address, normalize_email
from sources.providers.http import ProviderPolicy, ProviderUnavailable
from sources.providers.zerobounce import BATCH_LIMIT, ZeroBounceClient, ZeroBounceResult
from sources.sql import lookup_errors

logger = logging.getLogger(__name__)

MIN_PATTERN_SUPPORT = 2
MX_CACHE_SECONDS = 24 * 3600
MX_UNKNOWN_CACHE_SECONDS = 600
# How long a process keeps the MX statuses it read or resolved before asking Redis again: lookups
# repeat the same company domains, and Redis's copy lives hours (minutes when unknown).
MX_PROCESS_SECONDS = 60
MX_PROCESS_ENTRIES = 65536
ZEROBOUNCE_CACHE_SECONDS = 24 * 3600
# A domain's catch-all answer is about its mail server's configuration, which changes rarely.
CATCH_ALL_CACHE_SECONDS = 7 * 24 * 3600
# A domain that certainly receives mail: when the resolver denies it exists, its negative answers are
# not to be believed (a sandbox or captive DNS), and every domain counts as unknown.
RESOLVER_CANARY_DOMAIN = "gmail.com"


class EmailStatus(StrEnum):
    """What a delivered email's `contact_email_status` says of it."""

    DELIVERABLE = "deliverable"
    CATCH_ALL = "catch_all"  # the domain accepts every address: this one cannot be confirmed
    RISKY = "risky"  # usable, on weaker evidence (a pattern guess)
    UNKNOWN = "unknown"  # the checks could not tell
    UNDELIVERABLE = "undeliverable"  # never delivered


@dataclass(frozen=True)
class EmailVerdict:
    accepted: bool  # the validator lets the address be delivered (a job's accept_catch_all aside)
    reason: str  # in words: "valid", or why not (the single email endpoint's email_status)
    status: EmailStatus
    status_reason: str  # a code: "mx_found", "role_address", "zerobounce:catch-all"
    source: str = ""  # the validator that decided

    @property
    def mailbox_confirmed(self) -> bool:
        """A provider found the mailbox itself; the local checks only ever vouch for its domain."""
        return self.status is EmailStatus.DELIVERABLE and self.source == ZeroBounceEmailValidator.source


def _local(accepted: bool, reason: str, status: EmailStatus, status_reason: str) -> EmailVerdict:
    return EmailVerdict(accepted=accepted, reason=reason, status=status, status_reason=status_reason,
                        source=LocalEmailValidator.source)


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
    """Why an address cannot be delivered, from the address alone; None when nothing says so.

    A role address (info@, sales@) reaches a desk, not the person asked for, so it is never delivered.
    """
    normalized = normalize_email(email)
    if not normalized:
        return _local(False, "invalid syntax", EmailStatus.UNDELIVERABLE, "invalid_syntax")
    if is_disposable_email_domain(email_domain(normalized)):
        return _local(False, "disposable domain", EmailStatus.UNDELIVERABLE, "disposable_domain")
    if is_role_address(normalized):
        return _local(False, "role address", EmailStatus.UNDELIVERABLE, "role_address")
    return None


def _catch_all_key(host: str) -> str:
    return f"email_catch_all:{host}"


# This process's copy of which mail domains Redis remembers as catch-all (True) or not (False), read
# with the MX statuses of the same lookups.
_process_catch_all = ProcessCache(max_entries=MX_PROCESS_ENTRIES, seconds=lambda: MX_PROCESS_SECONDS)


def catch_all_domains_remember(hosts: Iterable[str]) -> None:
    """Remembers mail domains found to accept every address. In the cache only: when it is lost, the
    domain's addresses lose their catch-all status until a provider says so again."""
    remembered = {_catch_all_key(host): True for host in hosts if host}
    if remembered:
        cache.set_many(remembered, timeout=CATCH_ALL_CACHE_SECONDS)
        _process_catch_all.put_many(remembered)


def catch_all_domains(hosts: Iterable[str]) -> set[str]:
    """The mail domains among `hosts` remembered as catch-all: at most one cache round trip."""
    keys = {_catch_all_key(host): host for host in set(hosts) if host}
    known = _process_catch_all.get_many(keys)
    unknown = [key for key in keys if key not in known]
    if unknown:
        found = cache.get_many(unknown)
        fetched = {key: bool(found.get(key)) for key in unknown}
        _process_catch_all.put_many(fetched)
        known |= fetched
    return {keys[key] for key, catch_all in known.items() if catch_all}


def datacore_domains(domains: Iterable[str]) -> set[str]:
    domains = {domain for domain in domains if domain}
    if not domains:
        return set()
    with lookup_errors(source=datacore.SOURCE):
        return set(Company.objects.filter(domain_norm__in=domains).values_list("domain_norm", flat=True))


def _pattern_verdict(email: str, *, support: int, known_domains: set[str]) -> EmailVerdict | None:
    if support < MIN_PATTERN_SUPPORT:
        return _local(False, f"guessed from a pattern of {support} known address(es), {MIN_PATTERN_SUPPORT} needed",
                      EmailStatus.UNKNOWN, "pattern_too_few_examples")
    if email_domain(email) not in known_domains:
        return _local(False, "guessed at a domain DataCore does not know", EmailStatus.UNKNOWN,
                      "pattern_domain_unknown")
    return None


def _mx_verdict(status: MxStatus, *, guess_support: int | None, catch_all: bool) -> EmailVerdict:
    """The local verdict on an address that passed the static checks, from its domain's MX status."""
    if status is MxStatus.NO_SUCH_DOMAIN:
        return _local(False, status.value, EmailStatus.UNDELIVERABLE, "domain_not_found")
    if status is MxStatus.NO_MAIL:
        return _local(False, status.value, EmailStatus.UNDELIVERABLE, "mx_missing")
    if catch_all and guess_support is not None:
        # The domain accepts any address, so nothing says the guess is the person's.
        return _local(False, "guessed at a catch-all domain", EmailStatus.CATCH_ALL, "catch_all_domain")
    if catch_all:
        return _local(True, "catch-all domain", EmailStatus.CATCH_ALL, "catch_all_domain")
    if guess_support is not None:
        return _local(True, f"pattern of {guess_support} known addresses", EmailStatus.RISKY, "pattern_guess")
    if status is MxStatus.ACCEPTS_MAIL:
        return _local(True, "valid", EmailStatus.DELIVERABLE, "mx_found")
    return _local(True, "valid (mail server unknown)", EmailStatus.UNKNOWN, "mx_unknown")


class LocalEmailValidator:
    source = "local_validation"
    confirms_mailboxes = False

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
        hosts = {email: _host(normalize_email(email)) for email in remaining if email not in verdicts}
        mx = self.mx_checker.check_many(hosts.values())
        catch_all = catch_all_domains(hosts.values())
        for email, host in hosts.items():
            verdicts[email] = _mx_verdict(mx.get(host, MxStatus.UNKNOWN), guess_support=guessed.get(email),
                                          catch_all=host in catch_all)
        return verdicts


_DELIVERABLE, _CATCH_ALL, _UNKNOWN, _UNDELIVERABLE = (EmailStatus.DELIVERABLE, EmailStatus.CATCH_ALL,
                                                      EmailStatus.UNKNOWN, EmailStatus.UNDELIVERABLE)
# ZeroBounce's documented (status, sub_status) answers, each to one of our statuses. ZeroBounce says not to
# mail spamtrap, abuse and do_not_mail addresses (role, disposable, toxic, suppressed, possible traps,
# forwarders): they are undeliverable here, as its invalid ones are. "valid" with accept_all is ZeroBounce's
# scoring at a catch-all domain: a catch-all answer, not a confirmed mailbox.
ZEROBOUNCE_STATUSES: dict[tuple[str, str], EmailStatus] = {
    ("valid", ""): _DELIVERABLE,
    ("valid", "alias_address"): _DELIVERABLE,
    ("valid", "leading_period_removed"): _DELIVERABLE,
    ("valid", "alternate"): _DELIVERABLE,
    ("valid", "accept_all"): _CATCH_ALL,
    ("valid", "role_based_accept_all"): _UNDELIVERABLE,
    ("invalid", ""): _UNDELIVERABLE,
    ("invalid", "does_not_accept_mail"): _UNDELIVERABLE,
    ("invalid", "failed_syntax_check"): _UNDELIVERABLE,
    ("invalid", "possible_typo"): _UNDELIVERABLE,
    ("invalid", "mailbox_not_found"): _UNDELIVERABLE,
    ("invalid", "no_dns_entries"): _UNDELIVERABLE,
    ("invalid", "mailbox_quota_exceeded"): _UNDELIVERABLE,
    ("invalid", "unroutable_ip_address"): _UNDELIVERABLE,
    ("catch-all", ""): _CATCH_ALL,
    ("spamtrap", ""): _UNDELIVERABLE,
    ("abuse", ""): _UNDELIVERABLE,
    ("do_not_mail", ""): _UNDELIVERABLE,
    ("do_not_mail", "role_based"): _UNDELIVERABLE,
    ("do_not_mail", "role_based_catch_all"): _UNDELIVERABLE,
    ("do_not_mail", "disposable"): _UNDELIVERABLE,
    ("do_not_mail", "toxic"): _UNDELIVERABLE,
    ("do_not_mail", "global_suppression"): _UNDELIVERABLE,
    ("do_not_mail", "possible_trap"): _UNDELIVERABLE,
    ("do_not_mail", "mx_forward"): _UNDELIVERABLE,
    ("unknown", ""): _UNKNOWN,
    ("unknown", "antispam_system"): _UNKNOWN,
    ("unknown", "exception_occurred"): _UNKNOWN,
    ("unknown", "failed_smtp_connection"): _UNKNOWN,
    ("unknown", "forcible_disconnect"): _UNKNOWN,
    ("unknown", "greylisted"): _UNKNOWN,
    ("unknown", "mail_server_did_not_respond"): _UNKNOWN,
    ("unknown", "mail_server_temporary_error"): _UNKNOWN,
    ("unknown", "timeout_exceeded"): _UNKNOWN,
}
# The answers that say the address's domain accepts every address, whatever else they say.
ZEROBOUNCE_CATCH_ALL_ANSWERS = frozenset({("catch-all", ""), ("valid", "accept_all"), ("valid", "role_based_accept_all"),
                                          ("do_not_mail", "role_based_catch_all")})


def zerobounce_status(result: ZeroBounceResult) -> EmailStatus:
    """Our status for a ZeroBounce answer; a sub_status it has not documented is read as its status alone,
    and a status it has not documented as unknown."""
    return (ZEROBOUNCE_STATUSES.get((result.status, result.sub_status))
            or ZEROBOUNCE_STATUSES.get((result.status, ""), EmailStatus.UNKNOWN))


def zerobounce_domain_is_catch_all(result: ZeroBounceResult) -> bool:
    return (result.status, result.sub_status) in ZEROBOUNCE_CATCH_ALL_ANSWERS or result.status == "catch-all"


def zerobounce_verdict(result: ZeroBounceResult, *, guessed: bool = False) -> EmailVerdict:
    """ZeroBounce's answer as a verdict; a guessed address needs a confirmed mailbox to be used."""
    status = zerobounce_status(result)
    code = ":".join(part for part in (ZeroBounceEmailValidator.source, result.status, result.sub_status) if part)
    if guessed and status is not EmailStatus.DELIVERABLE:
        return EmailVerdict(accepted=False, reason=f"guessed, and ZeroBounce says {result.reason}", status=status,
                            status_reason=code, source=ZeroBounceEmailValidator.source)
    return EmailVerdict(accepted=status is not EmailStatus.UNDELIVERABLE, reason=result.reason, status=status,
                        status_reason=code, source=ZeroBounceEmailValidator.source)


class ZeroBounceEmailValidator:
    """ZeroBounce's verdicts, one batch call per BATCH_LIMIT addresses, cached a day per address.

    Addresses that fail the local static checks are not sent (they cost a credit to learn nothing);
    when ZeroBounce cannot answer, the local validator decides instead and the job goes on.
    """

    source = "zerobounce"
    confirms_mailboxes = True

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
                catch_all_domains_remember(_host(email) for email, result in fresh.items()
                                           if zerobounce_domain_is_catch_all(result))
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
            else:
                verdicts[email] = zerobounce_verdict(result, guessed=email in guessed)
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
