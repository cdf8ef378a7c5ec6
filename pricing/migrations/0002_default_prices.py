from decimal import Decimal

from django.db import migrations

DEFAULT_PRICES = {
    "standard_email_cost": ("2", "Contact row priced by email, Standard/Quick"),
    "pro_email_cost": ("4", "Contact row priced by email, Pro"),
    "standard_phone_cost": ("5", "Contact row priced by phone, Standard/Quick"),
    "pro_phone_cost": ("8", "Contact row priced by phone, Pro"),
    "account_standard_cost": ("1", "Account row (per returned contact with criteria.limit)"),
    "account_pro_cost": ("2", "Account row at Pro (not accepted on submit)"),
    "single_phone_cost": ("5", "Single phone enrichment, charged only when found"),
    "single_email_cost": ("2", "Single email enrichment, charged only when a deliverable email is found"),
}


def create_default_prices(apps, schema_editor):
    Price = apps.get_model("pricing", "Price")
    for name, (value, description) in DEFAULT_PRICES.items():
        Price.objects.get_or_create(name=name, defaults={"value": Decimal(value), "description": description})


class Migration(migrations.Migration):
    dependencies = [("pricing", "0001_initial")]
    operations = [migrations.RunPython(create_default_prices, migrations.RunPython.noop)]
