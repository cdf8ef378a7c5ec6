from django.core.management.base import BaseCommand

from tokens.models import ApiToken
from tokens.services import api_token_create_for_username


class Command(BaseCommand):
    help = "Create an API token for USERNAME (creating the user if needed) and print it alone on stdout."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--test", action="store_true", help="issue a test token with a daily quota")
        parser.add_argument("--daily-limit", type=int, default=None, help="requests per UTC day (test tokens)")

    def handle(self, *args, username, test, daily_limit, **options):
        kind = ApiToken.Kind.TEST if test else ApiToken.Kind.LIVE
        issued = api_token_create_for_username(username=username, kind=kind, daily_limit=daily_limit)
        self.stdout.write(issued.plaintext)
