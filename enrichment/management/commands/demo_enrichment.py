from django.core.management.base import BaseCommand, CommandError

from enrichment.demo import demo_run


class Command(BaseCommand):
    help = "Submit a demo file built from DataCore to a running service and print a summary of the results."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--token", required=True)
        parser.add_argument("--rows", type=int, default=200)

    def handle(self, *args, base_url, token, rows, **options):
        status = demo_run(base_url=base_url, token=token, rows=rows, out=self.stdout.write)
        if status["status"] != "Enrichment Completed":
            raise CommandError(f"the demo job ended as {status['status']}")
