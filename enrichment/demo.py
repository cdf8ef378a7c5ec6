"""A demo submission built from DataCore, run through the real HTTP API, summarized for a person."""

import csv
import io
import random
import time
from collections import Counter

import httpx

from sources.models import Person

DEMO_FIELDS = ["contact_email", "contact_mobile_phone", "job_title", "industry"]
FINISHED = {"Enrichment Completed", "Failure", "Paused"}


def demo_contacts_csv(*, rows: int, seed: int = 7) -> bytes:
    """Known people (some as nicknames, some by email only) plus strangers DataCore cannot know."""
    rng = random.Random(seed)
    people = list(Person.objects.select_related("company").exclude(company=None).order_by("?")[:rows])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["First Name", "Last Name", "Company Name", "Company Website", "Contact Email"])
    for index, person in enumerate(people):
        if index % 10 == 9:
            writer.writerow([f"Unknown{index}", "Stranger", "Nowhere Holdings", "nowhere.example", ""])
        elif index % 4 == 0 and person.contact_email:
            writer.writerow(["", "", "", "", person.contact_email])
        else:
            writer.writerow([person.first_name, person.last_name, person.company.company_name,
                             rng.choice(["", person.company.company_website]), ""])
    return buffer.getvalue().encode()


def demo_run(*, base_url: str, token: str, rows: int, timeout: float = 120, out=print) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        started = time.monotonic()
        response = client.post("/api/v1/enrichment/submit/", files={"file": ("demo.csv", demo_contacts_csv(rows=rows))},
                               data={"type": "contact", "level": "standard", "fields_to_enrich": ",".join(DEMO_FIELDS)})
        response.raise_for_status()
        submitted = response.json()
        out(f"submitted job {submitted['job_id']}: {submitted['estimated_credits']} credits reserved")
        while True:
            status = client.get(f"/api/v1/enrichment/status/{submitted['job_id']}/").json()
            if status["status"] in FINISHED or time.monotonic() - started > timeout:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        results = client.get(f"/api/v1/enrichment/results/{submitted['job_id']}/", params={"page_size": 1000}).json()
    out(f"status: {status['status']} after {elapsed:.1f}s "
        f"({status['progress']['rows_processed']}/{status['progress']['rows_total']} rows)")
    out("credits: " + ", ".join(f"{name} {value}" for name, value in status["credits"].items()))
    rows_by_status = Counter(row["enrichment_status"] for row in results["results"])
    out("rows: " + ", ".join(f"{name} {count}" for name, count in sorted(rows_by_status.items())))
    for name, counts in (status.get("field_stats") or {}).get("fields", {}).items():
        out(f"  {name:<22} filled {counts['enriched']:>4}  missing {counts['not_enriched']:>4}")
    for stage in status["stages"]:
        detail = stage.get("source") or stage.get("reason", "")
        out(f"  stage {stage['stage']:<26} {stage['state']:<8} {detail} {stage.get('rows_filled', '')}")
    for row in results["results"][:5]:
        out("  " + ", ".join(f"{name}={row.get(name) or '-'}" for name in
                             ["imported_first_name", "imported_last_name", *DEMO_FIELDS, "match_confidence"]))
    return status
