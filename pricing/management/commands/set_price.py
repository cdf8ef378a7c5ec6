from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from pricing.services import price_set


class Command(BaseCommand):
    help = "Set a named price in credits, e.g. `set_price standard_email_cost 2.5`."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("value")

    def handle(self, *args, name, value, **options):
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise CommandError(f"{value!r} is not a number") from None
        if amount < 0 or not amount.is_finite():
            raise CommandError("a price must be a finite number of at least 0")
        price = price_set(name=name, value=amount)
        self.stdout.write(f"{price.name}={price.value.normalize():f}")
