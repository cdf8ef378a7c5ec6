from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from wallet.services import wallet_topup


class Command(BaseCommand):
    help = "Add CREDITS to USERNAME's wallet as a top-up ledger entry; prints the new balance."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("credits")
        parser.add_argument("--note", default="top-up from the shell")

    def handle(self, *args, username, credits, note, **options):
        try:
            amount = Decimal(credits)
        except InvalidOperation:
            raise CommandError(f"{credits!r} is not a number") from None
        if not amount.is_finite() or amount <= 0:
            raise CommandError("CREDITS must be a positive number")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        entry = wallet_topup(user=user, amount=amount, note=note)
        self.stdout.write(f"{entry.balance_after.normalize():f}")
