"""`ecore`: enrich a file from the command line, watch jobs, look people up.

Progress and tables go to stderr, results and `--json` documents to stdout, so the command pipes.
Exit codes: 0 done; 1 other error or declined; 2 bad usage; 3 input refused (400, 413, unreadable
file); 4 authentication; 5 insufficient credits; 6 no such job; 7 rate limited; 8 service
unreachable or failing; 9 a job failed; 10 gave up waiting; 130 interrupted (the job goes on).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ecore_client.client import Client
from ecore_client.errors import EcoreError
from ecore_client.models import JobStatus
from ecore_client.records import RecordsError, read_records, write_rows

app = typer.Typer(help="The eCore enrichment API from the command line.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
err = Console(stderr=True)
INTERRUPTED = 130


class Options:
    url: str | None = None
    token: str | None = None
    as_json: bool = False


options = Options()


@app.callback()
def main_options(
    url: Annotated[str | None, typer.Option(envvar="ECORE_URL", help="The service, e.g. https://api.example.com")] = None,
    token: Annotated[str | None, typer.Option(envvar="ECORE_TOKEN", show_envvar=True,
                                                 help="API token (prefer the environment variable)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, for scripts")] = False,
):
    options.url, options.token, options.as_json = url, token, as_json


def _client() -> Client:
    try:
        return Client(options.url, options.token)
    except ValueError as exc:
        _fail(str(exc), 4)


def _fail(message: str, code: int):
    if options.as_json:
        print(json.dumps({"error": message, "exit_code": code}))
    else:
        err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _print_json(document) -> None:
    print(json.dumps(document, indent=2, default=str, ensure_ascii=False))


def _fields(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _criteria(value: str | None) -> dict | None:
    if value is None:
        return None
    try:
        criteria = json.loads(value)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--criteria is JSON: {exc}") from None
    if not isinstance(criteria, dict):
        raise typer.BadParameter("--criteria is a JSON object, e.g. '{\"limit\": 3}'")
    return criteria


def _credits(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- the state file: a re-run of the same command picks up its jobs -----------------------------

def _state_dir() -> Path:
    base = os.environ.get("ECORE_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "ecore")
    return Path(base)


def _state_path(client: Client, input_path: Path, request: dict) -> Path:
    digest = hashlib.sha256()
    digest.update(client.base_url.encode())
    digest.update(json.dumps(request, sort_keys=True).encode())
    digest.update(input_path.read_bytes())
    return _state_dir() / f"enrich-{digest.hexdigest()[:24]}.json"


def _state_write(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(path)


# --- watching ------------------------------------------------------------------------------------

def _totals(statuses: list[JobStatus]) -> tuple[int, int, Decimal]:
    done = sum(status.rows_processed for status in statuses)
    total = sum(status.rows_total for status in statuses)
    net = sum((status.credits.net for status in statuses), Decimal(0))
    return done, total, net


class _ProgressReport:
    """A live bar on a terminal; a line per change elsewhere (logs, CI). Both on stderr."""

    def __init__(self, job_ids: list[str]):
        self.started = time.monotonic()
        self.first_done: int | None = None
        self.last_line = None
        self.bar = None
        if err.is_terminal and not options.as_json:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(),
                                TextColumn("{task.fields[credits]} credits"), console=err)
            self.task = self.bar.add_task(f"{len(job_ids)} job(s)", total=None, rate="0", credits="0")
            self.bar.start()

    def update(self, statuses: list[JobStatus]) -> None:
        done, total, net = _totals(statuses)
        if self.first_done is None:
            self.first_done = done
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self.first_done) / elapsed
        stage = statuses[0].status if len(statuses) == 1 else f"{sum(s.finished for s in statuses)} finished"
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, rate=f"{rate:.0f}", credits=_credits(net),
                            description=stage)
            return
        if options.as_json:
            return
        eta = f"{(total - done) / rate:.0f}s" if rate > 0 and done < total else "-"
        line = f"{stage}: {done}/{total} rows · {rate:.0f} rows/s · ETA {eta} · {_credits(net)} credits"
        if line.split(" · ")[0] != (self.last_line or "").split(" · ")[0]:
            err.print(line, highlight=False)
        self.last_line = line

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _watch(client: Client, job_ids: list[str], *, interval: float) -> list[JobStatus]:
    report = _ProgressReport(job_ids)
    try:
        return client.wait_all(job_ids, interval=interval, on_progress=report.update, raise_on_failure=False)
    except KeyboardInterrupt:
        report.stop()
        err.print(f"\nInterrupted; the job keeps running. Watch it again with: ecore watch {' '.join(job_ids)}",
                  highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    finally:
        report.stop()


def _write_results(client: Client, job_ids: list[str], out: Path) -> int:
    """Writes every job's rows, in input order, to `out`; a single job's CSV/XLSX is the service's own."""
    suffix = out.suffix.lower()
    if len(job_ids) == 1 and suffix in (".csv", ".xlsx"):
        client.download(job_ids[0], format=suffix[1:], path=out)
        return client.status(job_ids[0]).rows_total
    rows = [row for job_id in job_ids for row in client.results(job_id)]
    write_rows(out, rows)
    return len(rows)


def _summary(statuses: list[JobStatus], out: Path | None) -> dict:
    counts: dict[str, list[int]] = {name: [0, 0] for name in statuses[0].fields_to_enrich} if statuses else {}
    for status in statuses:
        for name, field_counts in ((status.field_stats or {}).get("fields") or {}).items():
            totals = counts.setdefault(name, [0, 0])
            totals[0] += field_counts.get("enriched", 0)
            totals[1] += field_counts.get("enriched", 0) + field_counts.get("not_enriched", 0)
    credits = {name: _credits(sum((getattr(status.credits, name) for status in statuses), Decimal(0)))
               for name in ("charged", "refunded", "net")}
    return {
        "job_ids": [status.job_id for status in statuses],
        "statuses": [status.status for status in statuses],
        "rows": sum(status.rows_total for status in statuses),
        "fill_rates": {name: round(found / total, 4) if total else 0.0 for name, (found, total) in counts.items()},
        "credits": credits,
        "out": str(out) if out else None,
    }


def _print_summary(summary: dict) -> None:
    table = Table(title="Fill rate per field")
    table.add_column("field")
    table.add_column("filled", justify="right")
    for name, rate in summary["fill_rates"].items():
        table.add_row(name, f"{rate:.0%}")
    err.print(table)
    credits = summary["credits"]
    err.print(f"Credits: charged {credits['charged']}, refunded {credits['refunded']}, net {credits['net']}",
              highlight=False)
    if summary["out"]:
        err.print(f"Results: {summary['out']}", highlight=False)


def _finish(client: Client, job_ids: list[str], *, out: Path | None, interval: float) -> list[JobStatus]:
    statuses = _watch(client, job_ids, interval=interval)
    if out is not None:
        _write_results(client, job_ids, out)
    summary = _summary(statuses, out)
    if options.as_json:
        _print_json(summary)
    else:
        _print_summary(summary)
    failed = [status for status in statuses if status.status == "Failure"]
    if failed:
        _fail(f"job {failed[0].job_id} failed: {(failed[0].failure or {}).get('reason') or 'no reason given'}", 9)
    return statuses


# --- commands ------------------------------------------------------------------------------------

TypeOption = Annotated[str, typer.Option("--type", help="contact or account")]
LevelOption = Annotated[str, typer.Option(help="standard or pro")]
FieldsOption = Annotated[str, typer.Option(help="Comma-separated fields to enrich, e.g. contact_email,job_title")]
CriteriaOption = Annotated[str | None, typer.Option(help='Account criteria as JSON, e.g. \'{"limit": 3}\'')]
InputArgument = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".csv, .xlsx, .jsonl or .json")]


def _records(path: Path) -> list[dict]:
    try:
        return read_records(path)
    except RecordsError as exc:
        _fail(str(exc), 3)


@app.command()
def enrich(
    input: InputArgument,
    fields: FieldsOption,
    type: TypeOption = "contact",
    level: LevelOption = "standard",
    criteria: CriteriaOption = None,
    min_confidence: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    max_age_days: Annotated[int | None, typer.Option(min=1, help="Leave out (and do not pay for) older values")] = None,
    refuse_catch_all: Annotated[bool, typer.Option(help="Leave out (and do not pay for) catch-all emails")] = False,
    out: Annotated[Path | None, typer.Option(help="Write results here (.csv, .xlsx or .jsonl); implies --wait")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the job(s) until they finish")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending credits")] = False,
    new: Annotated[bool, typer.Option("--new", help="Submit again even if an earlier run of this command did")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between status checks", min=0.1)] = 1.0,
):
    """Estimate, confirm, submit (split by your plan's limit), watch, and write the results."""
    client = _client()
    records = _records(input)
    request = {"type": type, "level": level, "fields": _fields(fields), "criteria": _criteria(criteria),
               "min_confidence": min_confidence, "max_age_days": max_age_days,
               "accept_catch_all": False if refuse_catch_all else None}
    state_path = _state_path(client, input, request)
    state = json.loads(state_path.read_text()) if state_path.exists() and not new else None
    try:
        if state and state.get("job_ids") and state.get("complete"):
            if not options.as_json:
                err.print(f"Picking up job(s) {', '.join(state['job_ids'])} from an earlier run "
                          "(--new submits again).", highlight=False)
            job_ids = state["job_ids"]
        else:
            job_ids = _submit(client, records, request, state_path, state, yes=yes)
        if out is None and not wait:
            if options.as_json:
                _print_json({"job_ids": job_ids})
            else:
                err.print(f"Watch with: ecore watch {' '.join(job_ids)}", highlight=False)
            return
        _finish(client, job_ids, out=out, interval=interval)
        state_path.unlink(missing_ok=True)
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)


def _submit(client: Client, records: list[dict], request: dict, state_path: Path, state: dict | None, *,
            yes: bool) -> list[str]:
    estimates = client.bulk_estimate(records, **request)
    total = sum((estimate.exact_credits for estimate in estimates), Decimal(0))
    balance = estimates[-1].wallet_balance
    if not options.as_json:
        err.print(f"{len(records)} rows in {len(estimates)} submission(s): {_credits(total)} credits "
                  f"(at most; rows that find nothing are refunded). Balance: {_credits(balance)}.",
                  highlight=False)
    if not yes:
        if options.as_json or not sys.stdin.isatty():
            _fail("Not submitted: pass --yes to spend credits without being asked.", 1)
        if not typer.confirm("Submit?", err=True):
            raise typer.Exit(1)
    # The key is saved before submitting, so a re-run after a crash replays instead of charging again.
    state = state or {"idempotency_key": uuid.uuid4().hex, "job_ids": []}
    _state_write(state_path, state)

    def submitted(submission) -> None:
        state["job_ids"].append(submission.job_id)
        _state_write(state_path, state)

    state["job_ids"] = []
    bulk = client.bulk(records, idempotency_key=state["idempotency_key"], chunk_size=estimates[0].record_count,
                       on_submitted=submitted, **request)
    state["complete"] = True
    _state_write(state_path, state)
    if not options.as_json:
        err.print(f"Submitted {', '.join(bulk.job_ids)} ({bulk.estimated_credits} credits).", highlight=False)
    return bulk.job_ids


@app.command()
def watch(
    job_ids: Annotated[list[str], typer.Argument(help="One or more job ids")],
    out: Annotated[Path | None, typer.Option(help="Write results here (.csv, .xlsx or .jsonl)")] = None,
    interval: Annotated[float, typer.Option(min=0.1)] = 1.0,
):
    """Watch jobs until they finish, then write their results."""
    client = _client()
    try:
        _finish(client, job_ids, out=out, interval=interval)
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)


@app.command()
def estimate(input: InputArgument, fields: FieldsOption, type: TypeOption = "contact",
             level: LevelOption = "standard", criteria: CriteriaOption = None):
    """What enriching the file would cost at most (free; validates like a submit)."""
    client = _client()
    records = _records(input)
    try:
        estimates = client.bulk_estimate(records, type=type, level=level, fields=_fields(fields),
                                         criteria=_criteria(criteria))
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)
    total = sum((estimate.exact_credits for estimate in estimates), Decimal(0))
    document = {"rows": len(records), "submissions": len(estimates), "estimated_credits": _credits(total),
                "per_row_rate": _credits(estimates[0].per_row_rate), "rate_category": estimates[0].rate_category,
                "wallet_balance": _credits(estimates[-1].wallet_balance)}
    if options.as_json:
        _print_json(document)
    else:
        err.print(f"{document['rows']} rows: {document['estimated_credits']} credits at most "
                  f"({document['per_row_rate']} per row, {document['rate_category']} rate; "
                  f"{document['submissions']} submission(s)). Balance: {document['wallet_balance']}.",
                  highlight=False)


@app.command()
def status(job_id: Annotated[str | None, typer.Argument(help="A job id; without one, recent jobs")] = None):
    """A job's status, or a table of your recent jobs."""
    client = _client()
    try:
        if job_id is not None:
            job = client.status(job_id)
            if options.as_json:
                _print_json(job.raw)
                return
            err.print(f"{job.job_id}: {job.status}, {job.rows_processed}/{job.rows_total} rows, credits charged "
                      f"{_credits(job.credits.charged)}, refunded {_credits(job.credits.refunded)}, "
                      f"net {_credits(job.credits.net)}", highlight=False)
            return
        jobs = client.jobs()
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)
    if options.as_json:
        _print_json([vars(job) for job in jobs])
        return
    table = Table(title="Recent jobs")
    for column in ("job_id", "status", "type", "level", "rows", "credits", "created_at"):
        table.add_column(column, no_wrap=column == "job_id", min_width=36 if column == "job_id" else None)
    for job in jobs:
        table.add_row(job.job_id, job.status, job.type, job.level, f"{job.rows_processed}/{job.record_count}",
                      str(job.estimated_credits), job.created_at or "")
    Console().print(table)


@app.command()
def results(job_id: str, out: Annotated[Path | None, typer.Option(help=".csv, .xlsx or .jsonl")] = None):
    """A job's result rows: to a file, or as JSON lines on stdout."""
    client = _client()
    try:
        if out is None:
            for row in client.results(job_id):
                print(json.dumps(row, ensure_ascii=False))
            return
        rows = _write_results(client, [job_id], out)
    except (EcoreError, RecordsError) as exc:
        _fail(str(exc), getattr(exc, "exit_code", 3))
    if options.as_json:
        _print_json({"job_id": job_id, "rows": rows, "out": str(out)})
    else:
        err.print(f"{rows} rows written to {out}", highlight=False)


def _control(job_id: str, action: str) -> None:
    client = _client()
    try:
        body = client.pause(job_id) if action == "pause" else client.resume(job_id)
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)
    if options.as_json:
        _print_json(body)
    else:
        err.print(f"{body['job_id']}: {body['status']}. {body['message']}", highlight=False)


@app.command()
def pause(job_id: str):
    """Pause a job at its next batch boundary (the unprocessed rows are refunded)."""
    _control(job_id, "pause")


@app.command()
def resume(job_id: str):
    """Resume a paused job (its remaining rows are charged at current prices)."""
    _control(job_id, "resume")


def _lookup_inputs(linkedin: str | None, email: str | None, name: str | None, company: str | None,
                   website: str | None) -> dict:
    inputs = {"linkedin_url": linkedin, "email": email, "company_name": company, "company_website": website}
    if name:
        first, _, last = name.strip().partition(" ")
        inputs.update(first_name=first, last_name=last.strip())
    return inputs


def _lookup(kind: str, inputs: dict) -> None:
    client = _client()
    try:
        found = client.phone(**inputs) if kind == "phone" else client.email(**inputs)
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)
    if options.as_json:
        _print_json({**found.raw, "credits_charged": _credits(found.charged)})
        return
    if found.found:
        print("\n".join(f"{name}: {value}" for name, value in found.results.items()))
    else:
        err.print(found.message or "not found", highlight=False)
    err.print(f"Charged {_credits(found.charged)} credits; {found.remaining_credits} left.", highlight=False)


LinkedinOption = Annotated[str | None, typer.Option("--linkedin", help="LinkedIn profile URL")]
EmailOption = Annotated[str | None, typer.Option("--email", help="A known email of the person")]
NameOption = Annotated[str | None, typer.Option("--name", help='"First Last", with --company or --website')]
CompanyOption = Annotated[str | None, typer.Option("--company")]
WebsiteOption = Annotated[str | None, typer.Option("--website")]


@app.command()
def phone(linkedin: LinkedinOption = None, email: EmailOption = None, name: NameOption = None,
          company: CompanyOption = None, website: WebsiteOption = None):
    """Find one person's phone (charged only when found)."""
    _lookup("phone", _lookup_inputs(linkedin, email, name, company, website))


@app.command(name="email")
def email_command(linkedin: LinkedinOption = None, email: EmailOption = None, name: NameOption = None,
                  company: CompanyOption = None, website: WebsiteOption = None):
    """Find one person's deliverable email (charged only when found)."""
    _lookup("email", _lookup_inputs(linkedin, email, name, company, website))


@app.command()
def account():
    """Your balance and your plan's limits."""
    client = _client()
    try:
        details = client.account()
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)
    if options.as_json:
        _print_json(details.raw)
        return
    err.print(f"{details.username}: {_credits(details.balance)} credits; {details.records_per_submission} records "
              f"per submission; {details.rate_limit_per_second} lookups per second"
              + (f"; {details.requests_left_today} requests left today" if details.requests_left_today is not None
                 else ""), highlight=False)


@app.command()
def usage(
    group_by: Annotated[str, typer.Option(help="day, job or endpoint")] = "day",
    start: Annotated[str | None, typer.Option("--from", help="First UTC day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last UTC day, YYYY-MM-DD")] = None,
):
    """Where your credits went: charged, refunded and net per day, job or endpoint."""
    client = _client()
    try:
        rows = client.usage(group_by=group_by, start=start, end=end)
    except EcoreError as exc:
        _fail(str(exc), exc.exit_code)
    if options.as_json:
        _print_json(rows)
        return
    table = Table(title=f"Usage by {group_by}")
    for column in (group_by, "charged", "refunded", "net", "rows", "lookups"):
        table.add_column(column, justify="left" if column == group_by else "right", no_wrap=column == group_by)
    for row in rows:
        table.add_row(*(str(row[column] if row[column] is not None else "lookups")
                        for column in (group_by, "charged", "refunded", "net", "rows", "lookups")))
    Console().print(table)


@app.command()
def mcp(transport: Annotated[str, typer.Option(help="stdio, or streamable-http")] = "stdio"):
    """Run the MCP server for AI agents (needs the mcp extra); the token comes from ECORE_TOKEN."""
    try:
        from ecore_client.mcp_server import run
    except ImportError as exc:
        _fail(f"The MCP server needs the mcp extra: pip install 'ecore-client[mcp]' ({exc}).", 1)
    run(transport=transport)


def main() -> None:
    app()
