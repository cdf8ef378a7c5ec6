"""The Pro providers' adapters against a local server that speaks their documented payloads."""

import socket
import threading
import time
import uuid

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from django.core.cache import cache

from sources import email_patterns, email_validation
from sources.email_validation import (
    EmailStatus,
    EmailVerdict,
    LocalEmailValidator,
    MxChecker,
    MxStatus,
    ZeroBounceEmailValidator,
    email_validator_backend,
)
from sources.providers import pro_providers
from sources.providers.anymailfinder import AnymailfinderClient
from sources.providers.http import ProviderPolicy, ProviderUnavailable
from sources.providers.netnut import NetnutClient, parse_profile_page, split_linkedin_title
from sources.providers.serper import SerperClient, profile_from_results, website_from_results
from sources.providers.zerobounce import ZeroBounceClient
from tests.factories import make_company, make_person
from tests.provider_server import API_KEY, Fault, ProviderServer, profile_page

pytestmark = pytest.mark.usefixtures("fresh_cache")

LINKEDIN_HITS = {"organic": [
    {"title": "Janet Rowe - Controller - Initech | LinkedIn", "link": "https://www.linkedin.com/in/janet-rowe",
     "snippet": "Controller at Initech.", "position": 1},
    {"title": "Jane Roe - Director of Finance - Initech | LinkedIn",
     "link": "https://www.linkedin.com/in/jane-roe-42?trk=public", "snippet": "Director of Finance at Initech.",
     "position": 2},
]}


@pytest.fixture
def server(settings):
    with ProviderServer() as running:
        running.configure(settings)
        yield running


def policy(**overrides) -> ProviderPolicy:
    return ProviderPolicy(**{**vars(ProviderPolicy.from_settings()), **overrides})


def serper_client(job_id=None, **overrides) -> SerperClient:
    return SerperClient.from_settings(job_id=job_id or uuid.uuid4(), policy=policy(**overrides))


# --- Serper, and the retry policy every adapter shares ------------------------------------------

def test_serper_sends_the_documented_request_and_reads_organic_results(server):
    query = '"Jane Roe" Initech site:linkedin.com/in'
    server.serper_results[query] = LINKEDIN_HITS

    results = serper_client().search(query)

    request, = server.requests_to("serper")
    assert request.method == "POST" and request.target == "/search"
    assert request.headers["X-API-KEY"] == API_KEY and request.json()["q"] == query
    assert [hit.position for hit in results.organic] == [1, 2]
    hit = profile_from_results(results, first_name="Jane", last_name="Roe", company_name="Initech Inc")
    assert hit.url == "https://www.linkedin.com/in/jane-roe-42" and hit.mentions_company


def test_serper_website_skips_directories_and_sites_not_named_after_the_company(server):
    server.serper_results["Initech official website"] = {"organic": [
        {"title": "Initech | LinkedIn", "link": "https://www.linkedin.com/company/initech", "position": 1},
        {"title": "Initech - Crunchbase", "link": "https://www.crunchbase.com/organization/initech", "position": 2},
        {"title": "Best TPS reports", "link": "https://tps-reports.example", "position": 3},
        {"title": "Initech — Home", "link": "https://www.initech.com/", "position": 4},
    ]}
    results = serper_client().search("Initech official website")
    assert website_from_results(results, company_name="Initech, Inc.") == "initech.com"
    assert website_from_results(results, company_name="Globex") == ""


def test_a_429_is_retried_and_the_call_succeeds(server):
    server.serper_results["q"] = {"organic": [{"title": "t", "link": "https://a.example", "position": 1}]}
    server.fail_next("serper", Fault(status=429, headers={"Retry-After": "0"}))

    results = serper_client().search("q")

    assert len(results.organic) == 1
    assert len(server.requests_to("serper")) == 2


def test_three_500s_make_the_provider_unavailable_and_later_calls_fail_without_a_request(server):
    server.fail_always("serper", Fault(status=500))
    client = serper_client()

    with pytest.raises(ProviderUnavailable) as failure:
        client.search("q")
    assert failure.value.reason == "unavailable: HTTP 500 after 3 tries"
    assert len(server.requests_to("serper")) == 3

    with pytest.raises(ProviderUnavailable, match="HTTP 500 after 3 tries"):
        client.search("another")
    assert len(server.requests_to("serper")) == 3


def test_a_provider_slower_than_the_timeout_is_unavailable_fast(server):
    server.fail_always("serper", Fault(delay=3.0))
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable, match="timed out after 3 tries"):
        serper_client(timeout=0.2).search("q")

    assert time.monotonic() - started < 1.5


def test_the_batch_deadline_stops_retries(server):
    server.fail_always("serper", Fault(delay=3.0))
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable):
        serper_client(deadline=time.monotonic() + 0.3).search("q")

    assert time.monotonic() - started < 0.8


def test_malformed_json_makes_the_provider_unavailable(server):
    server.fail_next("serper", Fault(body=b'{"organic": [{"title": '))

    with pytest.raises(ProviderUnavailable, match="malformed JSON"):
        serper_client().search("q")
    assert len(server.requests_to("serper")) == 1


def test_a_rejected_key_is_not_retried(server, settings):
    settings.SERPER_API_KEY = "wrong"
    with pytest.raises(ProviderUnavailable, match=r"^unavailable: HTTP 403$"):
        serper_client().search("q")
    assert len(server.requests_to("serper")) == 1


def test_the_job_budget_stops_calls_across_batches_and_workers(server, settings):
    settings.PRO_PROVIDER_BUDGET_PER_JOB = 2
    job_id = uuid.uuid4()
    first_batch = serper_client(job_id)
    first_batch.search("one")
    first_batch.search("two")
    with pytest.raises(ProviderUnavailable, match="budget of 2 calls is spent"):
        first_batch.search("three")

    with pytest.raises(ProviderUnavailable, match="budget"):
        serper_client(job_id).search("next batch")
    serper_client().search("another job")
    assert len(server.requests_to("serper")) == 3
    assert first_batch.http.budget.used() == 2


def test_calls_run_concurrently_on_a_bounded_pool(server, settings):
    settings.PRO_PROVIDER_CONCURRENCY = 4
    server.fail_always("serper", Fault(delay=0.3))
    client = serper_client(timeout=2)
    started = time.monotonic()

    answers = client.http.map_concurrently(client.search, [f"q{n}" for n in range(8)])

    assert all(not isinstance(answer, ProviderUnavailable) for answer in answers)
    assert 0.55 < time.monotonic() - started < 2.3  # two rounds of four; eight in a row would take 2.4 s


def test_concurrent_calls_to_a_provider_that_is_down_cost_max_tries_attempts_in_all(server, settings):
    settings.PRO_PROVIDER_CONCURRENCY = 4
    server.fail_always("serper", Fault(status=503, delay=0.1))  # the four first attempts overlap
    client = serper_client(backoff_seconds=0.01)

    answers = client.http.map_concurrently(client.search, [f"q{n}" for n in range(8)])

    assert {answer.reason for answer in answers} == {"unavailable: HTTP 503 after 3 tries"}
    assert len(server.requests_to("serper")) == 3


def test_unconfigured_providers_are_off(settings):
    for name in ("SERPER_API_KEY", "ANYMAILFINDER_API_KEY", "ZEROBOUNCE_API_KEY", "NETNUT_USERNAME"):
        setattr(settings, name, "")
    providers = pro_providers(job_id=uuid.uuid4())
    assert providers.configured == []
    assert isinstance(email_validator_backend(), LocalEmailValidator)


# --- AnyMailFinder ------------------------------------------------------------------------------

def test_anymailfinder_finds_a_verified_email_with_the_documented_request(server):
    server.emails[("jane", "roe", "initech.com")] = ("Jane.Roe@initech.com", "valid")
    finder = AnymailfinderClient.from_settings(job_id=uuid.uuid4(), policy=policy())

    found = finder.find_person_email(first_name="Jane", last_name="Roe", domain="initech.com")

    assert found.email == "jane.roe@initech.com" and found.verified
    request, = server.requests_to("anymailfinder")
    assert request.target == "/v5.0/search/person.json"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.json() == {"first_name": "Jane", "last_name": "Roe", "domain": "initech.com"}


def test_anymailfinder_not_found_and_unverified_answers(server):
    server.emails[("risky", "person", "initech.com")] = ("risky@initech.com", "unknown")
    finder = AnymailfinderClient.from_settings(job_id=uuid.uuid4(), policy=policy())

    assert finder.find_person_email(first_name="No", last_name="Body", domain="initech.com") is None
    risky = finder.find_person_email(first_name="Risky", last_name="Person", domain="initech.com")
    assert risky.email == "risky@initech.com" and not risky.verified
    asked = finder.find_person_email(first_name="No", last_name="Domain", company_name="Initech")
    assert asked is None and server.requests_to("anymailfinder")[-1].json()["company_name"] == "Initech"


def test_anymailfinder_busy_then_answering_is_retried(server):
    server.emails[("jane", "roe", "initech.com")] = ("jane.roe@initech.com", "valid")
    server.fail_next("anymailfinder", Fault(status=503, body=b'{"error": "server_busy"}'))
    finder = AnymailfinderClient.from_settings(job_id=uuid.uuid4(), policy=policy())
    assert finder.find_person_email(first_name="Jane", last_name="Roe", domain="initech.com").verified


# --- ZeroBounce ---------------------------------------------------------------------------------

def zerobounce_client() -> ZeroBounceClient:
    return ZeroBounceClient.from_settings(job_id=uuid.uuid4(), policy=policy())


def test_zerobounce_single_and_batch_validation(server):
    server.verdicts["gone@acme.com"] = ("invalid", "mailbox_not_found")
    client = zerobounce_client()

    single = client.validate("gone@acme.com")
    assert (single.status, single.sub_status) == ("invalid", "mailbox_not_found")
    request = server.requests_to("zerobounce")[0]
    assert request.method == "GET" and request.target.startswith("/v2/validate?")
    assert f"api_key={API_KEY}" in request.target and "email=gone%40acme.com" in request.target

    results = client.validate_batch(["gone@acme.com", "jane@acme.com"])
    assert results["jane@acme.com"].status == "valid"
    batch = server.requests_to("zerobounce")[1]
    assert batch.target == "/v2/validatebatch"
    assert batch.json()["api_key"] == API_KEY
    assert batch.json()["email_batch"][0] == {"email_address": "gone@acme.com", "ip_address": None}


def test_zerobounce_errors_in_a_200_body_make_it_unavailable(server, settings):
    settings.ZEROBOUNCE_API_KEY = "wrong"
    with pytest.raises(ProviderUnavailable, match="Invalid API Key"):
        zerobounce_client().validate_batch(["jane@acme.com"])
    with pytest.raises(ProviderUnavailable, match="Invalid API Key"):
        zerobounce_client().validate("jane@acme.com")


@pytest.mark.django_db
def test_zerobounce_validator_drops_undeliverable_addresses_and_trusts_guesses_only_when_valid(server):
    server.verdicts.update({"gone@acme.com": ("invalid", "mailbox_not_found"),
                            "trap@acme.com": ("spamtrap", ""), "any@catchall.com": ("catch-all", ""),
                            "guess@catchall.com": ("catch-all", ""), "guess@acme.com": ("valid", "")})
    validator = email_validator_backend()
    assert isinstance(validator, ZeroBounceEmailValidator)

    verdicts = validator.validate_many(
        ["gone@acme.com", "trap@acme.com", "any@catchall.com", "guess@catchall.com", "guess@acme.com",
         "info@acme.com"], guessed={"guess@catchall.com": 5, "guess@acme.com": 5})

    assert {email: verdict.accepted for email, verdict in verdicts.items()} == {
        "gone@acme.com": False, "trap@acme.com": False, "any@catchall.com": True,
        "guess@catchall.com": False, "guess@acme.com": True, "info@acme.com": False}
    assert verdicts["gone@acme.com"].reason == "invalid (mailbox_not_found)"
    batch, = server.requests_to("zerobounce")
    assert "info@acme.com" not in {item["email_address"] for item in batch.json()["email_batch"]}

    email_validator_backend().validate_many(["gone@acme.com"])
    assert len(server.requests_to("zerobounce")) == 1  # cached


@pytest.mark.django_db
def test_zerobounce_down_falls_back_to_local_validation(server):
    server.fail_always("zerobounce", Fault(status=502))
    validator = email_validator_backend()

    verdicts = validator.validate_many(["jane@acme.com", "noreply@acme.com"])

    assert verdicts["jane@acme.com"].accepted and not verdicts["noreply@acme.com"].accepted
    assert validator.unavailable_reason == "unavailable: HTTP 502 after 3 tries"


def test_zerobounce_is_not_used_for_standard_jobs(server):
    from enrichment.pipeline.spec import EnrichmentSpec

    def validator_for(level: str):
        return email_validator_backend(spec=EnrichmentSpec(type="contact", level=level, fields_to_enrich=()))

    assert isinstance(validator_for("standard"), LocalEmailValidator)
    assert isinstance(validator_for("pro"), ZeroBounceEmailValidator)


# --- Netnut -------------------------------------------------------------------------------------

def netnut_client() -> NetnutClient:
    return NetnutClient.from_settings(job_id=uuid.uuid4(), policy=policy())


def test_netnut_fetches_the_profile_through_the_proxy_and_reads_its_json_ld(server):
    server.profiles["jane-roe-42"] = profile_page(name="Jane Roe", job_title="Director of Finance", company="Initech")

    profile = netnut_client().fetch_profile("linkedin.com/in/Jane-Roe-42?trk=x")

    assert (profile.first_name, profile.last_name) == ("Jane", "Roe")
    assert profile.job_title == "Director of Finance" and profile.company_name == "Initech"
    assert profile.url == "https://www.linkedin.com/in/jane-roe-42"
    request, = server.requests_to("netnut")
    assert request.target == "http://www.linkedin.com/in/jane-roe-42/"
    assert request.headers["Proxy-Authorization"].startswith("Basic ")


def test_netnut_missing_profile_bad_credentials_and_a_blocked_proxy(server, settings):
    client = netnut_client()
    assert client.fetch_profile("https://www.linkedin.com/in/nobody") is None
    assert client.fetch_profile("https://www.linkedin.com/company/initech") is None

    settings.NETNUT_PASSWORD = "wrong"
    with pytest.raises(ProviderUnavailable, match="HTTP 407"):
        netnut_client().fetch_profile("https://www.linkedin.com/in/jane-roe-42")


def test_profile_pages_without_json_ld_fall_back_to_open_graph():
    page = profile_page(name="Jane Roe", job_title="CFO", company="Initech", json_ld=False)
    profile = parse_profile_page(page, url="https://www.linkedin.com/in/x")
    assert (profile.first_name, profile.last_name, profile.job_title, profile.company_name) == (
        "Jane", "Roe", "CFO", "Initech")
    assert parse_profile_page("<html><title>Sign Up | LinkedIn</title></html>", url="u") is None


def test_profile_json_ld_variants():
    page = ('<script type="application/ld+json">[{"@type": ["Person"], "name": "Dr. Jane A. Roe",'
            ' "jobTitle": "CFO at Initech", "worksFor": {"name": "Initech"}}]</script>')
    profile = parse_profile_page(page, url="u")
    assert (profile.first_name, profile.last_name, profile.job_title) == ("Jane", "Roe", "CFO")
    assert split_linkedin_title("Jane Roe - Initech | LinkedIn") == ("Jane Roe", "", "Initech")


# --- local validation and email patterns ----------------------------------------------------------

@pytest.mark.django_db
def test_pattern_guesses_need_two_known_addresses_and_a_datacore_domain(settings):
    settings.ZEROBOUNCE_API_KEY = ""
    make_company("Globex", "globex.com")
    validator = email_validator_backend()

    verdicts = validator.validate_many(
        ["homer.simpson@globex.com", "one.guess@globex.com", "guess@unknown-co.com", "known@unknown-co.com"],
        guessed={"homer.simpson@globex.com": 3, "one.guess@globex.com": 1, "guess@unknown-co.com": 4})

    assert verdicts["homer.simpson@globex.com"].accepted
    assert not verdicts["one.guess@globex.com"].accepted
    assert "2 needed" in verdicts["one.guess@globex.com"].reason
    assert verdicts["guess@unknown-co.com"].reason == "guessed at a domain DataCore does not know"
    assert verdicts["known@unknown-co.com"].accepted  # an address DataCore knows needs no pattern


def test_mx_lookups_count_as_unknown_fast_when_dns_cannot_be_trusted():
    started = time.monotonic()
    statuses = MxChecker(seconds_per_batch=1.0).check_many([f"domain{n}.com" for n in range(30)])
    assert set(statuses.values()) == {MxStatus.UNKNOWN}
    assert time.monotonic() - started < 1.5


def test_a_resolver_found_lying_is_not_asked_again_while_that_verdict_is_cached(monkeypatch):
    checker = MxChecker(seconds_per_batch=1.0)
    cache.delete(checker._canary_key)
    resolvers_built = []
    build = MxChecker._resolver
    monkeypatch.setattr(MxChecker, "_resolver", lambda self: resolvers_built.append(1) or build(self))

    first = checker.check_many(["first-batch.com"])
    second = checker.check_many(["second-batch.com", "third-batch.com"])

    assert set(first.values()) == set(second.values()) == {MxStatus.UNKNOWN}
    assert len(resolvers_built) == 1


def test_while_dns_cannot_tell_a_process_does_not_ask_redis_again_for_the_same_domains(monkeypatch):
    checker = MxChecker(seconds_per_batch=1.0)
    checker.check_many(["first-batch.com"])  # finds the resolver lying
    redis_reads = []
    get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: redis_reads.append(list(keys)) or get_many(keys))

    assert checker.check_many(["first-batch.com"]) == {"first-batch.com": MxStatus.UNKNOWN}
    assert redis_reads == []
    assert checker.check_many(["second-batch.com"]) == {"second-batch.com": MxStatus.UNKNOWN}
    assert redis_reads == [[checker._cache_key("second-batch.com")]]


class FakeDns:
    """A UDP DNS server on 127.0.0.1 answering MX queries from a table; NXDOMAIN for the rest."""

    def __init__(self, mx: dict[str, str]):
        self.mx = mx
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()
        return f"{host}:{port}"

    def _serve(self):
        while not self.stopping.is_set():
            try:
                wire, client = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            name = query.question[0].name.to_text().rstrip(".")
            if name in self.mx:
                response.answer.append(dns.rrset.from_text(f"{name}.", 300, "IN", "MX", self.mx[name]))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.socket.sendto(response.to_wire(), client)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.socket.close()


@pytest.mark.django_db
def test_a_truthful_resolver_drops_addresses_at_domains_without_mail(settings):
    fake = FakeDns({"gmail.com": "5 gmail-smtp-in.l.google.com.", "acme.com": "10 mx.acme.com.",
                    "nomail.com": "0 ."})
    try:
        settings.EMAIL_DNS_NAMESERVERS = [fake.address]
        verdicts = LocalEmailValidator().validate_many(["jane@acme.com", "joe@gone-co.com", "ann@nomail.com"])
    finally:
        fake.stop()
    assert verdicts["jane@acme.com"] == EmailVerdict(accepted=True, reason="valid", status=EmailStatus.DELIVERABLE,
                                                     status_reason="mx_found", source="local_validation")
    assert verdicts["joe@gone-co.com"].reason == "domain does not exist"
    assert verdicts["ann@nomail.com"].reason == "domain accepts no mail"


def test_a_process_answers_the_mx_statuses_it_knows_for_a_while_without_redis(monkeypatch):
    fake = FakeDns({"gmail.com": "5 gmail-smtp-in.l.google.com.", "acme.com": "10 mx.acme.com."})
    monkeypatch.setattr(email_validation, "MX_PROCESS_SECONDS", 0.5)
    redis_reads = []
    get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: redis_reads.append(list(keys)) or get_many(keys))
    try:
        checker = MxChecker(nameservers=[fake.address], seconds_per_batch=1.0)
        assert checker.check_many(["acme.com"]) == {"acme.com": MxStatus.ACCEPTS_MAIL}
        fake.mx["acme.com"] = "0 ."  # the domain stops taking mail
        cache.clear()  # and Redis's copy expires: this process still knows the status
        assert checker.check_many(["acme.com"]) == {"acme.com": MxStatus.ACCEPTS_MAIL}
        assert len(redis_reads) == 1
        time.sleep(0.6)
        assert checker.check_many(["acme.com"]) == {"acme.com": MxStatus.NO_MAIL}
        assert len(redis_reads) == 2
    finally:
        fake.stop()


@pytest.mark.django_db
def test_patterns_are_learned_by_majority_in_one_query(django_assert_num_queries):
    globex, hooli = make_company("Globex", "globex.com"), make_company("Hooli", "hooli.com")
    for first, last in (("Hank", "Scorpio"), ("Frank", "Grimes"), ("Lisa", "Simpson")):
        make_person(globex, first, last, contact_email=f"{first}.{last}@globex.com".lower())
    make_person(globex, "Bart", "Simpson", contact_email="bsimpson@globex.com")
    make_person(hooli, "Gavin", "Belson", contact_email="gavin.belson@hooli.com")
    make_person(hooli, "Richard", "Hendricks", contact_email="rhendricks@hooli.com")

    with django_assert_num_queries(1):
        patterns = email_patterns.patterns_for_domains(["globex.com", "hooli.com", "unknown-co.com"])

    assert set(patterns) == {"globex.com"}
    assert (patterns["globex.com"].pattern, patterns["globex.com"].support, patterns["globex.com"].known) == (
        "{first}.{last}", 3, 4)
    assert email_patterns.candidate_email(patterns["globex.com"], first="Homer", last="Simpson") == \
        "homer.simpson@globex.com"
    assert email_patterns.candidate_email(patterns["globex.com"], first="Homer", last="") == ""


def test_pattern_templates_cover_the_common_shapes():
    assert email_patterns.patterns_matching("jroe", first="Jane", last="Roe") == ["{f}{last}"]
    assert email_patterns.patterns_matching("roe.jane", first="Jane", last="Roe") == ["{last}.{first}"]
    assert email_patterns.patterns_matching("jane_roe+news", first="Jane", last="Roe") == ["{first}_{last}"]
    assert email_patterns.local_part("{f}.{last}", first="José", last="O'Brien") == "j.obrien"
