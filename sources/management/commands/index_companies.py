from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from meilisearch.errors import MeilisearchError

from sources.company_search import IndexingFailed, company_index_rebuild, meilisearch_client


class Command(BaseCommand):
    help = ("Push every DataCore company to the Meilisearch index used for company-name search (MEILISEARCH_URL, "
            "MEILISEARCH_INDEX), configure its searchable attributes, and wait until Meilisearch has indexed "
            "them. Prints the number of companies indexed.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000, help="documents per request (default 5000)")
        parser.add_argument("--wait-seconds", type=float, default=600.0,
                            help="how long to wait for Meilisearch to index everything (default 600)")

    def handle(self, *args, batch_size=5000, wait_seconds=600.0, **options):
        if not settings.MEILISEARCH_URL:
            raise CommandError("MEILISEARCH_URL is not set")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            count = company_index_rebuild(client=meilisearch_client(), index=settings.MEILISEARCH_INDEX,
                                          batch_size=batch_size, wait_seconds=wait_seconds)
        except (MeilisearchError, IndexingFailed) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} companies indexed into '{settings.MEILISEARCH_INDEX}'")
