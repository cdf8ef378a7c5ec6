"""Single-record endpoints under load: requests/second and p50/p99 latency per endpoint, per token and in total.

Starts no server: point it at one already running on this machine (loopback only). Each token sends
at --rate requests/second for --duration seconds, spread over the phone, email and person+company
endpoints; the run is bounded by --max-requests as well.

    # once: users, tokens and funded wallets in the database of this shell's DATABASE_URL
    .venv/bin/python bench/single.py --base-url http://127.0.0.1:8031 --setup --token-count 10 --tokens var/bench-tokens.txt
    # then, as often as wanted
    .venv/bin/python bench/single.py --base-url http://127.0.0.1:8031 --tokens var/bench-tokens.txt --rate 30 --duration 10

--setup uses `manage.py create_api_token` and `manage.py wallet_topup`, and samples people from DataCore
(when it holds any) into `<tokens file>.inputs.json`, so lookups find people as well as miss them.
"""

import argparse
import asyncio
import ipaddress
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ENDPOINTS = {
    "phone": "/api/v1/external/phone/enrichment/",
    "email": "/api/v1/external/email/enrichment/",
    "person+company": "/api/v1/enrichment/single/",
}
MAX_DURATION_SECONDS = 120
MAX_IN_FLIGHT_PER_TOKEN = 16
WARM_UP_ROUNDS = 2  # of six concurrent requests, so that every server process takes some
SAMPLE_PEOPLE_CODE = """
import json
from sources.models import Person
rows = (Person.objects.filter(company__isnull=False, opted_out=False).order_by("?")
        .values("first_name", "last_name", "contact_email", "contact_linkedin_url",
                "company__company_name", "company__company_website")[:{count}])
print(json.dumps(list(rows)))
"""
SYNTHETIC_PEOPLE = [
    {"first_name": "Jane", "last_name": "Doe", "contact_email": "jane.doe@acme.com",
     "contact_linkedin_url": "https://www.linkedin.com/in/janedoe", "company__company_name": "Acme Corp",
     "company__company_website": "acme.com"},
]


@dataclass(frozen=True)
class Sample:
    token: int
    endpoint: str
    status: int
    seconds: float


def require_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname or ""
    addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    if not addresses or not all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses):
        raise SystemExit(f"refusing to load {host!r}: only servers on this machine (loopback) are benchmarked")


def manage(*args: str) -> str:
    result = subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True, text=True, capture_output=True,
                            env=os.environ)
    return result.stdout.strip()


def setup(*, token_count: int, tokens_path: Path, credits: int) -> None:
    def user_with_token(index: int) -> str:
        username = f"bench-single-{index}"
        token = manage("create_api_token", username)
        manage("wallet_topup", username, str(credits), "--note", "single-record benchmark")
        return token

    with ThreadPoolExecutor(max_workers=4) as pool:
        tokens = list(pool.map(user_with_token, range(token_count)))
    tokens_path.parent.mkdir(parents=True, exist_ok=True)
    tokens_path.write_text("\n".join(tokens) + "\n")
    # The shell may print a banner first; the JSON is its last line.
    output = manage("shell", "-c", SAMPLE_PEOPLE_CODE.format(count=500)).splitlines()
    people = json.loads(output[-1]) if output else []
    inputs_path(tokens_path).write_text(json.dumps(people))
    print(f"created {token_count} tokens in {tokens_path}; sampled {len(people)} DataCore people")


def inputs_path(tokens_path: Path) -> Path:
    return tokens_path.with_name(tokens_path.name + ".inputs.json")


def request_bodies(people: list[dict]):
    """Endless (endpoint, body) pairs: each input shape in turn, one in five for someone unknown."""
    shapes = itertools.cycle(["email", "linkedin", "name_company", "name_website", "unknown"])
    endpoints = itertools.cycle(ENDPOINTS)
    for number, person in enumerate(itertools.cycle(people)):
        endpoint, shape = next(endpoints), next(shapes)
        if shape == "unknown":
            person = {"first_name": "Nobody", "last_name": f"Known{number}", "contact_email": "",
                      "contact_linkedin_url": "", "company__company_name": "Absent Ltd",
                      "company__company_website": ""}
        flat = {"first_name": person["first_name"], "last_name": person["last_name"],
                "company_name": person["company__company_name"]}
        if shape == "email" and person["contact_email"]:
            flat = {"email": person["contact_email"]}
        elif shape == "linkedin" and person["contact_linkedin_url"]:
            flat = {"linkedin_url": person["contact_linkedin_url"]}
        elif shape == "name_website" and person["company__company_website"]:
            flat = {"first_name": person["first_name"], "last_name": person["last_name"],
                    "company_website": person["company__company_website"]}
        if endpoint == "person+company":
            body = {"person": {key: value for key, value in flat.items() if not key.startswith("company_")},
                    "company": {"name": flat.get("company_name", ""), "website": flat.get("company_website", "")},
                    "external_id": f"bench-{number}"}
        else:
            body = flat
        yield endpoint, body


class HttpClient:
    """HTTP/1.1 over asyncio streams, connections kept alive when the server allows it.

    The load comes from this machine, so it must cost far less CPU than the requests it measures:
    httpx spent about 4.7 ms of CPU per request here, as much as the server's lookup itself.
    """

    def __init__(self, base_url: str, timeout: float = 30.0):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout = timeout
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post_json(self, path: str, body: dict, headers: dict[str, str]) -> int:
        """The response's status code; 0 when the exchange failed."""
        payload = json.dumps(body).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(payload)}\r\n{head}\r\n").encode() + payload
        try:
            # asyncio.timeout, not wait_for: wait_for wraps every request in a task of its own.
            async with asyncio.timeout(self.timeout):
                return await self._exchange(request)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            return 0

    async def _exchange(self, request: bytes) -> int:
        while self.idle:
            reader, writer = self.idle.pop()
            status_line = await self._send(request, reader, writer)
            if status_line:
                return await self._read_rest(status_line, reader, writer)
            # The server closed the idle connection (a server may, after any response): as any HTTP
            # client does, send the request again on a new one.
        reader, writer = await asyncio.open_connection(self.host, self.port)
        status_line = await self._send(request, reader, writer)
        return await self._read_rest(status_line, reader, writer)

    @staticmethod
    async def _send(request: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """The response's status line, or b"" when the connection was closed before one came."""
        try:
            writer.write(request)
            status_line = await reader.readline()
        except ConnectionError:
            status_line = b""
        if not status_line:
            writer.close()
        return status_line

    async def _read_rest(self, status_line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        try:
            status = int(status_line.split()[1])
            length, keep_alive = None, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value == b"close":
                    keep_alive = False
            if length is None:
                await reader.read()
                keep_alive = False
            else:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if keep_alive:
            self.idle.append((reader, writer))
        else:
            writer.close()
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def token_load(client: HttpClient, *, index: int, token: str, rate: float, requests: int,
                     bodies, samples: list[Sample]) -> None:
    """Sends `requests` requests at `rate` per second, never more than MAX_IN_FLIGHT_PER_TOKEN at once."""
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT_PER_TOKEN)
    headers = {"Authorization": f"Token {token}"}

    async def one(endpoint: str, body: dict) -> None:
        try:
            started = time.perf_counter()
            status = await client.post_json(ENDPOINTS[endpoint], body, headers)
            samples.append(Sample(index, endpoint, status, time.perf_counter() - started))
        finally:
            in_flight.release()

    tasks = []
    start = time.perf_counter()
    for number in range(requests):
        delay = start + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await in_flight.acquire()
        endpoint, body = next(bodies)
        tasks.append(asyncio.create_task(one(endpoint, body)))
    await asyncio.gather(*tasks)


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time so far by kind (Linux /proc/stat: user, nice, system, idle, iowait, irq,
    softirq, steal), or None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            return [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def machine_summary(before: list[int] | None, after: list[int] | None, requests: int) -> str:
    if before is None or after is None or not requests:
        return ""
    spent = [end - start for start, end in zip(before, after, strict=True)]
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    busy = sum(spent) - spent[3]
    return (f"; the machine was {100 * busy / max(sum(spent), 1):.0f}% busy, "
            f"{busy * tick_ms / requests:.1f} ms of CPU per request of which {spent[7] * tick_ms / requests:.2f} ms "
            "taken by the host (steal)")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(title: str, groups: dict, elapsed: float) -> None:
    """Requests per second count answered requests only: a refused connection (status 0) is not served."""
    print(f"\n{title:<18}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}  statuses")
    for name, samples in groups.items():
        seconds = [sample.seconds * 1000 for sample in samples]
        statuses = Counter(sample.status for sample in samples)
        answered = len(samples) - statuses[0]
        print(f"{name!s:<18}{len(samples):>9}{answered / elapsed:>8.1f}{statistics.median(seconds):>8.1f}"
              f"{percentile(seconds, 0.99):>8.1f}  " + " ".join(f"{code}:{count}" for code, count in sorted(statuses.items())))


async def run(args, tokens: list[str], people: list[dict]) -> None:
    per_token = min(int(args.rate * args.duration), args.max_requests // len(tokens))
    bodies = request_bodies(people)
    samples: list[Sample] = []
    client = HttpClient(args.base_url)
    # Warm-up: every server process imports its views and loads its name lists before the clock starts.
    warm_up = request_bodies(people)
    for _ in range(WARM_UP_ROUNDS):
        await asyncio.gather(*(client.post_json(ENDPOINTS[endpoint], body, {"Authorization": f"Token {tokens[0]}"})
                               for endpoint, body in itertools.islice(warm_up, len(ENDPOINTS) * 2)))
    await asyncio.sleep(1.1)
    load_before = os.getloadavg()[0]
    cpu_before, ticks_before = time.process_time(), cpu_ticks()
    started = time.perf_counter()
    await asyncio.gather(*(token_load(client, index=index, token=token, rate=args.rate, requests=per_token,
                                      bodies=bodies, samples=samples) for index, token in enumerate(tokens)))
    elapsed = time.perf_counter() - started
    client_cpu, ticks_after = time.process_time() - cpu_before, cpu_ticks()
    client.close()
    by_endpoint, by_token = defaultdict(list), defaultdict(list)
    for sample in samples:
        by_endpoint[sample.endpoint].append(sample)
        by_token[f"token {sample.token}"].append(sample)
    print(f"{len(tokens)} tokens x {args.rate:g} req/s for {elapsed:.1f}s against {args.base_url} "
          f"(load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}; "
          f"this client used {client_cpu / max(len(samples), 1) * 1000:.2f} ms of CPU per request"
          f"{machine_summary(ticks_before, ticks_after, len(samples))})")
    report("endpoint", dict(by_endpoint), elapsed)
    report("token", dict(by_token), elapsed)
    report("total", {"all": samples}, elapsed)
    unanswered = sum(1 for sample in samples if sample.status == 0)
    if unanswered:
        print(f"\n{unanswered} requests got no answer (refused, closed or timed out): is the server up?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--tokens", type=Path, required=True, help="one token per line (written by --setup)")
    parser.add_argument("--setup", action="store_true", help="create the tokens and wallets first (dev database)")
    parser.add_argument("--token-count", type=int, default=10)
    parser.add_argument("--credits", type=int, default=1_000_000, help="credits per benchmark wallet (--setup)")
    parser.add_argument("--rate", type=float, default=30.0, help="requests per second per token")
    parser.add_argument("--duration", type=float, default=10.0, help=f"seconds (at most {MAX_DURATION_SECONDS})")
    parser.add_argument("--max-requests", type=int, default=20_000, help="upper bound on requests in all")
    args = parser.parse_args()
    if not 0 < args.duration <= MAX_DURATION_SECONDS or args.rate <= 0 or args.max_requests < 1:
        raise SystemExit("--duration must be in (0, 120], --rate and --max-requests positive")
    require_loopback(args.base_url)
    if args.setup:
        setup(token_count=args.token_count, tokens_path=args.tokens, credits=args.credits)
    tokens = [line.strip() for line in args.tokens.read_text().splitlines() if line.strip()]
    if not tokens:
        raise SystemExit(f"no tokens in {args.tokens}")
    sampled = inputs_path(args.tokens)
    people = (json.loads(sampled.read_text()) if sampled.exists() else []) or SYNTHETIC_PEOPLE
    asyncio.run(run(args, tokens, people))


if __name__ == "__main__":
    main()
