from decimal import Decimal

DEFAULT_PRICES = {
    "standard_email_cost": ("2", "Contact row priced by email, Standard/Quick"),
    "pro_email_cost": ("4", "Contact row priced by email, Pro"),
    "standard_phone_cost": ("5", "Contact row priced by phone, Standard/Quick"),
    "pro_phone_cost": ("8", "Contact row priced by phone, Pro"),
    "account_standard_cost": ("1", "Account row (per returned contact with criteria.limit)"),
    "account_pro_cost": ("2", "Account row at Pro (not accepted on submit)"),
    "single_phone_cost": ("5", "Single phone enrichment, charged only when found"),
    "single_email_cost": ("2", "Single email enrichment, charged only when a deliverable email is found"),
    # Not a price but price configuration, edited with them.
    "repeat_free_days": ("30", "Days after a payment in which the same values of a person or company are "
                               "delivered again free (0: every delivery pays)"),
}


def create_missing_default_prices(price_model) -> None:
    """Creates the prices that do not exist yet; existing ones keep what operators set."""
    for name, (value, description) in DEFAULT_PRICES.items():
        price_model.objects.get_or_create(name=name, defaults={"value": Decimal(value), "description": description})
