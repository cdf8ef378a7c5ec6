"""What a person sees in Chromium, against gunicorn on the test database: the admin's job list, a job's page,
its ledger, the dashboard, and the API docs with nothing reachable but this service.

Debian's Chromium (scripts/bootstrap installs it) driven by Playwright; screenshots land in var/screenshots/.
"""

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.live_service import WebServer
from tests.worker import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct-horse-battery-staple"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (scripts/bootstrap installs "
                                                      "Debian's chromium package)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    """One gunicorn for the module; DEBUG is on, so WhiteNoise serves the static files from the apps."""
    server = WebServer(tmp_path_factory.mktemp("browser"), workers=1)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop on this thread, so Django takes the test's own queries
    # for async code and refuses them; nothing runs concurrently with them here.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@dataclass
class Visit:
    """A browser tab that reaches only the test server: any other request is aborted and recorded."""

    page: Page
    url: str
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=full_page)
        print(f"screenshot: {path}")
        return path

    def log_in(self) -> None:
        self.page.goto(f"{self.url}/admin/login/?next=/admin/")
        self.page.fill("#id_username", "operator")
        self.page.fill("#id_password", PASSWORD)
        self.page.click("input[type=submit]")
        expect(self.page).to_have_url(f"{self.url}/admin/")


@pytest.fixture
def visit(browser: Browser, web: WebServer, django_user_model):
    django_user_model.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    opened = Visit(page=context.new_page(), url=web.url)
    local = urlsplit(web.url).netloc

    def only_the_test_server(route):
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            opened.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_test_server)
    opened.page.on("response", lambda response: (opened.failed if response.status >= 400 else opened.loaded)
                   .append(f"{response.status} {response.url}"))
    yield opened
    context.close()
    assert opened.blocked == [], "requests off the test server"
    assert opened.failed == [], "requests that failed"


def cells(row) -> list[str]:
    return [text.strip() for text in row.locator("td").all_inner_texts()]


def test_an_operator_follows_a_job_from_the_list_to_its_page_and_its_ledger(visit, finished_job):
    page = visit.page
    visit.log_in()
    page.goto(f"{visit.url}/admin/enrichment/job/")
    assert any(line.endswith("/static/admin/css/base.css") for line in visit.loaded)  # the admin is styled
    headers = {text.strip().lower() for text in page.locator("#result_list thead th").all_inner_texts()}
    assert {"type", "level", "rows", "status", "net credits", "fill rate", "duration"} <= headers
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.field-net_credits")).to_have_text("5")
    expect(row.locator("td.field-fill_rate")).to_have_text("56%")
    level_filter = page.locator('#changelist-filter details[data-filter-title="level"]')
    expect(level_filter).to_contain_text("Standard")
    expect(level_filter).to_contain_text("Pro")
    assert "Quick" not in level_filter.inner_text()
    visit.screenshot("admin-job-list")

    row.locator("th a").click()
    expect(page.locator(".field-status .readonly")).to_have_text("Enrichment Completed")
    expect(page.locator(".field-progress .readonly")).to_contain_text("3 of 3 rows (100.0%)")
    for name, value in {"credits_charged": "15", "credits_refunded": "10", "credits_net": "5"}.items():
        expect(page.locator(f".field-{name} .readonly")).to_have_text(value)
    fields = page.locator(".field-field_statistics table tbody tr")
    assert cells(fields.filter(has_text="contact_email")) == ["contact_email", "2", "1", "67%"]
    assert cells(fields.filter(has_text="contact_mobile_phone")) == ["contact_mobile_phone", "1", "2", "33%"]
    datacore = cells(page.locator(".field-stage_log_table table tbody tr").first)
    assert datacore[:6] == ["DataCore Lookup", "datacore", "done", "datacore", "", "2"]
    expect(page.locator("#webhook_deliveries-group")).to_contain_text("hooks.example.com")

    # The input is folded, and below everything else on the page.
    input_box, rows_box = page.locator("#job-input").bounding_box(), page.locator("#job-rows").bounding_box()
    assert input_box["y"] > rows_box["y"] > page.locator(".field-stage_log_table").bounding_box()["y"]
    assert page.locator("#job-input details").get_attribute("open") is None
    expect(page.locator("#job-input pre")).to_be_hidden()
    assert "JobRow object" not in page.content()
    visit.screenshot("admin-job-page")

    expect(page.locator("#job-rows table")).to_be_hidden()
    page.locator("#job-rows summary").click()
    rows = page.locator("#job-rows tbody tr")
    expect(rows).to_have_count(3)
    assert cells(rows.nth(1)) == [f"row 2 of job {str(finished_job.pk)[:8]}…", rows.nth(1).locator("td").nth(1)
                                  .inner_text(), "Partial", "job_title (datacore), contact_email (datacore)",
                                  "no_phone", "5", "5", "0"]
    page.locator("#job-input summary").click()
    expect(page.locator("#job-input pre")).to_contain_text('"first_name": "Jane", "last_name": "Doe"')
    visit.screenshot("admin-job-page-unfolded")

    page.locator("#job-ledger-link").click()
    entries = page.locator("#result_list tbody tr")
    expect(entries).to_have_count(3)
    assert sorted(page.locator("#result_list td.field-reason").all_inner_texts()) == ["no_phone", "not_found",
                                                                                       "submit"]
    visit.screenshot("admin-job-ledger")


def test_the_dashboard_is_one_click_from_the_index_and_draws_its_charts(visit, finished_job):
    page = visit.page
    visit.log_in()
    page.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(f"{visit.url}/admin/dashboard/")
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(4)
    jobs = charts.nth(0)
    expect(jobs).to_contain_text("Jobs submitted per day")
    expect(jobs.locator("rect.bar")).to_have_count(30)
    assert jobs.locator("rect.bar").last.bounding_box()["height"] > 50  # today: the only day with a job
    assert jobs.locator("rect.bar").first.bounding_box()["height"] == 0
    credits = charts.nth(2)
    expect(credits.locator("rect.bar")).to_have_count(60)  # charged and refunded, each day
    fill = charts.nth(3)
    expect(fill).to_contain_text("datacore")
    expect(fill).to_contain_text("55.6%")
    visit.screenshot("admin-dashboard")


def test_the_api_docs_render_with_nothing_reachable_but_this_service(visit):
    page = visit.page
    page.goto(f"{visit.url}/")
    page.get_by_role("link", name="API docs (Swagger UI)").click()
    expect(page.get_by_text("Submit an enrichment job")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Find a phone number (charged only when found)")).to_be_visible()
    visit.screenshot("api-docs-swagger-ui", full_page=False)

    page.goto(f"{visit.url}/api/redoc/")
    expect(page.get_by_role("heading", name="eCore Enrichment API")).to_be_visible(timeout=20_000)
    expect(page.get_by_role("heading", name="Submit an enrichment job")).to_be_visible()
    visit.screenshot("api-docs-redoc", full_page=False)
