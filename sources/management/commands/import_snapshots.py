import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from sources.loading.snapshots import SnapshotImportReport, import_snapshots, snapshots_from_datacore


class Command(BaseCommand):
    help = ("Import scraped LinkedIn profile snapshots from a CSV, Parquet or JSONL file, keeping the newest "
            "snapshot per profile. Bad rows are reported on stderr as 'line N: reason' and skipped; stdout gets "
            "one summary line. With --from-datacore, demo snapshots are generated from DataCore people first "
            "(written to FILE when given).")

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", metavar="FILE", help="snapshots file (.csv, .parquet or .jsonl)")
        parser.add_argument("--from-datacore", action="store_true",
                            help="generate demo snapshots from DataCore people with a LinkedIn URL, then import them")
        parser.add_argument("--share", type=float, default=0.3,
                            help="with --from-datacore: share of those people who get a snapshot (default 0.3)")
        parser.add_argument("--moved-share", type=float, default=0.1,
                            help="with --from-datacore: share of the snapshots at another company (default 0.1)")
        parser.add_argument("--seed", type=int, default=1, help="with --from-datacore: random seed (default 1)")
        parser.add_argument("--workers", type=int, default=None,
                            help="processes validating and normalizing rows (default: one per CPU)")

    def handle(self, *args, file=None, from_datacore=False, share=0.3, moved_share=0.1, seed=1, workers=None,
               **options):
        if not from_datacore:
            if not file:
                raise CommandError("give FILE, or --from-datacore")
            self._import(Path(file), workers)
            return
        if not (0 <= share <= 1 and 0 <= moved_share <= 1):
            raise CommandError("--share and --moved-share are fractions between 0 and 1")
        with tempfile.TemporaryDirectory() as scratch:
            path = snapshots_from_datacore(path=Path(file) if file else Path(scratch) / "snapshots.parquet",
                                           share=share, moved_share=moved_share, seed=seed)
            self.stderr.write(f"snapshots generated from DataCore: {path}")
            self._import(path, workers)

    def _import(self, path: Path, workers: int | None):
        printer = _IssuePrinter(self.stderr)
        try:
            report = import_snapshots(path, progress=printer.progress, workers=workers)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        printer.issues(report)
        self.stdout.write(report.summary())


class _IssuePrinter:
    """Writes each chunk's rejected rows and a progress line to stderr as chunks complete."""

    def __init__(self, stderr):
        self.stderr = stderr
        self.shown = 0
        self.started = False

    def progress(self, report: SnapshotImportReport):
        self.issues(report)
        self.stderr.write(f"snapshots: {report.rows:,} rows read, {report.rows_per_second:,.0f} rows/s")

    def issues(self, report: SnapshotImportReport):
        if not self.started and report.ignored_columns:
            self.stderr.write(f"snapshots: ignoring unknown columns {', '.join(report.ignored_columns)}")
        self.started = True
        for issue in report.rejected[self.shown:]:
            self.stderr.write(str(issue))
        self.shown = len(report.rejected)
