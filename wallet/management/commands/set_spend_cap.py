from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tokens.services import TOKEN_PREFIXES, api_token_by_prefix
from wallet.models import SpendCap
from wallet.services import spend_cap_set


class Command(BaseCommand):
    help = ("Set a daily or monthly credit cap for a user (everything they spend) or for one token (what its "
            "requests spend), e.g. `set_spend_cap --user alice daily 100`; `none` removes it. Prints the cap.")

    def add_arguments(self, parser):
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--user", metavar="USERNAME")
        scope.add_argument("--token", metavar="TOKEN_PREFIX",
                           help="the token, or its first characters as admin shows them (eck_live_XXXXXXXXXXXX)")
        parser.add_argument("period", choices=SpendCap.Period.values)
        parser.add_argument("limit", help="credits per period, or `none`")

    def handle(self, *args, user, token, period, limit, **options):
        credits = None if limit.lower() == "none" else _credits(limit)
        if user is not None:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"no user named {user!r}")
            cap = spend_cap_set(user=owner, period=period, limit=credits)
            name = f"user_{period} for {owner.username}"
        else:
            api_token = api_token_by_prefix(token)
            if api_token is None:
                raise CommandError(f"no token starting {token!r} (expected {' or '.join(TOKEN_PREFIXES.values())}…)")
            cap = spend_cap_set(token=api_token, period=period, limit=credits)
            name = f"token_{period} for {api_token.display_prefix}"
        self.stdout.write(f"{name}: {cap.limit.normalize():f}" if cap else f"{name}: none")


def _credits(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise CommandError("a cap must be a finite number of at least 0 credits")
    return amount
