"""Bulk import of DataCore companies and people from CSV or Parquet files.

Rows are read in chunks; each chunk is validated and normalized (in worker processes, since the
normalizers are CPU-bound Python), COPYed into a TEMP staging table and upserted on `source_key`
with one INSERT … ON CONFLICT statement. Re-importing a file therefore updates rows in place,
and rows whose values did not change are not rewritten at all.

Line numbers in reports are the file's physical line (header = line 1) for CSV, and the 1-based
row number for Parquet.
"""

import csv
import io
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.db import connection, transaction

from sources.fields import ACCOUNT_FIELDS, CONTACT_FIELDS
from sources.models import Company, Person
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

CHUNK_ROWS = 25_000
TRUE_VALUES = frozenset({"true", "t", "yes", "y", "1"})
FALSE_VALUES = frozenset({"false", "f", "no", "n", "0", ""})


@dataclass(frozen=True)
class RowIssue:
    line: int
    reason: str

    def __str__(self):
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowIssue] = field(default_factory=list)
    notes: list[RowIssue] = field(default_factory=list)  # imported, but with something to know about
    unlinked: int = 0  # people whose company is not in DataCore
    ignored_columns: tuple[str, ...] = ()
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    @property
    def imported(self) -> int:
        return self.new + self.updated + self.unchanged

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed if self.elapsed else 0.0

    def summary(self) -> str:
        text = (f"{self.kind}: {self.imported} imported ({self.new} new, {self.updated} updated, "
                f"{self.unchanged} unchanged), {len(self.rejected)} rejected")
        if self.kind == "people":
            text += f", {self.unlinked} not linked to a known company"
        return f"{text} in {self.elapsed:.1f}s"


@dataclass(frozen=True)
class ImportSpec:
    """What differs between companies and people: fields, derived keys, tables."""
    kind: str
    model: type
    staging_table: str
    fields: tuple[str, ...]
    extra_inputs: tuple[str, ...]  # accepted input columns that are not stored as they are
    identifying_inputs: tuple[str, ...]  # a file needs at least one of these
    norms: dict  # norm column -> input column it is derived from
    extra_staged: tuple[str, ...]  # text columns staged for the upsert but not stored
    link_column: str  # company_id / parent_id
    link_inputs: tuple[str, ...]


COMPANY_SPEC = ImportSpec(
    kind="companies", model=Company, staging_table="company_staging", fields=ACCOUNT_FIELDS,
    extra_inputs=("parent_company_website", "opted_out", "last_seen_at"),
    identifying_inputs=("company_name", "company_website"),
    norms={"name_norm": "company_name", "domain_norm": "company_website", "linkedin_norm": "company_linkedin_url"},
    extra_staged=("parent_key", "parent_website"), link_column="parent_id", link_inputs=("parent_company_website",),
)
PERSON_SPEC = ImportSpec(
    kind="people", model=Person, staging_table="person_staging", fields=CONTACT_FIELDS,
    extra_inputs=("company_name", "company_website", "opted_out", "last_seen_at"),
    identifying_inputs=("contact_linkedin_url", "contact_email", "first_name"),
    norms={"email_norm": "contact_email", "linkedin_norm": "contact_linkedin_url", "first_norm": "first_name",
           "last_norm": "last_name", "company_name_norm": "company_name", "company_domain_norm": "company_website"},
    extra_staged=(), link_column="company_id", link_inputs=("company_name", "company_website"),
)


@dataclass(frozen=True)
class ImportPlan:
    """The spec applied to one file's header: which columns it has, what staging receives."""
    spec: ImportSpec
    present: tuple[str, ...]

    @property
    def staged_fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.spec.fields if f in self.present)

    @property
    def copy_columns(self) -> tuple[str, ...]:
        optional = tuple(c for c in ("opted_out", "last_seen_at") if c in self.present)
        return ("line", "source_key", *self.staged_fields, *self.spec.norms, *self.spec.extra_staged, *optional)

    @property
    def updated_columns(self) -> tuple[str, ...]:
        """Target columns an update may change: only those the file says something about."""
        columns = [*self.staged_fields, *(n for n, source in self.spec.norms.items() if source in self.present)]
        if any(c in self.present for c in self.spec.link_inputs):
            columns.append(self.spec.link_column)
        columns += [c for c in ("opted_out", "last_seen_at") if c in self.present]
        return tuple(columns)


def _refresh_planner_statistics(cursor, table: str) -> None:
    # Right after a bulk load the planner's row estimates are stale until autovacuum gets to the
    # table; with them it seq-scans a million people for a batch of a hundred.
    cursor.execute(f"ANALYZE {table}")


def import_companies(path, *, progress: Callable[[ImportReport], None] | None = None,
                     workers: int | None = None, chunk_rows: int = CHUNK_ROWS) -> ImportReport:
    """Upsert companies from a CSV or Parquet file; parents are linked once the whole file is in."""
    report, plan, chunks = _start(path, COMPANY_SPEC, chunk_rows)
    with connection.cursor() as cursor:
        _create_staging(cursor, plan)
        cursor.execute("DROP TABLE IF EXISTS company_pending_parent")
        cursor.execute("CREATE TEMP TABLE company_pending_parent "
                       "(line integer, source_key text, parent_key text, parent_website text)")
        try:
            for prepared in _prepared_chunks(chunks, partial(prepare_companies, plan), workers):
                with transaction.atomic():
                    _copy_to_staging(cursor, plan, prepared)
                    cursor.execute(_company_upsert_sql(plan))
                    _count(report, prepared, *cursor.fetchone())
                _tick(report, progress)
            if "parent_company_website" in plan.present:
                report.notes += _link_pending_parents(cursor)
                report.notes.sort(key=lambda issue: issue.line)
        finally:
            cursor.execute("DROP TABLE IF EXISTS company_staging, company_pending_parent")
        _refresh_planner_statistics(cursor, "sources_company")
    report.elapsed = time.monotonic() - report.started
    return report


def import_people(path, *, progress: Callable[[ImportReport], None] | None = None,
                  workers: int | None = None, chunk_rows: int = CHUNK_ROWS) -> ImportReport:
    """Upsert people from a CSV or Parquet file, linking each to its company by domain, else by name."""
    report, plan, chunks = _start(path, PERSON_SPEC, chunk_rows)
    with connection.cursor() as cursor:
        _create_staging(cursor, plan)
        # Names shared by several companies identify none of them.
        cursor.execute("DROP TABLE IF EXISTS company_by_name")
        cursor.execute("CREATE TEMP TABLE company_by_name AS SELECT name_norm, min(id) AS id FROM sources_company "
                       "WHERE name_norm <> '' GROUP BY name_norm HAVING count(*) = 1")
        cursor.execute("ALTER TABLE company_by_name ADD PRIMARY KEY (name_norm)")
        try:
            for prepared in _prepared_chunks(chunks, partial(prepare_people, plan), workers):
                with transaction.atomic():
                    _copy_to_staging(cursor, plan, prepared)
                    cursor.execute(_person_upsert_sql(plan))
                    new, updated, unlinked = cursor.fetchone()
                    _count(report, prepared, new, updated)
                    report.unlinked += unlinked
                _tick(report, progress)
        finally:
            cursor.execute("DROP TABLE IF EXISTS person_staging, company_by_name")
        _refresh_planner_statistics(cursor, "sources_person")
    report.elapsed = time.monotonic() - report.started
    return report


# --- reading ------------------------------------------------------------------------------------

def _start(path, spec: ImportSpec, chunk_rows: int) -> tuple[ImportReport, ImportPlan, Iterator]:
    path = Path(path)
    header, chunks = (_parquet_chunks if path.suffix.lower() in (".parquet", ".pq") else _csv_chunks)(path, chunk_rows)
    accepted = {*spec.fields, *spec.extra_inputs}
    if not any(column in header for column in spec.identifying_inputs):
        raise ValueError(f"{path}: a {spec.kind} file needs at least one of the columns "
                         f"{', '.join(spec.identifying_inputs)}")
    report = ImportReport(kind=spec.kind, ignored_columns=tuple(c for c in header if c not in accepted))
    return report, ImportPlan(spec, tuple(c for c in header if c in accepted)), chunks


def _csv_chunks(path: Path, chunk_rows: int) -> tuple[list[str], Iterator]:
    """The header and a generator of (frame indexed by line number, issues) chunks.

    csv.reader rather than pandas: it tells the physical line of every record, multi-line quoted
    values included, and lets a ragged row be reported instead of stopping the parse.
    """
    handle = open(path, newline="", encoding="utf-8-sig")
    reader = csv.reader(handle)
    header = [name.strip() for name in next(reader, [])]

    def chunks():
        with handle:
            rows, lines, issues = [], [], []
            start_line = reader.line_num + 1
            for row in reader:
                if len(row) == len(header):
                    rows.append(row)
                    lines.append(start_line)
                elif any(value.strip() for value in row):
                    issues.append(RowIssue(start_line, f"expected {len(header)} values, found {len(row)}"))
                start_line = reader.line_num + 1
                if len(rows) == chunk_rows:
                    yield pd.DataFrame(rows, columns=header, index=lines, dtype=object), issues
                    rows, lines, issues = [], [], []
            if rows or issues:
                yield pd.DataFrame(rows, columns=header, index=lines, dtype=object), issues

    return header, chunks()


def _parquet_chunks(path: Path, chunk_rows: int) -> tuple[list[str], Iterator]:
    parquet = pq.ParquetFile(path)
    header = list(parquet.schema_arrow.names)

    def chunks():
        first_row = 1
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            columns = [pc.fill_null(pc.cast(column, pa.string()), "") for column in batch.columns]
            frame = pa.Table.from_arrays(columns, names=header).to_pandas().astype(object)
            frame.index = range(first_row, first_row + len(frame))
            first_row += len(frame)
            yield frame, []

    return header, chunks()


def _prepared_chunks(chunks: Iterator, prepare: Callable, workers: int | None) -> Iterator["PreparedChunk"]:
    """prepare() over the chunks, in order, with up to `workers` chunks in flight in other processes."""
    workers = workers or len(os.sched_getaffinity(0))
    if workers == 1:
        yield from map(prepare, chunks)
        return
    # fork: workers inherit the loaded normalizers and never touch the inherited DB connection.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        pending = deque()
        for chunk in chunks:
            pending.append(pool.submit(prepare, chunk))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# --- validating and normalizing one chunk (runs in worker processes) ----------------------------

@dataclass
class PreparedChunk:
    rows: int
    staged: int
    csv: bytes
    rejected: list[RowIssue]


class _Rejections:
    """The first reason each row of a chunk is rejected for."""

    def __init__(self, index):
        self.reasons = pd.Series("", index=index, dtype=object)

    def add(self, mask: pd.Series, reason: str, values: pd.Series | None = None):
        mask = mask & (self.reasons == "")
        if values is None:
            self.reasons[mask] = reason
        else:
            self.reasons[mask] = [f"{reason} {_shorten(value)!r}" for value in values[mask]]

    @property
    def rejected(self) -> pd.Series:
        return self.reasons != ""


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _normalized(values: pd.Series, normalizer: Callable[[str], str]) -> pd.Series:
    """normalizer() once per distinct value: names and companies repeat a lot within a chunk."""
    distinct = pd.unique(values)
    return values.map(dict(zip(distinct, map(normalizer, distinct), strict=True))).astype(object)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name].str.strip() if name in frame else pd.Series("", index=frame.index, dtype=object)


def _check_common(frame: pd.DataFrame, plan: ImportPlan, out: pd.DataFrame, rejections: _Rejections):
    """Checks shared by companies and people: flags, timestamps, and values too long for their column."""
    if "opted_out" in plan.present:
        flag = _column(frame, "opted_out").str.lower()
        rejections.add(~flag.isin(TRUE_VALUES | FALSE_VALUES), "opted_out is not true/false:", frame["opted_out"])
        out["opted_out"] = flag.isin(TRUE_VALUES)
    if "last_seen_at" in plan.present:
        raw = _column(frame, "last_seen_at")
        seen = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
        rejections.add((raw != "") & seen.isna(), "last_seen_at is not an ISO 8601 date:", raw)
        out["last_seen_at"] = seen.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").where(seen.notna(), None)
    for name in ("source_key", *plan.staged_fields, *plan.spec.norms):
        limit = plan.spec.model._meta.get_field(name).max_length
        rejections.add(out[name].str.len() > limit, f"{name} is longer than {limit} characters:", out[name])


def _finish(frame: pd.DataFrame, plan: ImportPlan, out: pd.DataFrame, rejections: _Rejections,
            issues: list[RowIssue]) -> PreparedChunk:
    _check_common(frame, plan, out, rejections)
    kept = out[~rejections.rejected]
    # One INSERT … ON CONFLICT cannot touch a row twice: the last line for a key wins.
    superseded = kept["source_key"].duplicated(keep="last")
    if superseded.any():
        last_line = pd.Series(kept.index, index=kept.index).groupby(kept["source_key"]).transform("max")
        rejections.reasons[superseded[superseded].index] = [
            f"same record as line {line}, which replaces it" for line in last_line[superseded]]
        kept = kept[~superseded]
    kept = kept.assign(line=kept.index)
    table = pa.Table.from_pandas(kept[list(plan.copy_columns)], preserve_index=False)
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"))
    reasons = rejections.reasons[rejections.rejected]
    rejected = issues + [RowIssue(int(line), reason) for line, reason in reasons.items()]
    return PreparedChunk(rows=len(frame) + len(issues), staged=len(kept), csv=buffer.getvalue(),
                         rejected=sorted(rejected, key=lambda issue: issue.line))


def prepare_companies(plan: ImportPlan, chunk: tuple[pd.DataFrame, list[RowIssue]]) -> PreparedChunk:
    frame, issues = chunk
    rejections = _Rejections(frame.index)
    out = pd.DataFrame({name: _column(frame, name) for name in plan.staged_fields}, index=frame.index)
    name, website, linkedin = (_column(frame, c) for c in ("company_name", "company_website", "company_linkedin_url"))
    out["name_norm"] = _normalized(name, normalize_company_name)
    out["domain_norm"] = _normalized(website, normalize_domain)
    out["linkedin_norm"] = _normalized(linkedin, normalize_linkedin_url)

    rejections.add((name == "") & (website == ""), "no company_name or company_website")
    rejections.add((website != "") & (out["domain_norm"] == ""), "company_website is not a domain or URL:", website)
    rejections.add((out["domain_norm"] == "") & (out["name_norm"] == ""),
                   "company_name has nothing to match on:", name)
    rejections.add((linkedin != "") & ~out["linkedin_norm"].str.startswith("linkedin.com/company/"),
                   "company_linkedin_url is not a LinkedIn company page:", linkedin)
    founded = _column(frame, "year_founded")
    rejections.add((founded != "") & ~founded.str.fullmatch(r"\d{4}"), "year_founded is not a year:", founded)

    out["source_key"] = ("d:" + out["domain_norm"]).where(out["domain_norm"] != "", "n:" + out["name_norm"])
    parent_website = _column(frame, "parent_company_website")
    parent_domain = _normalized(parent_website, normalize_domain)
    rejections.add((parent_website != "") & (parent_domain == ""),
                   "parent_company_website is not a domain or URL:", parent_website)
    rejections.add((parent_domain != "") & (parent_domain == out["domain_norm"]), "company is its own parent")
    out["parent_key"] = ("d:" + parent_domain).where(parent_domain != "", "")
    out["parent_website"] = parent_website
    return _finish(frame, plan, out, rejections, issues)


def prepare_people(plan: ImportPlan, chunk: tuple[pd.DataFrame, list[RowIssue]]) -> PreparedChunk:
    frame, issues = chunk
    rejections = _Rejections(frame.index)
    out = pd.DataFrame({name: _column(frame, name) for name in plan.staged_fields}, index=frame.index)
    email, linkedin, website = (_column(frame, c) for c in ("contact_email", "contact_linkedin_url", "company_website"))
    out["email_norm"] = _normalized(email, normalize_email)
    out["linkedin_norm"] = _normalized(linkedin, normalize_linkedin_url)
    out["first_norm"] = _normalized(_column(frame, "first_name"), normalize_person_name)
    out["last_norm"] = _normalized(_column(frame, "last_name"), normalize_person_name)
    out["company_name_norm"] = _normalized(_column(frame, "company_name"), normalize_company_name)
    out["company_domain_norm"] = _normalized(website, normalize_domain)

    rejections.add((email != "") & (out["email_norm"] == ""), "contact_email is not an email address:", email)
    rejections.add((linkedin != "") & ~out["linkedin_norm"].str.startswith("linkedin.com/in/"),
                   "contact_linkedin_url is not a LinkedIn profile:", linkedin)
    rejections.add((website != "") & (out["company_domain_norm"] == ""),
                   "company_website is not a domain or URL:", website)
    company_key = ("d:" + out["company_domain_norm"]).where(
        out["company_domain_norm"] != "", ("n:" + out["company_name_norm"]).where(out["company_name_norm"] != "", ""))
    named_at_company = (out["first_norm"] != "") & (out["last_norm"] != "") & (company_key != "")
    rejections.add((out["linkedin_norm"] == "") & (out["email_norm"] == "") & ~named_at_company,
                   "no LinkedIn URL, no email, and no first and last name at a company to identify the person")

    name_key = "n:" + out["first_norm"] + "|" + out["last_norm"] + "|" + company_key
    out["source_key"] = ("li:" + out["linkedin_norm"]).where(
        out["linkedin_norm"] != "", ("e:" + out["email_norm"]).where(out["email_norm"] != "", name_key))
    return _finish(frame, plan, out, rejections, issues)


# --- SQL ----------------------------------------------------------------------------------------

def _create_staging(cursor, plan: ImportPlan):
    table = plan.spec.staging_table
    columns = ["line integer", "source_key text"]
    columns += [f"{name} text NOT NULL DEFAULT ''"
                for name in (*plan.spec.fields, *plan.spec.norms, *plan.spec.extra_staged)]
    columns += ["opted_out boolean NOT NULL DEFAULT false", "last_seen_at timestamptz"]
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute(f"CREATE TEMP TABLE {table} ({', '.join(columns)})")


def _copy_to_staging(cursor, plan: ImportPlan, prepared: PreparedChunk):
    table = plan.spec.staging_table
    cursor.execute(f"TRUNCATE {table}")
    with cursor.cursor.copy(f"COPY {table} ({', '.join(plan.copy_columns)}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(prepared.csv)


def _upsert_sql(plan: ImportPlan, target: str, source: str) -> str:
    """INSERT … ON CONFLICT that skips rows whose values are unchanged, returning new / updated counts."""
    stored = ("source_key", *plan.spec.fields, *plan.spec.norms, plan.spec.link_column, "opted_out", "last_seen_at")
    updated = plan.updated_columns
    return f"""
        upserted AS (
            INSERT INTO {target} ({", ".join(stored)}, updated_at)
            SELECT {", ".join(stored)}, now() FROM {source}
            ON CONFLICT (source_key) DO UPDATE SET
                {", ".join(f"{c} = EXCLUDED.{c}" for c in updated)}, updated_at = now()
            WHERE ({", ".join(f"{target}.{c}" for c in updated)})
                IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in updated)})
            RETURNING ({target}.xmax = 0) AS inserted
        )"""


def _company_upsert_sql(plan: ImportPlan) -> str:
    return f"""
        WITH resolved AS MATERIALIZED (
            SELECT s.*, parent.id AS parent_id
            FROM company_staging s LEFT JOIN sources_company parent ON parent.source_key = s.parent_key
        ),
        pending AS (
            INSERT INTO company_pending_parent
            SELECT line, source_key, parent_key, parent_website FROM resolved
            WHERE parent_key <> '' AND parent_id IS NULL
        ),
        {_upsert_sql(plan, "sources_company", "resolved").strip()}
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"""


def _person_upsert_sql(plan: ImportPlan) -> str:
    return f"""
        WITH resolved AS MATERIALIZED (
            SELECT s.*, coalesce(by_domain.id, by_name.id) AS company_id
            FROM person_staging s
            LEFT JOIN sources_company by_domain
                ON s.company_domain_norm <> '' AND by_domain.source_key = 'd:' || s.company_domain_norm
            LEFT JOIN company_by_name by_name ON s.company_name_norm <> '' AND by_name.name_norm = s.company_name_norm
        ),
        {_upsert_sql(plan, "sources_person", "resolved").strip()}
        SELECT (SELECT count(*) FILTER (WHERE inserted) FROM upserted),
               (SELECT count(*) FILTER (WHERE NOT inserted) FROM upserted),
               (SELECT count(*) FROM resolved
                WHERE company_id IS NULL AND (company_domain_norm <> '' OR company_name_norm <> ''))"""


def _link_pending_parents(cursor) -> list[RowIssue]:
    """Link subsidiaries listed before their parent; report parents the file and DataCore lack."""
    cursor.execute("""
        UPDATE sources_company child SET parent_id = parent.id, updated_at = now()
        FROM company_pending_parent pending JOIN sources_company parent ON parent.source_key = pending.parent_key
        WHERE child.source_key = pending.source_key AND child.parent_id IS DISTINCT FROM parent.id""")
    cursor.execute("""
        SELECT line, parent_website FROM company_pending_parent pending
        WHERE NOT EXISTS (SELECT 1 FROM sources_company parent WHERE parent.source_key = pending.parent_key)
        ORDER BY line""")
    return [RowIssue(line, f"parent company {website!r} is not in DataCore; imported without a parent")
            for line, website in cursor.fetchall()]


def _count(report: ImportReport, prepared: PreparedChunk, new: int, updated: int):
    report.rows += prepared.rows
    report.new += new
    report.updated += updated
    report.unchanged += prepared.staged - new - updated
    report.rejected += prepared.rejected


def _tick(report: ImportReport, progress: Callable[[ImportReport], None] | None):
    report.elapsed = time.monotonic() - report.started
    if progress:
        progress(report)
