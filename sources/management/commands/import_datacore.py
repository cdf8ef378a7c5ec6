from django.core.management.base import BaseCommand, CommandError

from sources.loading.datacore import ImportReport, import_companies, import_people


class Command(BaseCommand):
    help = ("Upsert DataCore companies and/or people from CSV or Parquet files whose columns are the seed's "
            "field names. Bad rows are reported on stderr as 'line N: reason' and skipped, with progress after "
            "every chunk; stdout gets only one summary line per file.")

    def add_arguments(self, parser):
        parser.add_argument("--companies", metavar="FILE", help="companies file (.csv or .parquet)")
        parser.add_argument("--people", metavar="FILE", help="people file (.csv or .parquet)")
        parser.add_argument("--workers", type=int, default=None,
                            help="processes validating and normalizing rows (default: one per CPU)")

    def handle(self, *args, companies=None, people=None, workers=None, **options):
        if not companies and not people:
            raise CommandError("give --companies FILE, --people FILE, or both")
        summaries = []
        # Companies first, so that this run's people can be linked to them.
        for path, run in ((companies, import_companies), (people, import_people)):
            if path:
                printer = _IssuePrinter(self.stderr)
                try:
                    report = run(path, progress=printer.progress, workers=workers)
                except (OSError, ValueError) as error:
                    raise CommandError(str(error)) from error
                printer.issues(report)
                summaries.append(report.summary())
        for summary in summaries:
            self.stdout.write(summary)


class _IssuePrinter:
    """Writes each report's new issues and a progress line to stderr as chunks complete."""

    def __init__(self, stderr):
        self.stderr = stderr
        self.rejected_shown = self.notes_shown = 0
        self.started = False

    def progress(self, report: ImportReport):
        self.issues(report)
        self.stderr.write(f"{report.kind}: {report.rows:,} rows read, {report.rows_per_second:,.0f} rows/s")

    def issues(self, report: ImportReport):
        if not self.started and report.ignored_columns:
            self.stderr.write(f"{report.kind}: ignoring unknown columns {', '.join(report.ignored_columns)}")
        self.started = True
        for issue in report.rejected[self.rejected_shown:]:
            self.stderr.write(str(issue))
        for issue in report.notes[self.notes_shown:]:
            self.stderr.write(str(issue))
        self.rejected_shown, self.notes_shown = len(report.rejected), len(report.notes)
