"""Bulk import of scraped LinkedIn snapshots, and demo snapshots sampled from DataCore.

The table keeps one snapshot per profile, the newest: an import never replaces a snapshot with an
older one, whether the older one comes later in the same file or in a later file. Each chunk is
validated and normalized, the newest line per profile kept, COPYed into a TEMP staging table and
upserted with one INSERT … ON CONFLICT … WHERE EXCLUDED.scraped_at > stored.scraped_at.

Line numbers in reports are the file's physical line (header = line 1) for CSV and JSONL, and the
1-based row number for Parquet.
"""

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection, transaction

from sources.loading.datacore import (
    CHUNK_ROWS,
    RowIssue,
    _column,
    _csv_chunks,
    _normalized,
    _parquet_chunks,
    _prepared_chunks,
    _Rejections,
)
from sources.models import Company, LinkedInSnapshot, Person
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_linkedin_url,
    normalize_person_name,
    split_full_name,
)
from sources.snapshots import TEXT_COLUMNS

INPUT_COLUMNS = ("contact_linkedin_url", "first_name", "last_name", "full_name", "job_title", "company_name",
                 "company_website", "location", "scraped_at")
REQUIRED_COLUMNS = ("contact_linkedin_url", "scraped_at")
NORM_COLUMNS = ("linkedin_norm", "first_norm", "last_norm", "company_name_norm", "company_domain_norm")
STORED_COLUMNS = (*TEXT_COLUMNS, *NORM_COLUMNS, "scraped_at")
STAGING_TABLE = "snapshot_staging"
# Scrapers' clocks drift; a date further ahead than this is a typo that would otherwise win forever.
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass
class SnapshotImportReport:
    rows: int = 0
    new: int = 0
    updated: int = 0
    superseded: int = 0  # older than (or as old as) another snapshot of the profile, in the file or stored
    rejected: list[RowIssue] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.elapsed if self.elapsed else 0.0

    def summary(self) -> str:
        return (f"snapshots: {self.new + self.updated} stored ({self.new} new, {self.updated} newer than the one "
                f"stored), {self.superseded} superseded by a newer snapshot, {len(self.rejected)} rejected "
                f"in {self.elapsed:.1f}s")


@dataclass
class PreparedSnapshots:
    rows: int
    staged: int
    superseded: int
    csv: bytes
    rejected: list[RowIssue]


def import_snapshots(path, *, progress: Callable[[SnapshotImportReport], None] | None = None,
                     workers: int | None = None, chunk_rows: int = CHUNK_ROWS) -> SnapshotImportReport:
    """Upsert snapshots from a CSV, Parquet or JSONL file, keeping the newest per profile."""
    header, chunks = _read(Path(path), chunk_rows)
    report = SnapshotImportReport(ignored_columns=tuple(c for c in header if c not in INPUT_COLUMNS))
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
        cursor.execute(f"CREATE TEMP TABLE {STAGING_TABLE} ("
                       + ", ".join(f"{name} text NOT NULL DEFAULT ''" for name in (*TEXT_COLUMNS, *NORM_COLUMNS))
                       + ", scraped_at timestamptz NOT NULL)")
        try:
            for prepared in _prepared_chunks(chunks, partial(prepare_snapshots, now=now), workers):
                with transaction.atomic():
                    cursor.execute(f"TRUNCATE {STAGING_TABLE}")
                    with cursor.cursor.copy(f"COPY {STAGING_TABLE} ({', '.join(STORED_COLUMNS)}) "
                                            "FROM STDIN (FORMAT csv)") as copy:
                        copy.write(prepared.csv)
                    cursor.execute(_upsert_sql())
                    new, updated = cursor.fetchone()
                report.rows += prepared.rows
                report.new += new
                report.updated += updated
                report.superseded += prepared.superseded + prepared.staged - new - updated
                report.rejected += prepared.rejected
                report.elapsed = time.monotonic() - report.started
                if progress:
                    progress(report)
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
    report.elapsed = time.monotonic() - report.started
    return report


def _upsert_sql() -> str:
    table = LinkedInSnapshot._meta.db_table
    columns = ", ".join(STORED_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in STORED_COLUMNS if name != "linkedin_norm")
    return f"""
        WITH upserted AS (
            INSERT INTO {table} ({columns}) SELECT {columns} FROM {STAGING_TABLE}
            ON CONFLICT (linkedin_norm) DO UPDATE SET {updates}
            WHERE EXCLUDED.scraped_at > {table}.scraped_at
            RETURNING ({table}.xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted"""


# --- reading ------------------------------------------------------------------------------------

def _read(path: Path, chunk_rows: int) -> tuple[list[str], Iterator]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return list(INPUT_COLUMNS), _jsonl_chunks(path, chunk_rows)
    header, chunks = (_parquet_chunks if suffix in (".parquet", ".pq") else _csv_chunks)(path, chunk_rows)
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError(f"{path}: a snapshots file needs the columns {', '.join(missing)}")
    return header, chunks


def _json_text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _jsonl_chunks(path: Path, chunk_rows: int) -> Iterator:
    """(frame indexed by line number, issues) chunks of a JSON Lines file; keys other than ours are ignored."""
    with open(path, encoding="utf-8-sig") as handle:
        values, lines, issues = [], [], []
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                issues.append(RowIssue(line, "not a JSON object"))
                continue
            values.append([_json_text(record.get(name)) for name in INPUT_COLUMNS])
            lines.append(line)
            if len(values) == chunk_rows:
                yield pd.DataFrame(values, columns=INPUT_COLUMNS, index=lines, dtype=object), issues
                values, lines, issues = [], [], []
        if values or issues:
            yield pd.DataFrame(values, columns=INPUT_COLUMNS, index=lines, dtype=object), issues


# --- validating and normalizing one chunk (runs in worker processes) ----------------------------

def _spelled_as_written(words: list[str], key: str) -> str:
    """The run of `words` that normalizes to the name key `key`, as written ("van der Berg" for "vanderberg")."""
    for start in reversed(range(len(words))):
        spelled = ""
        for end in range(start, len(words)):
            spelled += normalize_person_name(words[end])
            if spelled == key:
                return " ".join(words[start:end + 1])
            if len(spelled) >= len(key):
                break
    return key.title()


def _name_parts(full_name: str) -> tuple[str, str, str, str]:
    """(first, last, first_norm, last_norm): the keys as split_full_name gives them, the parts as written."""
    first_norm, last_norm = split_full_name(full_name)
    words = full_name.replace(",", " ").split()
    return (_spelled_as_written(words, first_norm) if first_norm else "",
            _spelled_as_written(words, last_norm) if last_norm else "", first_norm, last_norm)


def _names(frame: pd.DataFrame, out: pd.DataFrame) -> None:
    """Display names and their keys; rows with neither first nor last name are split from full_name."""
    out["first_norm"] = _normalized(out["first_name"], normalize_person_name)
    out["last_norm"] = _normalized(out["last_name"], normalize_person_name)
    full_name = _column(frame, "full_name")
    from_full_name = (out["first_name"] == "") & (out["last_name"] == "") & (full_name != "")
    if from_full_name.any():
        parts = _normalized(full_name[from_full_name], _name_parts)
        for position, name in enumerate(("first_name", "last_name", "first_norm", "last_norm")):
            out.loc[from_full_name, name] = [part[position] for part in parts]


def prepare_snapshots(chunk: tuple[pd.DataFrame, list[RowIssue]], *, now: datetime) -> PreparedSnapshots:
    frame, issues = chunk
    rejections = _Rejections(frame.index)
    out = pd.DataFrame({name: _column(frame, name) for name in TEXT_COLUMNS}, index=frame.index)
    url = out["contact_linkedin_url"]
    out["linkedin_norm"] = _normalized(url, normalize_linkedin_url)
    rejections.add(url == "", "no contact_linkedin_url")
    rejections.add(~out["linkedin_norm"].str.startswith("linkedin.com/in/"),
                   "contact_linkedin_url is not a LinkedIn profile:", url)

    raw_scraped_at = _column(frame, "scraped_at")
    scraped_at = pd.to_datetime(raw_scraped_at, utc=True, errors="coerce", format="ISO8601")
    rejections.add(raw_scraped_at == "", "no scraped_at")
    rejections.add(scraped_at.isna(), "scraped_at is not an ISO 8601 date:", raw_scraped_at)
    rejections.add(scraped_at > now + FUTURE_TOLERANCE, "scraped_at is in the future:", raw_scraped_at)

    _names(frame, out)
    out["company_name_norm"] = _normalized(out["company_name"], normalize_company_name)
    out["company_domain_norm"] = _normalized(out["company_website"], normalize_domain)
    for name in (*TEXT_COLUMNS, *NORM_COLUMNS):
        limit = LinkedInSnapshot._meta.get_field(name).max_length
        rejections.add(out[name].str.len() > limit, f"{name} is longer than {limit} characters:", out[name])

    kept = out.assign(scraped_at=scraped_at, line=out.index)[~rejections.rejected]
    # One INSERT … ON CONFLICT cannot touch a row twice: the newest line per profile goes (the later on a tie).
    kept = kept.sort_values(["scraped_at", "line"])
    newest = ~kept["linkedin_norm"].duplicated(keep="last")
    superseded = int((~newest).sum())
    kept = kept[newest].assign(scraped_at=lambda staged: staged["scraped_at"].dt.strftime(
        "%Y-%m-%dT%H:%M:%S.%f+00:00"))
    table = pa.Table.from_pandas(kept[list(STORED_COLUMNS)], preserve_index=False)
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"))
    reasons = rejections.reasons[rejections.rejected]
    rejected = issues + [RowIssue(int(line), reason) for line, reason in reasons.items()]
    return PreparedSnapshots(rows=len(frame) + len(issues), staged=len(kept), superseded=superseded,
                             csv=buffer.getvalue(), rejected=sorted(rejected, key=lambda issue: issue.line))


# --- demo data ----------------------------------------------------------------------------------

_SENIOR_PREFIXES = ("senior", "sr", "lead", "head", "chief", "vp", "vice", "director", "principal")
# Long enough a window that demo snapshots look recent, whatever the DataCore dates.
_DEMO_WINDOW = timedelta(days=180)
_DEMO_FETCH_BATCH = 20_000


def _promoted(title: str) -> str:
    first_word = title.split(" ", 1)[0].strip(".,").lower() if title else ""
    return title if not title or first_word in _SENIOR_PREFIXES else f"Senior {title}"


def _sampled_people(share: float, rng: np.random.Generator) -> pd.DataFrame:
    people_with_profiles = Person.objects.exclude(linkedin_norm="").order_by("id")
    ids = np.fromiter(people_with_profiles.values_list("id", flat=True), dtype=np.int64)
    chosen = np.sort(rng.choice(ids, size=round(len(ids) * share), replace=False)) if len(ids) else ids
    columns = ("id", "contact_linkedin_url", "first_name", "last_name", "job_title", "contact_office_city",
               "contact_office_country", "last_seen_at", "company_id", "company__company_name",
               "company__company_website")
    batches = [
        pd.DataFrame.from_records(people_with_profiles.filter(id__in=chosen[start:start + _DEMO_FETCH_BATCH].tolist())
                                  .values_list(*columns), columns=columns)
        for start in range(0, len(chosen), _DEMO_FETCH_BATCH)]
    return pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(columns=columns)


def snapshots_from_datacore(*, path, share: float, moved_share: float, seed: int) -> Path:
    """Writes demo snapshots (CSV, Parquet or JSONL by suffix) for `share` of DataCore people with a LinkedIn URL.

    Most still work at their company, a fifth of those under a more senior title; `moved_share` of
    them now work at another DataCore company. Each is scraped after the person was last seen.
    """
    rng = np.random.default_rng(seed)
    people = _sampled_people(share, rng)
    count = len(people)
    company_name = people["company__company_name"].fillna("").astype(object)
    company_website = people["company__company_website"].fillna("").astype(object)
    job_title = people["job_title"].fillna("").astype(object)

    moved = np.zeros(count, dtype=bool)
    companies = list(Company.objects.order_by("id").values_list("id", "company_name", "company_website"))
    if count and len(companies) > 1:
        moved[rng.choice(count, size=round(count * moved_share), replace=False)] = True
        picks = rng.integers(0, len(companies), size=count)
        for position in np.flatnonzero(moved):
            pick = picks[position]
            if companies[pick][0] == people.at[position, "company_id"]:
                pick = (pick + 1) % len(companies)
            _, company_name.iat[position], company_website.iat[position] = companies[pick]
    promoted = ~moved & (rng.random(count) < 0.2)
    job_title.loc[promoted] = job_title.loc[promoted].map(_promoted)

    now = pd.Timestamp.now(tz="UTC")
    oldest = now - _DEMO_WINDOW
    window_start = pd.to_datetime(people["last_seen_at"], utc=True).fillna(oldest).clip(lower=oldest)
    scraped_at = window_start + (now - window_start) * rng.uniform(0.1, 1.0, size=count)
    location = (people["contact_office_city"].fillna("") + ", "
                + people["contact_office_country"].fillna("")).str.strip(", ")
    snapshots = pd.DataFrame({
        "contact_linkedin_url": people["contact_linkedin_url"], "first_name": people["first_name"],
        "last_name": people["last_name"], "job_title": job_title, "company_name": company_name,
        "company_website": company_website, "location": location,
        "scraped_at": scraped_at.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    })
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        snapshots.to_parquet(path, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        snapshots.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        snapshots.to_csv(path, index=False)
    return path
