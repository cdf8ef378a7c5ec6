from django.core.management.base import BaseCommand, CommandError

from pricing.services import plan_assign


class Command(BaseCommand):
    help = "Put USERNAME on a plan with the given records-per-submission limit."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--enrichment-limit", type=int, required=True)
        parser.add_argument("--rate-limit", type=int, default=None, help="single-record requests per second")

    def handle(self, *args, username, enrichment_limit, rate_limit, **options):
        if enrichment_limit < 1:
            raise CommandError("--enrichment-limit must be at least 1")
        subscription = plan_assign(username=username, enrichment_limit=enrichment_limit,
                                   rate_limit_per_second=rate_limit)
        self.stdout.write(f"{subscription.user.username}: {subscription.plan.name}")
