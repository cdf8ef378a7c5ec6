import time

from django.core.management.base import BaseCommand, CommandError

from sources.loading.demo_data import generate_demo_data


class Command(BaseCommand):
    help = ("Write realistic, reproducible DataCore demo files DIR/companies.<fmt> and DIR/people.<fmt> "
            "in the format import_datacore reads (real GLEIF company names, synthetic everything else).")

    def add_arguments(self, parser):
        parser.add_argument("--companies", type=int, required=True, metavar="N")
        parser.add_argument("--people", type=int, required=True, metavar="M")
        parser.add_argument("--out", required=True, metavar="DIR")
        parser.add_argument("--seed", type=int, default=0, help="same seed, same files (default 0)")
        parser.add_argument("--format", dest="file_format", choices=("csv", "parquet"), default="csv")

    def handle(self, *args, companies, people, out, seed, file_format, **options):
        if companies < 1 or people < 0:
            raise CommandError("--companies must be at least 1 and --people at least 0")
        started = time.monotonic()
        try:
            paths = generate_demo_data(out, companies=companies, people=people, seed=seed, file_format=file_format)
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stderr.write(f"generated in {time.monotonic() - started:.1f}s")
        for path in paths:
            self.stdout.write(str(path))
