"""The operators' admin: Django's, with a dashboard of the last 30 days linked from its index."""

from datetime import UTC, datetime, time, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from ecore.charts import Series, bar_chart, column_chart
from enrichment.selectors import fill_rate_by_source, jobs_per_day
from wallet.selectors import credits_per_day

DASHBOARD_DAYS = 30


class EcoreAdminSite(admin.AdminSite):
    site_header = "eCore operations"
    site_title = "eCore admin"
    index_template = "admin/ecore/index.html"

    def get_urls(self):
        return [path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"), *super().get_urls()]

    def dashboard_view(self, request):
        if not (request.user.has_perm("enrichment.view_job") and request.user.has_perm("wallet.view_ledgerentry")):
            raise PermissionDenied
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=back) for back in range(DASHBOARD_DAYS - 1, -1, -1)]
        context = {**self.each_context(request), "title": f"Dashboard: the last {DASHBOARD_DAYS} days",
                   "charts": dashboard_charts(days=days)}
        return TemplateResponse(request, "admin/ecore/dashboard.html", context)


def dashboard_charts(*, days: list) -> list:
    """Jobs, rows and credits per day and fill rate by source, for the UTC days given (oldest first):
    three queries, each aggregated in the database."""
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    labels = [day.strftime("%m-%d") for day in days]
    jobs = jobs_per_day(since=since)
    credits = credits_per_day(since=since)
    sources = fill_rate_by_source(since=since)

    def values(table: dict, key: str) -> list[float]:
        return [float(table.get(day, {}).get(key, 0)) for day in days]

    return [
        column_chart(title="Jobs submitted per day", labels=labels, unit="jobs",
                     series=[Series("jobs", values(jobs, "jobs"), "#417690")]),
        column_chart(title="Rows submitted per day", labels=labels, unit="rows",
                     series=[Series("rows", values(jobs, "rows"), "#79aec8")]),
        column_chart(title="Credits per day", labels=labels, unit="credits",
                     series=[Series("charged", values(credits, "charged"), "#ba2121"),
                             Series("refunded", values(credits, "refunded"), "#70bf2b")]),
        bar_chart(title="Fill rate by source (share of requested values each source filled)",
                  empty=f"No rows enriched in the last {len(days)} days.",
                  items=[(source["source"], source["rate"],
                          f"{source['source']}: {source['filled']:,} of {source['requested']:,} values")
                         for source in sources]),
    ]
