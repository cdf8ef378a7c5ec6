"""The `ecore` command, run as a customer runs it (a subprocess of the installed command) against the
real service: a CSV enriched to XLSX with its progress and summary, a file split by the plan, the
documented errors as exit codes, and Ctrl-C leaving the job running for a re-run to pick up."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from enrichment.models import Job
from enrichment.tasks import run_enrichment_job
from pricing.services import plan_assign
from tests.live_service import WebServer
from tests.worker import wait_for
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

ECORE = shutil.which("ecore", path=str(Path(sys.executable).parent))
NO_CLOUD = {"BIGQUERY_EMULATOR_HOST": "", "FIRESTORE_EMULATOR_HOST": ""}
HELD_QUEUE = "ecore-test-held"  # a queue no worker reads: jobs stay queued until the test runs them




@pytest.fixture
def env(tmp_path, api_client):
    return {**os.environ, "ECORE_TOKEN": api_client.token.plaintext, "ECORE_STATE_DIR": str(tmp_path / "state"),
            "COLUMNS": "120"}


def ecore(url, env, *args, **options) -> subprocess.CompletedProcess:
    return subprocess.run([ECORE, "--url", url, *args], env=env, capture_output=True, text=True, timeout=120,
                          **options)


def people_csv(path: Path, *firsts) -> Path:
    lines = ["First Name,Last Name,Company Name"] + [f"{first},Tester,Acme Corp" for first in firsts]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_csv_is_enriched_to_xlsx_with_progress_and_a_summary(service, env, tmp_path, alice, acme_officers):
    source = people_csv(tmp_path / "people.csv", "Beatrice", "Nobody")
    out = tmp_path / "enriched.xlsx"

    run = ecore(service.url, env, "enrich", str(source), "--type", "contact", "--fields", "contact_email,job_title",
                "--level", "standard", "--yes", "--out", str(out), "--interval", "0.2")

    assert run.returncode == 0, run.stderr
    assert "2 rows in 1 submission(s): 4 credits" in run.stderr
    assert "Enrichment Completed: 2/2 rows" in run.stderr
    assert re.search(r"contact_email\s+│\s+50%.*\n.*job_title\s+│\s+50%", run.stderr)  # in the order asked for
    assert "Credits: charged 4, refunded 2, net 2" in run.stderr
    sheet = load_workbook(out).active
    header = [cell.value for cell in sheet[1]]
    emails = [sheet.cell(row=row, column=header.index("contact_email") + 1).value for row in (2, 3)]
    assert emails == ["beatrice.tester@acme.com", None]
    assert wallet_balance(user=alice) == Decimal("998") == ledger_sum(user=alice)
    assert not list((tmp_path / "state").iterdir())  # a finished run leaves nothing to pick up


def test_a_file_larger_than_the_plan_is_split_and_written_back_in_order_as_json(service, env, tmp_path, acme_officers):
    plan_assign(username="alice", enrichment_limit=2)
    source = people_csv(tmp_path / "people.csv", "Beatrice", "Caleb", "Delia", "Caleb", "Beatrice")
    out = tmp_path / "enriched.jsonl"

    run = ecore(service.url, env, "--json", "enrich", str(source), "--fields", "job_title", "--yes", "--out",
                str(out), "--interval", "0.2")

    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert len(summary["job_ids"]) == 3 and summary["rows"] == 5
    assert summary["fill_rates"] == {"job_title": 1.0}
    # Caleb and Beatrice come back in the second and third jobs: already paid for, refunded.
    assert summary["credits"] == {"charged": "10", "refunded": "4", "net": "6"}
    assert [json.loads(line)["job_title"] for line in out.read_text().splitlines()] == [
        "CFO", "CTO", "COO", "CTO", "CFO"]
    assert Job.objects.count() == 3


def test_refusals_are_the_documented_exit_codes_and_submit_nothing(service, env, tmp_path, make_user, make_client,
                                                                   acme_officers):
    source = people_csv(tmp_path / "people.csv", "Beatrice", "Caleb")
    poor = {**env, "ECORE_TOKEN": make_client(make_user("poor", credits=1)).token.plaintext}

    short = ecore(service.url, poor, "enrich", str(source), "--fields", "contact_email", "--yes")
    invalid = ecore(service.url, env, "--json", "estimate", str(source), "--fields", "contact_email,bogus")
    stranger = ecore(service.url, {**env, "ECORE_TOKEN": "eck_live_nope"}, "status")
    unasked = ecore(service.url, env, "enrich", str(source), "--fields", "contact_email", stdin=subprocess.DEVNULL)

    assert short.returncode == 5 and "You require 4 credits, but only 1 are available." in short.stderr
    assert invalid.returncode == 3
    assert json.loads(invalid.stdout) == {"error": "fields_to_enrich: Invalid fields: ['bogus']", "exit_code": 3}
    assert stranger.returncode == 4 and "Invalid or expired token" in stranger.stderr
    assert unasked.returncode == 1 and "pass --yes" in unasked.stderr
    assert Job.objects.count() == 0


def test_ctrl_c_leaves_the_job_running_and_the_same_command_picks_it_up(env, tmp_path, alice, acme_officers, redis_client):
    web = WebServer(tmp_path, CELERY_QUEUE=HELD_QUEUE, **NO_CLOUD)
    source = people_csv(tmp_path / "people.csv", "Caleb", "Delia")
    command = [ECORE, "--url", web.url, "enrich", str(source), "--fields", "job_title", "--yes", "--out",
               str(tmp_path / "out.csv"), "--interval", "0.2"]
    try:
        watching = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        submitted = wait_for(lambda: watching.stderr.readline().startswith("Submitted"), timeout=30,
                             message="the submit")
        assert submitted
        watching.send_signal(signal.SIGINT)
        _, stderr = watching.communicate(timeout=30)
        job = Job.objects.get()

        assert watching.returncode == 130
        assert f"Watch it again with: ecore watch {job.job_id}" in stderr
        run_enrichment_job(str(job.job_id))  # the job went on without the command
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    finally:
        web.stop()
        redis_client.delete(HELD_QUEUE)

    assert again.returncode == 0, again.stderr
    assert f"Picking up job(s) {job.job_id} from an earlier run" in again.stderr
    assert "CTO" in (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert Job.objects.count() == 1 and wallet_balance(user=alice) == Decimal("996")


def test_status_and_a_phone_lookup(service, env, acme_officers):
    job_id = json.loads(ecore(service.url, env, "--json", "enrich", str(people_csv(Path(env["ECORE_STATE_DIR"]).parent
                                                                                  / "one.csv", "Delia")),
                              "--fields", "job_title", "--yes").stdout)["job_ids"][0]

    listing = ecore(service.url, env, "status")
    usage = ecore(service.url, env, "--json", "usage", "--group-by", "endpoint")
    found = ecore(service.url, env, "--json", "phone", "--name", "Beatrice Tester", "--company", "Acme Corp")
    missing = ecore(service.url, env, "phone", "--name", "Nobody Here", "--company", "Acme Corp")

    assert listing.returncode == 0 and job_id in listing.stdout
    assert json.loads(usage.stdout) == [{"endpoint": "jobs", "charged": "2", "refunded": "0", "net": "2", "rows": 1,
                                         "lookups": 0}]
    assert json.loads(found.stdout)["results"]["phone"] and json.loads(found.stdout)["credits_charged"] == "5"
    assert missing.returncode == 0 and "Phone not found" in missing.stderr and "Charged 0 credits" in missing.stderr
