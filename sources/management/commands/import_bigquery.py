from django.core.management.base import BaseCommand, CommandError

from sources import bigquery
from sources.loading import bigquery as loading


class Command(BaseCommand):
    help = ("Load the BigQuery contact dataset: a people file (DataCore's people columns) into the contacts "
            "table and/or a phones file into the phones table, creating the dataset and tables when missing. "
            "Each file is staged and MERGEd on the person key, so re-running updates rows in place. "
            "--from-datacore N exports the first N DataCore people instead, with fictional phones for those "
            "DataCore has none for. Skipped lines go to stderr, one summary line per table to stdout.")

    def add_arguments(self, parser):
        parser.add_argument("--people", metavar="FILE", help="people file (.csv or .parquet)")
        parser.add_argument("--phones", metavar="FILE", help="phones file (.csv or .parquet): person identifiers, "
                                                             "contact_mobile_phone, contact_direct_phone, last_seen_at")
        parser.add_argument("--from-datacore", metavar="N", type=int, dest="from_datacore",
                            help="export the first N DataCore people (by id) as the dataset")

    def handle(self, *args, people=None, phones=None, from_datacore=None, **options):
        if reason := bigquery.unconfigured_reason():
            raise CommandError(f"{reason}: set BIGQUERY_EMULATOR_HOST, or BIGQUERY_ENABLED=true "
                               "with Application Default Credentials")
        if not (people or phones or from_datacore):
            raise CommandError("give --people FILE, --phones FILE, or --from-datacore N")
        if from_datacore is not None and (people or phones):
            raise CommandError("--from-datacore replaces --people/--phones; give one or the other")
        if from_datacore is not None and from_datacore < 1:
            raise CommandError("--from-datacore needs a positive number of people")
        try:
            if from_datacore:
                reports = list(loading.export_datacore_slice(from_datacore))
            else:
                reports = [run(path) for path, run in ((people, loading.import_contacts),
                                                       (phones, loading.import_phones)) if path]
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        for report in reports:
            for issue in report.skipped:
                self.stderr.write(f"{report.table}: {issue}")
        for report in reports:
            self.stdout.write(report.summary())
